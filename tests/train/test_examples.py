"""The example configs do what their comments promise, on the real datasets in ../shared/data."""
import pytest

from shendu.train import train
from tests.conftest import REPO


@pytest.mark.slow
def test_mnist_lenet_reaches_98_5_percent_in_3_epochs(shared_data):
    result = train(REPO / "examples" / "mnist-lenet.yaml", progress=False)
    assert result.metrics["test_accuracy"] >= 0.985


@pytest.mark.slow
def test_fashion_mlp_trains(shared_data):
    result = train(REPO / "examples" / "fashion-mlp.yaml", progress=False, train__epochs=2)
    assert result.metrics["test_accuracy"] >= 0.83  # 2 of the example's 10 epochs
