"""The text example configs train on the real corpora of ../shared/data (an epoch or two: a check that they work
and learn, not their result — bench/bench_text.py measures that), and their packages read raw sentences."""
from __future__ import annotations

import pytest

from shendu.hub import load_package
from shendu.train import train
from tests.conftest import REPO


@pytest.mark.slow
def test_chnsenticorp_textcnn_learns_in_two_epochs_and_reads_sentences(shared_data):
    result = train(REPO / "examples" / "chnsenticorp-textcnn.yaml", progress=False, train__epochs=2)
    # 68.5% of the reviews are positive: a model that learned nothing scores that
    assert result.metrics["test_accuracy"] >= 0.83 and result.metrics["baseline_test_accuracy"] >= 0.85
    predictor = load_package(result.package)
    prediction = predictor.predict(["房间很干净，服务热情，早餐丰富，下次还会再来", "房间又脏又吵，前台态度恶劣，再也不来了"])
    assert prediction.labels == ["positive", "negative"]


@pytest.mark.slow
def test_thucnews_trains_on_dev_and_tests_on_test(shared_data):
    result = train(REPO / "examples" / "thucnews-textcnn.yaml", progress=False, train__epochs=1)
    assert result.metrics["test_accuracy"] >= 0.6  # 10 topics: chance is 0.1
    meta = load_package(result.package).meta
    assert meta["dataset"]["split"]["train_split"] == "dev" and meta["dataset"]["split"]["counts"]["test"] == 10_000
    assert any("trained on the official dev split" in note for note in meta["dataset"]["notes"])
