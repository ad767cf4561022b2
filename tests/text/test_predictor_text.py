"""Predictor on text packages without training: strings vs token ids, padding-invariance across batches,
and what packages that cannot read strings say."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from shendu.errors import BadInputError
from shendu.hub import load_package, save_package
from shendu.models import create_model
from shendu.text import TextPipeline
from shendu.train._preprocess import Preprocessing

REVIEWS = ["这家酒店很好", "房间太小了，隔音很差", "服务很好，早餐也不错", "再也不来了"]


def _package(path, model_name: str = "textcnn", pipeline: TextPipeline | None = None, **extra):
    vocab_size = pipeline.vocab_size if pipeline else 50
    args = {"vocab_size": vocab_size, "embed_dim": 8, **extra}
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=2, **args)
    prep = pipeline or Preprocessing((0.5,), (0.25,), (1, 16, 16))
    return save_package(path, model, model_name=model_name, model_args=args, num_classes=2, in_channels=1,
                        input_size=16, preprocessing=prep, classes=["neg", "pos"], metrics={}, config={})


@pytest.mark.parametrize(("model_name", "extra"), [("textcnn", {"maps": 4}), ("bilstm_classifier", {"hidden": 6})])
def test_strings_token_ids_and_batches_agree(tmp_path, model_name, extra):
    pipeline = TextPipeline.fit(REVIEWS, tokenizer="jieba", max_len=12)
    predictor = load_package(_package(tmp_path / model_name, model_name, pipeline, **extra))
    batch = predictor.predict(REVIEWS)
    ids = pipeline.encode(REVIEWS)
    np.testing.assert_allclose(predictor.predict(ids).probabilities, batch.probabilities, atol=1e-6, rtol=0)
    for i, text in enumerate(REVIEWS):  # alone (less padding) or in a batch: the same answer
        np.testing.assert_allclose(predictor.predict(text).probabilities[0], batch.probabilities[i], atol=1e-6)
    small = predictor.predict(REVIEWS, batch_size=3)  # chunks padded to different lengths
    np.testing.assert_allclose(small.probabilities, batch.probabilities, atol=1e-6, rtol=0)
    assert predictor.predict(np.array(REVIEWS)).labels == batch.labels
    assert predictor.input_shape == (12,) and predictor.modality == "text"


def test_packages_that_cannot_read_strings_say_why(tmp_path):
    old = load_package(_package(tmp_path / "old", maps=4))  # a text model saved with pixel preprocessing
    assert old.predict(torch.ones(2, 5, dtype=torch.long)).probabilities.shape == (2, 2)
    with pytest.raises(BadInputError, match="text package without a tokenizer .* takes \\(N, L\\) integer token ids"):
        old.predict(["很好"])
    with pytest.raises(BadInputError, match="received no texts"):
        load_package(_package(tmp_path / "new", pipeline=TextPipeline.fit(REVIEWS, tokenizer="char"),
                              maps=4)).predict([])
