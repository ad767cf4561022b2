"""`Predictor.features`: a layer's activations as (N, D) arrays for scikit-learn, for any package."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shendu.data import load_dataset
from shendu.errors import BadInputError
from shendu.hub import load_package, save_package
from shendu.models import create_model
from shendu.train import train
from shendu.train._preprocess import Preprocessing

# (model name, builder args, input shape C×H×W) — an MLP, a CNN, a residual network with batch norm.
IMAGE_MODELS = [("mlp", {"hidden": 32, "depth": 2}, (1, 8, 8)), ("lenet5", {}, (1, 8, 8)),
                ("resnet20", {}, (3, 32, 32))]


def image_package(path: Path, name: str, args: dict, shape: tuple[int, int, int]) -> Path:
    torch.manual_seed(0)
    channels, size, _ = shape
    model = create_model(name, num_classes=10, in_channels=channels, input_size=size, **args)
    prep = Preprocessing(mean=(0.5,) * channels, std=(0.25,) * channels, input_shape=shape)
    return save_package(path, model, model_name=name, model_args=args, num_classes=10, in_channels=channels,
                        input_size=size, preprocessing=prep, classes=[str(i) for i in range(10)], metrics={},
                        config={})


def _images(shape: tuple[int, ...], n: int = 10) -> torch.Tensor:
    return torch.randint(0, 256, (n, *shape), generator=torch.Generator().manual_seed(2), dtype=torch.uint8)


def _classifier_input(predictor, x: torch.Tensor) -> torch.Tensor:
    """Independent reference: the classifier's input captured by hand with torch's own hook."""
    classifier = dict(predictor.model.named_modules())[predictor.classifier_layer()]
    seen: list[torch.Tensor] = []
    handle = classifier.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    with torch.no_grad():
        predictor.model(predictor.preprocessing(x))
    handle.remove()
    return seen[0].flatten(1)


@pytest.mark.parametrize("name, args, shape", IMAGE_MODELS, ids=[m[0] for m in IMAGE_MODELS])
def test_default_layer_is_the_classifier_input(tmp_path, name, args, shape):
    predictor = load_package(image_package(tmp_path / name, name, args, shape))
    x = _images(shape)
    features = predictor.features(x)
    classifier = dict(predictor.model.named_modules())[predictor.classifier_layer()]
    assert isinstance(classifier, torch.nn.Linear) and classifier.out_features == 10
    assert features.shape == (10, classifier.in_features) and features.dtype == np.float32
    np.testing.assert_allclose(features, _classifier_input(predictor, x).numpy(), atol=1e-6, rtol=1e-5)
    # batching does not change the answer (eval mode: batch norm uses its running statistics)
    np.testing.assert_allclose(predictor.features(x, batch_size=3), features, atol=1e-5, rtol=1e-5)


def test_named_layer_matches_a_manual_forward(tmp_path):
    predictor = load_package(image_package(tmp_path / "lenet", "lenet5", {}, (1, 8, 8)))
    x = _images((1, 8, 8))
    with torch.no_grad():
        conv = predictor.model.features(predictor.preprocessing(x)).flatten(1)  # (N, 16·2·2)
        c5 = predictor.model.classifier[0](conv)  # (N, 120)
    np.testing.assert_allclose(predictor.features(x, layer="features"), conv.numpy(), atol=1e-6, rtol=1e-5)
    np.testing.assert_allclose(predictor.features(x, layer="classifier.0"), c5.numpy(), atol=1e-6, rtol=1e-5)
    assert predictor.features(x[0, 0]).shape == (1, 84)  # one (H, W) image, as predict takes it


def test_text_package_takes_tokens(tmp_path):
    torch.manual_seed(0)
    args = {"vocab_size": 50, "embed_dim": 16, "maps": 4}
    model = create_model("textcnn", num_classes=2, **args)
    path = save_package(tmp_path / "text", model, model_name="textcnn", model_args=args, num_classes=2,
                        in_channels=1, input_size=1, preprocessing=Preprocessing((0.0,), (1.0,), (1, 1, 1)),
                        classes=["neg", "pos"], metrics={}, config={})
    predictor = load_package(path)
    tokens = torch.randint(1, 50, (6, 9), generator=torch.Generator().manual_seed(3))
    features = predictor.features(tokens)
    assert features.shape == (6, model.fc.in_features) == (6, 12)  # 3 widths × 4 maps
    with torch.no_grad():
        reference = predictor.model.conv(predictor.model.embedding(tokens), (tokens != 0).sum(dim=1))
    np.testing.assert_allclose(features, reference.numpy(), atol=1e-6, rtol=1e-5)
    assert predictor.predict(tokens).probabilities.shape == (6, 2)
    with pytest.raises(BadInputError, match=r"takes integer token ids shaped \(N, L\)"):
        predictor.features(np.zeros((2, 3), dtype=np.float32))


def test_bad_layer_and_batch_size(tmp_path):
    predictor = load_package(image_package(tmp_path / "lenet", "lenet5", {}, (1, 8, 8)))
    x = _images((1, 8, 8))
    with pytest.raises(BadInputError, match=r"lenet5 has no layer 'clasifier\.2' — did you mean 'classifier\.2'"):
        predictor.features(x, layer="clasifier.2")
    with pytest.raises(BadInputError, match="batch_size must be a positive integer, received 0"):
        predictor.features(x, batch_size=0)
    with pytest.raises(BadInputError, match=r"expected images of shape \(1, 8, 8\)"):
        predictor.features(np.zeros((2, 1, 28, 28), dtype=np.uint8))


def test_trained_lenet_features_feed_logistic_regression():
    """Penultimate features of a LeNet-5 trained for a few epochs on digits, classified by scikit-learn.
    Measured here: 0.978 test accuracy (the network's own after 2 epochs: 0.928; raw pixels: 0.972)."""
    config = {"data": {"name": "digits"}, "model": {"name": "lenet5", "args": {"activation": "relu", "pool": "max"}},
              "optim": {"lr": 0.003}, "train": {"epochs": 2, "batch_size": 32, "seed": 0}}
    predictor = load_package(train(config, progress=False).package)
    train_split, test_split = load_dataset("digits", "train"), load_dataset("digits", "test")
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    classifier.fit(predictor.features(train_split.x), train_split.y.numpy())
    accuracy = classifier.score(predictor.features(test_split.x), test_split.y.numpy())
    network = predictor.meta["metrics"]["test_accuracy"]["final"]
    assert accuracy >= 0.93 and accuracy >= network - 0.03, (accuracy, network)
