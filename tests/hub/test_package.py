"""Packages: safetensors + JSON round trip, predictions from arrays and image files, clear errors."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from shendu.data import load_dataset
from shendu.errors import BadInputError, PackageError
from shendu.hub import load_package
from shendu.train import train

QUICK = {"data": {"name": "digits"}, "model": {"name": "mlp", "args": {"hidden": 32, "depth": 1}},
         "train": {"epochs": 2, "batch_size": 64}}


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHENDU_HOME", str(tmp_path_factory.mktemp("pkg_home")))
        yield train(QUICK, progress=False).package


def test_package_contents(package):
    meta = json.loads(open(f"{package}/shendu.json", encoding="utf-8").read())
    assert meta["model"] == {"name": "mlp", "args": {"hidden": 32, "depth": 1}, "num_classes": 10,
                             "in_channels": 1, "input_size": 8}
    assert meta["classes"] == [str(i) for i in range(10)]
    assert set(meta["preprocessing"]) >= {"mean", "std", "input_shape"}
    assert "test_accuracy" in meta["metrics"] and meta["config"]["model"]["name"] == "mlp"
    assert meta["provenance"]["torch"] == torch.__version__


def test_predictions_match_evaluation(package):
    predictor = load_package(package)
    test = load_dataset("digits", "test")
    prediction = predictor.predict(test.x)
    accuracy = (torch.as_tensor(prediction.indices) == test.y).sum().item() / len(test)
    assert accuracy == pytest.approx(predictor.meta["metrics"]["test_accuracy"]["final"], abs=1e-9)
    assert prediction.probabilities.shape == (len(test), 10)
    np.testing.assert_allclose(prediction.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    single = predictor.predict(test.x[0, 0])  # one (H, W) image
    assert single.labels == prediction.labels[:1]


def test_predict_from_image_file(package, tmp_path):
    test = load_dataset("digits", "test")
    path = tmp_path / "digit.png"
    Image.fromarray(test.x[0, 0].numpy(), mode="L").save(path)
    predictor = load_package(package)
    assert predictor.predict([str(path)]).labels == predictor.predict(test.x[:1]).labels


def test_bad_inputs(package, tmp_path):
    predictor = load_package(package)
    with pytest.raises(BadInputError, match=r"expected images of shape \(1, 8, 8\).*received \(2, 1, 28, 28\)"):
        predictor.predict(np.zeros((2, 1, 28, 28), dtype=np.uint8))
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(BadInputError, match="cannot read image"):
        predictor.predict([str(tmp_path / "notes.png")])
    with pytest.raises(PackageError, match="no model package at"):
        load_package(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "shendu.json").write_text("{}")
    with pytest.raises(PackageError, match="model.safetensors is missing"):
        load_package(broken)
