"""The TF-IDF + logistic-regression baseline every text run is reported next to (scikit-learn).

Features: TF-IDF (sublinear term frequency, l2-normalized) of the pipeline's own tokens and their
bigrams — the same tokenizer and lowercasing as the neural model, fitted on the training split only.
The inverse C of the logistic regression is chosen among `C_GRID` by accuracy on the validation split
(C = 10 when there is none); test never influences a choice. Cost: a few seconds on the datasets here
(ChnSentiCorp, MR, THUCNews titles on 2 cores).
"""
from __future__ import annotations

import copy
import time
import warnings
from typing import Sequence

import numpy as np

C_GRID = (1.0, 10.0, 100.0, 1000.0)
DEFAULT_C = 10.0


def _features(tokens: Sequence[str]) -> list[str]:
    """Unigrams and bigrams of one tokenized text (a bigram joined by a space no token contains)."""
    return [*tokens, *(f"{a} {b}" for a, b in zip(tokens, tokens[1:]))]


Labeled = tuple[Sequence[Sequence[str]], np.ndarray]  # tokenized texts and their labels


def tfidf_baseline(train: Labeled, val: Labeled | None, test: Labeled, seed: int = 0) -> dict[str, float]:
    """Fit on `train` (tokenized texts, labels), pick C on `val`, report accuracies.

    Returns:
        {"baseline_val_accuracy" (with val), "baseline_test_accuracy", "baseline_c", "baseline_seconds"}.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer  # imported lazily: ~1 s
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer=_features, sublinear_tf=True, dtype=np.float32)
    x_train = vectorizer.fit_transform(train[0])
    x_test = vectorizer.transform(test[0])
    x_val = vectorizer.transform(val[0]) if val is not None and len(val[0]) else None

    # saga: fast on sparse TF-IDF and multinomial for any class count (lbfgs was 3-10x slower here); the C grid
    # goes up with warm starts, each fit starting from the previous solution.
    model = LogisticRegression(C=DEFAULT_C, solver="saga", max_iter=1000, random_state=seed, warm_start=True)
    with warnings.catch_warnings():  # a large C may stop at max_iter; its val accuracy still decides
        warnings.simplefilter("ignore", ConvergenceWarning)
        if x_val is None:
            best_c, best = DEFAULT_C, model.fit(x_train, train[1])
            metrics: dict[str, float] = {}
        else:
            scored = []
            for c in C_GRID:
                model.set_params(C=c).fit(x_train, train[1])
                scored.append((float((model.predict(x_val) == val[1]).mean()), c, copy.deepcopy(model)))
            val_accuracy, best_c, best = max(scored, key=lambda item: (item[0], -item[1]))  # ties: the smaller C
            metrics = {"baseline_val_accuracy": val_accuracy}
    metrics["baseline_test_accuracy"] = float((best.predict(x_test) == test[1]).mean())
    metrics["baseline_c"] = best_c
    metrics["baseline_seconds"] = time.perf_counter() - start
    return metrics
