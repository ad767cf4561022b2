"""scikit-learn estimators over shendu's models and training loop: `NeuralNetClassifier`, `NeuralNetRegressor`.

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from shendu.sklearn import NeuralNetClassifier
    >>> clf = make_pipeline(StandardScaler(), NeuralNetClassifier(model_args={"hidden": 64}, epochs=30))
    >>> clf.fit(X_train, y_train).score(X_test, y_test)

The parameters are the experiment config (the same keys `shendu train` reads, see docs/config.md): the
flat ones below for what a grid search usually varies, and `config` — a dict or a YAML path — for every
other key (regularization, schedule, precision, early stopping, …). A flat parameter left at None takes
the value from `config`, else shendu's default. Each fit trains with the same step as `shendu train`
(optimizer with decay on weights only, schedules, clipping, mixed precision, L1/noise/label smoothing),
in memory, without writing a run or checkpoint.

Inputs are 2-D arrays (n_samples, n_features) of numbers, used as given (put a scaler in the pipeline).
An image model takes them reshaped to `input_shape`, e.g. `input_shape=(1, 8, 8)` for scikit-learn's
digits with `model="lenet5"`. Fitted estimators pickle and clone: a pickle holds the weights as
safetensors bytes and the model's name and arguments, never a pickled module.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from shendu.config import ExperimentConfig
from shendu.errors import BadInputError, TrainingDivergedError
from shendu.models import create_model
from shendu.train import _regularize
from shendu.train._early_stop import EarlyStopping
from shendu.train._loop import Loop, NonFiniteLoss
from shendu.train._metrics import MetricSums
from shendu.train._optim import build_optimizer, build_scheduler
from shendu.train._speed import resolve_precision
from shendu.train._trainer import resolve_device

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor"]

# Flat parameter → config key. None leaves the key to `config` / shendu's default.
_FLAT = {
    "model": "model.name",
    "model_args": "model.args",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "optimizer": "optim.name",
    "lr": "optim.lr",
    "weight_decay": "optim.weight_decay",
    "validation_fraction": "data.val_fraction",
    "patience": "train.early_stop.patience",
    "device": "train.device",
}
# Where an estimator's default differs from `shendu train`'s: an MLP (tabular data), no held-out part
# of the data unless asked for, CPU unless asked for (a grid search runs many small fits at once).
_ESTIMATOR_DEFAULTS = {"model.name": "mlp", "data.val_fraction": 0.0, "train.device": "cpu"}


class _NeuralNet(BaseEstimator):
    """What the classifier and the regressor share: config, input shaping, the training loop, pickling."""

    _regression = False

    def __init__(self, model: str | None = None, *, model_args: dict[str, Any] | None = None,
                 input_shape: tuple[int, ...] | None = None, epochs: int | None = None,
                 batch_size: int | None = None, optimizer: str | None = None, lr: float | None = None,
                 weight_decay: float | None = None, validation_fraction: float | None = None,
                 patience: int | None = None, random_state: int | None = None, device: str | None = None,
                 config: dict[str, Any] | str | Path | None = None, verbose: bool = False) -> None:
        self.model = model
        self.model_args = model_args
        self.input_shape = input_shape
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device
        self.config = config
        self.verbose = verbose

    # -- fitting -------------------------------------------------------------------------------------
    def _fit(self, X: Any, y: Any) -> "_NeuralNet":
        cfg = self._resolved_config()
        X, y = validate_data(self, X, y, dtype=np.float32, multi_output=self._regression, y_numeric=self._regression)
        targets, outputs = self._targets(y)
        shape = self._sample_shape(X.shape[1])
        device = resolve_device(cfg.train.device)
        x = torch.from_numpy(np.ascontiguousarray(X)).reshape(-1, *shape).to(device)
        t = targets.to(device)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(cfg.train.seed)  # initialization is part of the seeded result
            module = self._build(cfg, outputs, shape).to(device)
            self.history_ = self._train(cfg, module, x, t, outputs)
        self.module_ = module.eval()
        self.config_ = cfg.to_dict()
        self._spec = {"name": cfg.model.name, "args": dict(cfg.model.args), "outputs": outputs, "shape": list(shape)}
        return self

    def _resolved_config(self) -> ExperimentConfig:
        raw = self._base_config()
        for key, value in _ESTIMATOR_DEFAULTS.items():
            _set_default(raw, key, value)
        for param, key in _FLAT.items():
            value = getattr(self, param)
            if value is not None:
                _set(raw, key, dict(value) if isinstance(value, dict) else value)
        seed = self.random_state
        if isinstance(seed, np.random.RandomState):
            seed = int(seed.randint(0, 2**31 - 1))  # scikit-learn's convention for a RandomState instance
        if seed is not None:
            _set(raw, "train.seed", seed)
        return ExperimentConfig.from_dict(raw, source=f"{type(self).__name__} parameters")

    def _base_config(self) -> dict[str, Any]:
        if self.config is None:
            return {}
        if isinstance(self.config, (str, Path)):
            from shendu.config import _read_yaml

            return _read_yaml(Path(self.config))  # as written: keys it leaves out take the estimator's defaults
        if isinstance(self.config, ExperimentConfig):
            return self.config.to_dict()
        if isinstance(self.config, dict):
            import copy

            return copy.deepcopy(self.config)
        raise BadInputError(f"{type(self).__name__}(config=...): expected a dict of config sections, a YAML path or "
                            f"an ExperimentConfig, received {type(self.config).__name__}")

    def _sample_shape(self, n_features: int) -> tuple[int, int, int]:
        """(C, H, W) of one sample: `input_shape`, else the features as channels of a 1×1 input."""
        if self.input_shape is None:
            return n_features, 1, 1
        shape = tuple(int(s) for s in self.input_shape)
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3 or math.prod(shape) != n_features or shape[1] != shape[2]:
            raise BadInputError(f"input_shape={self.input_shape!r} does not fit {n_features} features: expected "
                                f"(C, S, S) or (S, S) with C·S·S = {n_features} (square images; the zoo's models "
                                "take a square input_size)")
        return shape  # type: ignore[return-value]

    @staticmethod
    def _build(cfg: ExperimentConfig, outputs: int, shape: tuple[int, int, int]) -> torch.nn.Module:
        module = create_model(cfg.model.name, num_classes=outputs, in_channels=shape[0], input_size=shape[1],
                              **cfg.model.args)
        _regularize.apply(module, cfg.regularize)
        return module

    def _train(self, cfg: ExperimentConfig, module: torch.nn.Module, x: torch.Tensor, t: torch.Tensor,
               outputs: int) -> list[dict[str, float]]:
        x_fit, t_fit, x_val, t_val = self._hold_out(cfg, x, t)
        optimizer = build_optimizer(module, cfg.optim)
        steps = math.ceil(x_fit.shape[0] / cfg.train.batch_size)
        scheduler = build_scheduler(optimizer, cfg.optim, cfg.train.epochs, steps)
        precision = resolve_precision(cfg.train.precision, x.device)
        loop = Loop(cfg, module, module, optimizer, scheduler, precision, None, outputs, regression=self._regression)
        if precision.scaler:
            loop.scaler = torch.amp.GradScaler("cuda")
        stopper = EarlyStopping(cfg.train.early_stop)
        history: list[dict[str, float]] = []
        for epoch in range(1, cfg.train.epochs + 1):
            try:
                metrics = loop.epoch(x_fit, t_fit, epoch, self._progress(cfg))
            except NonFiniteLoss as exc:
                raise TrainingDivergedError(
                    f"{type(self).__name__}.fit: the loss became {exc.value} at epoch {epoch}, step {exc.step + 1} "
                    f"(lr={optimizer.param_groups[0]['lr']:g}); use a smaller lr, scale the inputs (StandardScaler) "
                    "or check X for huge values") from None
            if x_val is not None:
                metrics.update(self._score_batches(loop, x_val, t_val, outputs))
            metrics["lr"] = optimizer.param_groups[0]["lr"]
            metrics["epoch"] = epoch
            history.append(metrics)
            if self.verbose:
                shown = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k != "epoch")
                print(f"epoch {epoch}/{cfg.train.epochs}  {shown}")
            if stopper.update(epoch, metrics):
                break
        return history

    def _hold_out(self, cfg: ExperimentConfig, x: torch.Tensor, t: torch.Tensor):
        fraction = cfg.data.val_fraction
        if fraction == 0:
            return x, t, None, None
        n_val = round(len(x) * fraction)
        if n_val == 0 or n_val >= len(x):
            raise BadInputError(f"validation_fraction={fraction} of {len(x)} samples leaves no validation or no "
                                "training samples; use a larger dataset or another fraction")
        labels = None if self._regression else t.cpu().numpy()
        if labels is not None and (np.bincount(labels).min(initial=0) < 2 or n_val < len(np.unique(labels))):
            labels = None  # too few samples of some class to stratify
        fit, val = train_test_split(np.arange(len(x)), test_size=n_val, random_state=cfg.train.seed, stratify=labels)
        fit, val = torch.from_numpy(np.sort(fit)).to(x.device), torch.from_numpy(np.sort(val)).to(x.device)
        return x[fit], t[fit], x[val], t[val]

    @torch.no_grad()
    def _score_batches(self, loop: Loop, x: torch.Tensor, t: torch.Tensor, outputs: int) -> dict[str, float]:
        loop.module.eval()
        sums = MetricSums(outputs, x.device, top5=False, classify=not self._regression)
        for start in range(0, len(x), loop.config.train.eval_batch_size):
            xb, tb = x[start:start + loop.config.train.eval_batch_size], t[start:start + loop.config.train.eval_batch_size]
            with loop.precision.autocast(x.device):
                output = loop.module(xb).float()
            loss, _ = loop.loss(output, tb)
            sums.update(output, tb, loss * tb.shape[0])
        loop.module.train()
        return sums.result("val")

    def _progress(self, cfg: ExperimentConfig):
        from rich.console import Console

        from shendu.train._progress import EpochBar

        console = Console(stderr=True)
        return lambda steps, epoch: EpochBar(console, steps, f"epoch {epoch}/{cfg.train.epochs}", self.verbose)

    # -- predicting ----------------------------------------------------------------------------------
    @torch.no_grad()
    def _forward(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "module_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        device = next(self.module_.parameters()).device
        x = torch.from_numpy(np.ascontiguousarray(X)).reshape(-1, *self._spec["shape"])
        batch = int(self.config_["train"]["eval_batch_size"])
        self.module_.eval()
        chunks = [self.module_(x[i:i + batch].to(device)).float().cpu() for i in range(0, len(x), batch)]
        return torch.cat(chunks).numpy() if chunks else np.zeros((0, self._spec["outputs"]), np.float32)

    # -- pickling through safetensors ----------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        from safetensors.torch import save

        state = dict(self.__dict__)
        module = state.pop("module_", None)
        if module is not None:
            tensors = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
            state["_weights"] = save(tensors)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        from safetensors.torch import load

        weights = state.pop("_weights", None)
        self.__dict__.update(state)
        if weights is not None:
            spec = self._spec
            module = create_model(spec["name"], num_classes=spec["outputs"], in_channels=spec["shape"][0],
                                  input_size=spec["shape"][1], **spec["args"])
            module.load_state_dict(load(weights))
            self.module_ = module.eval()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False  # seeded: the same data and parameters give the same model
        return tags


class NeuralNetClassifier(ClassifierMixin, _NeuralNet):
    """A shendu model as a scikit-learn classifier: softmax outputs, cross-entropy loss.

    Args:
        model: a registered model name (`shendu zoo list`); default "mlp".
        model_args: keyword arguments of the model builder, e.g. {"hidden": 128, "depth": 2}.
        input_shape: reshape each row to (C, S, S) for image models; default (n_features, 1, 1).
        epochs: `train.epochs` (10 by default).
        batch_size: `train.batch_size` (64).
        optimizer: `optim.name` ("adam").
        lr: `optim.lr` (1e-3).
        weight_decay: `optim.weight_decay` (0; weights only, never biases or norm parameters).
        validation_fraction: share of the training data held out (stratified) to report `val_loss` /
            `val_accuracy` per epoch in `history_`; default 0.
        patience: stop after this many epochs without improvement of `train.early_stop.metric`
            (val_loss by default, so it needs validation_fraction > 0); default off.
        random_state: the seed of initialization and batch order (`train.seed`); None uses the config's (0).
        device: "cpu" (default), "cuda", "cuda:N" or "auto".
        config: every other config key, as a dict of sections or a YAML path (its data/augment/track
            sections are not used, except data.val_fraction).
        verbose: print a progress bar and one line per epoch.

    Attributes (after fit): `classes_`, `n_features_in_`, `module_` (the torch model), `history_` (per-epoch
    metrics), `config_` (the resolved config).
    """

    def fit(self, X: Any, y: Any) -> "NeuralNetClassifier":
        """Train on X (n_samples, n_features) and labels y (any hashable labels)."""
        return self._fit(X, y)

    def _targets(self, y: np.ndarray) -> tuple[torch.Tensor, int]:
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; y has only one class: "
                             f"{self.classes_[0]!r}")
        return torch.from_numpy(encoded.astype(np.int64)), len(self.classes_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), columns in the order of `classes_`."""
        logits = torch.from_numpy(self._forward(X))
        return torch.softmax(logits.double(), dim=1).numpy()

    def predict_log_proba(self, X: Any) -> np.ndarray:
        logits = torch.from_numpy(self._forward(X))
        return torch.log_softmax(logits.double(), dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample, as labels from `classes_`."""
        scores = self._forward(X)  # checks that the estimator is fitted before classes_ is read
        return self.classes_[scores.argmax(axis=1)]


class NeuralNetRegressor(RegressorMixin, _NeuralNet):
    """A shendu model as a scikit-learn regressor: linear outputs, mean squared error loss.

    Takes the same parameters as `NeuralNetClassifier`. y may be (n_samples,) or (n_samples, n_targets);
    targets are used as given (wrap in `TransformedTargetRegressor` to scale them).
    """

    _regression = True

    def fit(self, X: Any, y: Any) -> "NeuralNetRegressor":
        """Train on X (n_samples, n_features) and float targets y."""
        return self._fit(X, y)

    def _targets(self, y: np.ndarray) -> tuple[torch.Tensor, int]:
        y = np.asarray(y, dtype=np.float32)
        self._single_target = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        return torch.from_numpy(np.ascontiguousarray(y2)), y2.shape[1]

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, shaped like the y given to fit."""
        out = self._forward(X).astype(np.float64)
        return out[:, 0] if self._single_target else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _set(raw: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _set_default(raw: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node.setdefault(leaf, value)
