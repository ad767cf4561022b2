"""The TF-IDF + logistic-regression baseline against scikit-learn's own word n-gram pipeline."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from shendu.text import tfidf_baseline
from shendu.text._baseline import _features

RNG = np.random.default_rng(0)
WORDS = {0: ["差", "脏", "吵", "贵"], 1: ["好", "净", "静", "值"]}
SHARED = ["房间", "服务", "早餐", "前台", "位置", "酒店"]


def _corpus(n: int, noise: float) -> tuple[list[list[str]], np.ndarray]:
    labels = RNG.integers(0, 2, n)
    docs = []
    for label in labels:
        own = label if RNG.random() > noise else 1 - label
        docs.append(list(RNG.choice(SHARED, 4)) + list(RNG.choice(WORDS[own], 2)))
    return docs, labels


def test_features_are_word_unigrams_and_bigrams_as_sklearn_makes_them():
    docs = _corpus(50, 0.2)[0]
    ours = TfidfVectorizer(analyzer=_features, sublinear_tf=True)
    reference = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False, ngram_range=(1, 2),
                                sublinear_tf=True)
    x_ours, x_ref = ours.fit_transform(docs), reference.fit_transform([" ".join(d) for d in docs])
    assert sorted(ours.vocabulary_) == sorted(reference.vocabulary_)
    order = [reference.vocabulary_[term] for term in sorted(ours.vocabulary_, key=ours.vocabulary_.get)]
    np.testing.assert_allclose(x_ours.toarray(), x_ref.toarray()[:, order], atol=1e-12, rtol=0)


def test_matches_an_independent_sklearn_pipeline():
    train, val, test = _corpus(300, 0.2), _corpus(100, 0.2), _corpus(200, 0.2)
    metrics = tfidf_baseline(train, val, test, seed=0)
    reference = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False, ngram_range=(1, 2),
                                sublinear_tf=True)
    x_train = reference.fit_transform([" ".join(d) for d in train[0]])
    model = LogisticRegression(C=metrics["baseline_c"], solver="lbfgs", max_iter=5000).fit(x_train, train[1])
    accuracy = (model.predict(reference.transform([" ".join(d) for d in test[0]])) == test[1]).mean()
    # same features and objective, another solver: the argmax may differ on a few borderline texts
    assert metrics["baseline_test_accuracy"] == pytest.approx(accuracy, abs=0.02)
    assert 0.7 < metrics["baseline_test_accuracy"] < 0.9  # 20% of the texts carry the other class's words


def test_separable_texts_are_learned_and_c_defaults_without_val():
    train, test = _corpus(200, 0.0), _corpus(100, 0.0)
    metrics = tfidf_baseline(train, None, test)
    assert metrics["baseline_test_accuracy"] == 1.0 and metrics["baseline_c"] == 10.0
    assert "baseline_val_accuracy" not in metrics and metrics["baseline_seconds"] > 0
