"""Sentiment scorers: anything with `score(texts) -> P(negative)` can drive the monitor.

Two implementations:
- `PackageScorer`: a trained shendu text package (`shendu.load_package(path).predict(texts)`), e.g. the
  default Chinese sentiment package `shendu opinion train` builds (TextCNN over jieba words).
- `LinearSentiment`: the TF-IDF + logistic-regression baseline (scikit-learn fits it; inference is a
  sparse product in NumPy). Features are lowercased jieba words and word bigrams (bigrams keep 不 好 /
  不 错 apart), sublinear TF, IDF, L2 norm — sklearn's `TfidfVectorizer` semantics, checked against it in
  the tests. Saved as `sentiment.safetensors` (idf, coef, intercept) + `sentiment.json` (vocabulary,
  classes, metrics, provenance): no pickle.

`load_scorer(spec)` picks one: "default" (the package if `shendu opinion train` built it, else the
baseline it also builds), "baseline", or a path to either kind of directory.
"""
from __future__ import annotations

import json
import platform
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from shendu import _settings
from shendu._version import __version__
from shendu.errors import BadInputError, PackageError
from shendu.opinion._text import tokenize

FORMAT = "shendu.opinion.linear/1"
WEIGHTS, META = "sentiment.safetensors", "sentiment.json"
PACKAGE_DIR, BASELINE_DIR = "opinion-sentiment", "opinion-baseline"  # under SHENDU_HOME/packages
NEGATIVE_NAMES = ("negative", "neg", "0", "负面", "消极", "差评")
CLASSES = ["negative", "positive"]


@runtime_checkable
class SentimentScorer(Protocol):
    """What the monitor needs from a sentiment model.

    `score(texts, words)` returns P(negative) for each text as a float array (N,). `words`, when the caller
    has them, are the jieba words (precise mode, HMM, default dictionary) of each text lowercased; a scorer
    that tokenizes differently ignores them.
    """

    name: str

    def score(self, texts: Sequence[str], words: Sequence[Sequence[str]] | None = None) -> np.ndarray: ...


def _words(texts: Sequence[str]) -> list[list[str]]:
    """jieba words of the lowercased texts, as the monitor cuts them."""
    return tokenize([text.lower() for text in texts])


def features(words: Sequence[str]) -> list[str]:
    """Baseline features of one text: lowercased words and adjacent word pairs ("不 好")."""
    tokens = [w.lower() for w in words if w.strip()]
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]


class LinearSentiment:
    """TF-IDF + logistic regression over jieba words and bigrams; P(negative) by a sparse dot product.

    Build with `LinearSentiment.fit(texts, labels)` or `LinearSentiment.load(path)`.
    """

    name = "baseline"

    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray, coef: np.ndarray, intercept: float,
                 meta: dict[str, Any] | None = None) -> None:
        self.vocabulary = list(vocabulary)
        self.index = {feature: i for i, feature in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)  # weights of P(positive)
        self.intercept = float(intercept)
        self.meta = dict(meta or {})
        if not len(self.vocabulary) == self.idf.shape[0] == self.coef.shape[0]:
            raise PackageError(f"sentiment model: vocabulary ({len(self.vocabulary)}), idf {self.idf.shape} and "
                               f"coef {self.coef.shape} disagree; rebuild it with `shendu opinion train`")

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[int], *, words: Sequence[Sequence[str]] | None = None,
            c: float = 4.0, min_df: int = 2, max_features: int | None = 400_000) -> LinearSentiment:
        """Fit on texts with labels 1 = positive, 0 = negative (the corpora's convention); `words`, when given,
        are the jieba words of the lowercased texts."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(labels)
        if len(texts) != len(y) or set(np.unique(y)) != {0, 1}:
            raise BadInputError(f"fit: expected as many labels as texts, each 0 (negative) or 1 (positive); "
                                f"received {len(texts)} texts and labels {sorted(set(np.unique(y)))[:5]}")
        vectorizer = TfidfVectorizer(analyzer=features, sublinear_tf=True, min_df=min_df, max_features=max_features)
        x = vectorizer.fit_transform(words if words is not None else _words(texts))
        model = LogisticRegression(C=c, solver="liblinear", max_iter=1000, class_weight="balanced").fit(x, y)
        meta = {"features": "jieba words + word bigrams, lowercased; sublinear tf, idf, l2", "C": c,
                "min_df": min_df, "trained_on": len(y)}
        return cls(vectorizer.get_feature_names_out(), vectorizer.idf_, model.coef_[0], model.intercept_[0], meta)

    def positive_logits(self, words: Sequence[Sequence[str]]) -> np.ndarray:
        """w·x + b of each text (x: its L2-normalized sublinear TF-IDF vector)."""
        from scipy.sparse import csr_matrix

        rows, cols, values = [], [], []
        for row, text_words in enumerate(words):
            counts = Counter(self.index[f] for f in features(text_words) if f in self.index)
            rows.extend([row] * len(counts))
            cols.extend(counts)
            values.extend(counts.values())
        col = np.asarray(cols, dtype=np.int64)
        data = (1.0 + np.log(np.asarray(values, dtype=np.float64))) * self.idf[col]
        x = csr_matrix((data, (np.asarray(rows, dtype=np.int64), col)), shape=(len(words), len(self.vocabulary)))
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        return (x @ self.coef) / np.where(norms > 0, norms, 1.0) + self.intercept

    def score(self, texts: Sequence[str], words: Sequence[Sequence[str]] | None = None) -> np.ndarray:
        """P(negative) of each text."""
        logits = self.positive_logits(words if words is not None else _words(texts))
        return 1.0 / (1.0 + np.exp(logits))  # 1 − sigmoid(logit)

    def save(self, path: str | Path, metrics: dict[str, Any] | None = None) -> Path:
        """Write `sentiment.safetensors` + `sentiment.json` into directory `path`."""
        from safetensors.numpy import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_file({"idf": self.idf.astype(np.float32), "coef": self.coef.astype(np.float32),
                   "intercept": np.array([self.intercept], dtype=np.float32)}, str(path / WEIGHTS))
        meta = {**self.meta, "format": FORMAT, "classes": CLASSES, "vocabulary": self.vocabulary,
                "metrics": metrics or self.meta.get("metrics", {}),
                "provenance": {"created": datetime.now(timezone.utc).isoformat(), "shendu": __version__,
                               "python": platform.python_version()}}
        (path / META).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> LinearSentiment:
        """Read a directory written by `save`."""
        from safetensors.numpy import load_file

        path = Path(path)
        if not (path / META).is_file() or not (path / WEIGHTS).is_file():
            raise PackageError(f"no baseline sentiment model in {path} (expected {META} and {WEIGHTS}); build one "
                               "with `shendu opinion train`")
        meta = json.loads((path / META).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise PackageError(f"{path / META}: format {meta.get('format')!r}, expected {FORMAT!r}")
        tensors = load_file(str(path / WEIGHTS))
        vocabulary = meta.pop("vocabulary")
        return cls(vocabulary, tensors["idf"], tensors["coef"], float(tensors["intercept"][0]), meta)


class PackageScorer:
    """P(negative) from a shendu text package's class probabilities.

    When the package tokenizes with plain jieba (default dictionary, HMM, lowercasing) the words the
    monitor already cut are reused — the same tokens the package's own pipeline would produce, so the
    probabilities equal `predict(texts)`'s (tested) without segmenting twice. Otherwise the package
    tokenizes the texts itself.

    Args:
        package: a package directory or hub name (`shendu.load_package`).
        negative_class: the class meaning negative; default the first of NEGATIVE_NAMES among its classes.
        batch_size: texts per forward pass.
        threads: torch intra-op threads during the forward (restored after). 1 by default: the batches are
            small and the other cores segment with jieba — on 2 cores one thread scored 3.5× faster than two.
    """

    def __init__(self, package: str | Path, negative_class: str | None = None, batch_size: int = 512,
                 threads: int | None = 1) -> None:
        from shendu.hub import load_package

        self.predictor = load_package(package)
        self.name = f"package:{Path(str(package)).name}"
        self.batch_size, self.threads = batch_size, threads
        classes = [str(c) for c in self.predictor.classes]
        if getattr(self.predictor, "modality", "text") != "text":
            raise BadInputError(f"package {package} is an image model ({self.predictor.meta['model']['name']}); "
                                "the monitor needs a text classification package")
        wanted = [negative_class] if negative_class else [c for c in classes if c.lower() in NEGATIVE_NAMES]
        if not wanted or wanted[0] not in classes:
            raise BadInputError(f"package {package}: cannot tell which class is negative among {classes} (expected "
                                f"one of {', '.join(NEGATIVE_NAMES)}); pass --negative-class NAME")
        self.negative = classes.index(wanted[0])
        self.reuses_words = _plain_jieba(getattr(self.predictor, "text_pipeline", None))

    def score(self, texts: Sequence[str], words: Sequence[Sequence[str]] | None = None) -> np.ndarray:
        """P(negative) of each text."""
        import torch

        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            if words is None or not self.reuses_words:
                prediction = self.predictor.predict(list(texts), batch_size=self.batch_size)
                return np.asarray(prediction.probabilities[:, self.negative], dtype=np.float64)
            return self._score_words(words)
        finally:
            torch.set_num_threads(before)

    def _score_words(self, words: Sequence[Sequence[str]]) -> np.ndarray:
        """P(negative) from the monitor's words, in batches of similar length."""
        import torch

        pipeline, model = self.predictor.text_pipeline, self.predictor.model
        tokens = [[w for w in text_words if not w.isspace()] for text_words in words]
        # Batches of similar length: each is padded to its longest text, and padding is most of the work when a
        # short post shares a batch with a long one (it never changes a text's result).
        order = np.argsort([len(t) for t in tokens], kind="stable")
        negative = np.empty(len(tokens), dtype=np.float64)
        with torch.no_grad():
            for start in range(0, len(order), self.batch_size):
                rows = order[start:start + self.batch_size]
                logits = model(pipeline.encode_tokens([tokens[i] for i in rows]))
                negative[rows] = torch.softmax(logits, dim=1)[:, self.negative].double().numpy()
        return negative


def _plain_jieba(pipeline: Any) -> bool:
    """Whether a text pipeline cuts lowercased text with jieba's default dictionary and HMM, as the monitor does."""
    if pipeline is None or not getattr(pipeline, "lowercase", False):
        return False
    state = pipeline.tokenizer.to_dict()
    return (state.get("name") == "jieba" and not state.get("user_words") and not state.get("del_words")
            and bool(state.get("hmm", True)))


def default_dirs() -> tuple[Path, Path]:
    """Where `shendu opinion train` puts the default package and the baseline: SHENDU_HOME/packages/…"""
    packages = _settings.subdir("packages")
    return packages / PACKAGE_DIR, packages / BASELINE_DIR


def load_scorer(spec: str | None = None, negative_class: str | None = None) -> SentimentScorer:
    """The scorer `spec` names: None/"default", "baseline", or a directory (package or baseline model).

    Raises:
        BadInputError: nothing there; the message says how to build it.
    """
    package_dir, baseline_dir = default_dirs()
    if spec in (None, "", "default"):
        if (package_dir / "shendu.json").is_file():
            return PackageScorer(package_dir, negative_class)
        if (baseline_dir / META).is_file():
            return LinearSentiment.load(baseline_dir)
        raise BadInputError(f"no sentiment model yet: neither {package_dir} nor {baseline_dir} exists; build them "
                            "with `shendu opinion train` (needs the dataset mirror), or pass --scorer PATH")
    if spec == "baseline":
        return LinearSentiment.load(baseline_dir)
    path = Path(spec).expanduser()
    if (path / META).is_file():
        return LinearSentiment.load(path)
    return PackageScorer(spec, negative_class)
