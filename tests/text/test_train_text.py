"""Text runs end to end: a small TextCNN trained on a JSON-lines file, its package predicting identically after
reload (from strings or token ids), `shendu predict --text`, word2vec wiring, and the settings text runs refuse."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from shendu.cli import main
from shendu.data import load_dataset
from shendu.errors import BadInputError
from shendu.hub import load_package
from shendu.text import Vocab, train_word2vec
from shendu.track import open_store
from shendu.train import train

POSITIVE = ["很好", "干净", "安静", "热情", "方便", "舒服", "推荐"]
NEGATIVE = ["很差", "太吵", "很脏", "冷漠", "失望", "难吃", "不推荐"]
TOPICS = ["房间", "服务", "早餐", "位置", "前台", "酒店", "价格"]


def _reviews(n: int, seed: int) -> list[dict]:
    """Short Chinese reviews whose label is carried by one or two sentiment words (10% of them flipped)."""
    rng = random.Random(seed)
    records = []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = POSITIVE if label else NEGATIVE
        text = "，".join(f"{rng.choice(TOPICS)}{rng.choice(words)}" for _ in range(rng.randint(1, 3)))
        records.append({"text": text, "label": ("pos" if label else "neg") if rng.random() > 0.1 else
                        ("neg" if label else "pos")})
    return records


def config(path: Path, **text) -> dict:
    return {"data": {"name": "jsonl", "path": str(path), "text": {"tokenizer": "jieba", "max_len": 16, **text}},
            "model": {"name": "textcnn", "args": {"embed_dim": 16, "maps": 8, "widths": [2, 3]}},
            "optim": {"name": "adam", "lr": 0.01}, "train": {"epochs": 4, "batch_size": 32},
            "track": {"tensorboard": False}}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One trained run shared by the tests below (its own SHENDU_HOME; the package is read by path)."""
    root = tmp_path_factory.mktemp("text_run")
    data = root / "reviews.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in _reviews(400, 0)), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHENDU_HOME", str(root / "home"))
        result = train(config(data), progress=False)
        record = open_store().get_run(result.run_id)
    return {"result": result, "data": data, "notes": record.notes}


def test_the_run_learns_and_reports_the_baseline_next_to_it(run):
    metrics = run["result"].metrics
    assert run["result"].status == "completed"
    assert metrics["test_accuracy"] >= 0.8 and metrics["baseline_test_accuracy"] >= 0.8  # labels are 10% noisy
    assert {"baseline_val_accuracy", "baseline_c"} <= set(metrics)
    assert any(note.startswith("text: jieba tokenizer, lowercased; vocabulary") for note in run["notes"])


def test_the_package_carries_a_vocabulary_fitted_on_the_training_split_only(run):
    predictor = load_package(run["result"].package)
    meta = predictor.meta
    assert meta["preprocessing"]["kind"] == "text"
    assert meta["model"]["args"]["vocab_size"] == len(predictor.text_pipeline.vocab)
    train_split = load_dataset("jsonl", "train", path=run["data"])
    pipeline = predictor.text_pipeline
    assert pipeline.vocab == Vocab.build(pipeline.tokenize_all(train_split.texts))


def test_the_package_predicts_identically_after_reload(run):
    """Test accuracy recomputed from the reloaded package equals the one the trainer measured in memory."""
    predictor = load_package(run["result"].package)
    test = load_dataset("jsonl", "test", path=run["data"])
    metrics = predictor.evaluate(test.texts, test.y)
    assert metrics["test_accuracy"] == run["result"].metrics["test_accuracy"]
    assert metrics["test_loss"] == pytest.approx(run["result"].metrics["test_loss"], abs=1e-6)
    again = load_package(run["result"].package).predict(test.texts)
    first = predictor.predict(test.texts)
    np.testing.assert_array_equal(first.probabilities, again.probabilities)
    by_ids = predictor.predict(predictor.encode(test.texts))  # token ids keep working
    np.testing.assert_allclose(by_ids.probabilities, first.probabilities, atol=1e-6, rtol=0)
    one = predictor.predict(test.texts[0])  # a single string, padded alone: the same answer as in a batch
    np.testing.assert_allclose(one.probabilities[0], first.probabilities[0], atol=1e-6, rtol=0)
    assert predictor.features(test.texts[:3]).shape == (3, 16)  # the classifier's input: 2 widths × 8 maps


def test_shendu_predict_text_and_text_file(run, tmp_path, capsys):
    package = run["result"].package
    texts = ["房间很干净，服务热情", "前台冷漠，房间很脏"]
    assert main(["predict", package, "--text", texts[0], "--text", texts[1], "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["predictions"]
    expected = load_package(package).predict(texts)
    assert [r["text"] for r in rows] == texts and [r["label"] for r in rows] == expected.labels == ["pos", "neg"]
    lines = tmp_path / "posts.txt"
    lines.write_text(f"{texts[0]}\n\n{texts[1]}\n", encoding="utf-8")
    assert main(["predict", package, "--text-file", str(lines), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["predictions"] == rows
    assert main(["predict", package]) == 2
    assert "Nothing to classify" in capsys.readouterr().err


def test_word2vec_vectors_start_the_static_embedding(tmp_path):
    data = tmp_path / "reviews.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in _reviews(200, 1)), encoding="utf-8")
    cfg = config(data, word2vec={"enabled": True, "epochs": 2}, baseline=False)
    cfg["model"]["args"]["freeze_embedding"] = True
    cfg["train"]["epochs"] = 1
    result = train(cfg, progress=False)
    predictor = load_package(result.package)
    pipeline = predictor.text_pipeline
    tokens = pipeline.tokenize_all(load_dataset("jsonl", "train", path=data).texts)
    vectors, found = train_word2vec(tokens, pipeline.vocab, 16, epochs=2, seed=0)  # what the trainer should do
    weight = predictor.model.embedding.weight.detach()
    torch.testing.assert_close(weight[torch.from_numpy(found)], torch.from_numpy(vectors[found]), atol=0, rtol=0)
    assert "baseline_test_accuracy" not in result.metrics
    notes = open_store().get_run(result.run_id).notes
    assert any("word2vec:" in n and "embedding static (frozen)" in n for n in notes)


@pytest.mark.parametrize(("change", "message"), [
    ({"model": {"name": "textcnn", "args": {"vocab_size": 5}}}, "model.args.vocab_size is 5, but the vocabulary"),
    ({"augment": {"flip": True}}, "augment.* and regularize.noise_input act on image pixels"),
])
def test_settings_that_do_not_fit_a_text_run_are_refused(tmp_path, change, message):
    data = tmp_path / "reviews.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in _reviews(60, 2)), encoding="utf-8")
    cfg = {**config(data), **change}
    with pytest.raises(BadInputError, match=message):
        train(cfg, progress=False)
