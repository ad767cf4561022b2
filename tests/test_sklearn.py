"""shendu.sklearn: scikit-learn's own estimator checks, and the estimators inside Pipeline, GridSearchCV (n_jobs=2),
cross_val_score, clone and pickle.

Every check `parametrize_with_checks` yields runs. The one that cannot apply here skips itself with its reason:
- check_array_api_input: runs only with SCIPY_ARRAY_API=1 and array-api-compat installed; the estimators take
  NumPy-convertible input (converted to float32 tensors), not array-API namespaces, and say so through the default
  `array_api_support=False` tag.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, make_regression
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from shendu.errors import BadInputError, ConfigError, TrainingDivergedError
from shendu.sklearn import NeuralNetClassifier, NeuralNetRegressor


@parametrize_with_checks([NeuralNetClassifier(), NeuralNetRegressor()])
def test_scikit_learn_estimator_checks(estimator, check) -> None:
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def test_pipeline_learns_digits(digits) -> None:
    X_train, X_test, y_train, y_test = digits
    pipe = make_pipeline(StandardScaler(), NeuralNetClassifier(epochs=20, model_args={"hidden": 64}))
    assert pipe.fit(X_train, y_train).score(X_test, y_test) > 0.95
    proba = pipe.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(pipe[-1].classes_) == list(range(10)) and pipe[-1].n_features_in_ == 64


def test_string_labels_come_back_as_given(digits) -> None:
    X_train, X_test, y_train, _ = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = NeuralNetClassifier(epochs=3).fit(X_train / 16, names[y_train])
    assert set(clf.predict(X_test / 16)) <= set(names) and list(clf.classes_) == sorted(names)


def test_image_model_through_input_shape(digits) -> None:
    X_train, X_test, y_train, y_test = digits
    clf = NeuralNetClassifier("lenet5", input_shape=(1, 8, 8), epochs=10, lr=3e-3).fit(X_train / 16, y_train)
    assert clf.module_.__class__.__name__ == "LeNet5" and clf.score(X_test / 16, y_test) > 0.85
    with pytest.raises(BadInputError, match=r"input_shape=\(1, 7, 7\) does not fit 64 features"):
        NeuralNetClassifier("lenet5", input_shape=(1, 7, 7)).fit(X_train, y_train)


def test_grid_search_in_parallel_and_cross_val_score(digits) -> None:
    X_train, _, y_train, _ = digits
    grid = GridSearchCV(NeuralNetClassifier(epochs=4), {"lr": [1e-4, 1e-2]}, cv=3, n_jobs=2)
    grid.fit(X_train / 16, y_train)
    assert grid.best_params_ == {"lr": 1e-2}  # 1e-4 barely moves in 4 epochs
    scores = cross_val_score(NeuralNetClassifier(epochs=4, lr=1e-2), X_train / 16, y_train, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85


def test_clone_and_pickle_keep_params_and_predictions(digits) -> None:
    X_train, X_test, y_train, _ = digits
    clf = NeuralNetClassifier(epochs=3, model_args={"hidden": 32}, config={"regularize": {"label_smoothing": 0.1}})
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and not hasattr(copy, "module_")
    clf.fit(X_train / 16, y_train)
    blob = pickle.dumps(clf)
    assert b"torch.nn" not in blob and b"safetensors" not in blob  # weights travel as safetensors bytes
    restored = pickle.loads(blob)
    np.testing.assert_array_equal(restored.predict_proba(X_test / 16), clf.predict_proba(X_test / 16))


def test_same_seed_same_model_other_seed_other_model(digits) -> None:
    X_train, X_test, y_train, _ = digits
    a = NeuralNetClassifier(epochs=2, random_state=1).fit(X_train / 16, y_train).predict_proba(X_test / 16)
    b = NeuralNetClassifier(epochs=2, random_state=1).fit(X_train / 16, y_train).predict_proba(X_test / 16)
    c = NeuralNetClassifier(epochs=2, random_state=2).fit(X_train / 16, y_train).predict_proba(X_test / 16)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_linear_regressor_matches_least_squares() -> None:
    # Independent reference: an MLP of depth 0 is a linear model, so full-batch training must reach the
    # least-squares solution of scikit-learn's LinearRegression (tolerance 1e-3 on standardized data).
    X, y = make_regression(n_samples=200, n_features=5, noise=0.5, random_state=0)
    X, y = StandardScaler().fit_transform(X), (y - y.mean()) / y.std()
    reg = NeuralNetRegressor(model_args={"depth": 0}, epochs=400, batch_size=200, lr=0.05).fit(X, y)
    np.testing.assert_allclose(reg.predict(X), LinearRegression().fit(X, y).predict(X), atol=1e-3)


def test_multi_output_regression_shapes() -> None:
    X, y = make_regression(n_samples=120, n_features=4, n_targets=3, random_state=0)
    reg = NeuralNetRegressor(epochs=2).fit(X, y / 100)
    assert reg.predict(X).shape == (120, 3)
    assert NeuralNetRegressor(epochs=2).fit(X, y[:, 0] / 100).predict(X).shape == (120,)


def test_validation_history_and_early_stopping(digits) -> None:
    X_train, _, y_train, _ = digits
    config = {"train": {"early_stop": {"min_delta": 100.0}}}  # no epoch can improve val_loss by 100
    clf = NeuralNetClassifier(epochs=10, validation_fraction=0.2, patience=2, config=config).fit(X_train / 16, y_train)
    assert [h["epoch"] for h in clf.history_] == [1, 2, 3]
    assert set(clf.history_[0]) == {"epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy"}


def test_config_yaml_and_flat_parameters(tmp_path, digits) -> None:
    X_train, _, y_train, _ = digits
    path = tmp_path / "est.yaml"
    path.write_text("optim:\n  name: sgd\n  lr: 0.05\ntrain:\n  epochs: 2\n")
    clf = NeuralNetClassifier(config=str(path), lr=0.01).fit(X_train / 16, y_train)
    assert clf.config_["optim"] == {**clf.config_["optim"], "name": "sgd", "lr": 0.01}  # flat parameters win
    assert clf.config_["model"]["name"] == "mlp" and clf.config_["data"]["val_fraction"] == 0.0
    assert len(clf.history_) == 2


def test_bad_parameters_say_which_key(digits) -> None:
    X_train, _, y_train, _ = digits
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        NeuralNetClassifier(lr=-1.0).fit(X_train, y_train)
    with pytest.raises(ConfigError, match="did you mean .lenet5."):
        NeuralNetClassifier("lenet").fit(X_train, y_train)
    with pytest.raises(ConfigError, match=r"hiden"):
        NeuralNetClassifier(model_args={"hiden": 3}).fit(X_train, y_train)
    with pytest.raises(BadInputError, match="config"):
        NeuralNetClassifier(config=42).fit(X_train, y_train)


def test_divergence_is_a_clear_error() -> None:
    X = np.random.default_rng(0).normal(size=(64, 4)) * 1e18
    y = X[:, 0] * 1e10
    with pytest.raises(TrainingDivergedError, match="StandardScaler"):
        NeuralNetRegressor(epochs=3, optimizer="sgd", lr=10.0).fit(X, y)
