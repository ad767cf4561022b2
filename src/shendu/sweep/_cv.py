"""Stratified k-fold cross-validation: K shendu runs grouped under one group run, mean ± std per metric.

The folds split the union of the configured train and val splits with scikit-learn's
`StratifiedKFold(shuffle=True, random_state=data.split_seed)`. The test split is left untouched, and
every fold is evaluated on the same test split. Each fold is an ordinary run (checkpoints, package,
metrics) with `parent` = the group run and `fold` = 1..K. The group run records the config, a note
on the scheme, and `<metric>_mean` / `<metric>_std` for every metric the folds report. The std is
the sample standard deviation (ddof=1) over the K folds.
"""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from shendu.config import ExperimentConfig
from shendu.data import ArrayDataset, load_dataset
from shendu.errors import BadInputError
from shendu.i18n import t
from shendu.track import RunStore, open_store
from shendu.train import TrainResult
from shendu.sweep._trainer import FoldData, HookedTrainer, RunLink, RunStopped

# Called after each fold with (fold, the result so far); a truthy return (or a reason) stops the CV.
FoldHook = Callable[[int, "CVResult"], "bool | str | None"]
NOT_AGGREGATED = ("lr",)  # a schedule's position, not a result


@dataclass
class CVResult:
    """What `run_cv` returns; `to_json()` is the CLI's `--json` line (run_id = the group run)."""

    run_id: str
    status: str
    k: int
    metrics: dict[str, float] = field(default_factory=dict)
    folds: list[TrainResult] = field(default_factory=list)

    def mean_std(self, name: str) -> tuple[float, float]:
        """(mean, std) of metric `name` (e.g. "val_accuracy") over the folds."""
        if f"{name}_mean" not in self.metrics:
            names = sorted(n.removesuffix("_mean") for n in self.metrics if n.endswith("_mean"))
            raise BadInputError(f"no metric {name!r} in this cross-validation (have: {', '.join(names)})")
        return self.metrics[f"{name}_mean"], self.metrics[f"{name}_std"]

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status, "metrics": self.metrics, "package": None}


def run_cv(config: ExperimentConfig | dict | str | Path, k: int, *, store: RunStore | None = None,
           progress: bool = True, link: RunLink | None = None, on_fold: FoldHook | None = None) -> CVResult:
    """Train `k` folds of `config` and report mean ± std of each metric.

    Args:
        config: the experiment (object, dict or YAML path).
        k: number of folds, at least 2.
        store: the run database (default: the config's `track.db`, else SHENDU_DB / SHENDU_HOME).
        progress: show each fold's progress on stderr.
        link: sweep and trial to record on the group run and the folds (used by `sweep(..., cv=K)`).
        on_fold: called after each fold; a truthy return stops the cross-validation (pruning).

    Raises:
        BadInputError: k below 2, or a class with fewer than k samples in train+val.
        RunStopped: `on_fold` asked to stop; the group run is recorded failed with the reason.
    """
    config = _as_config(config)
    store = store or open_store(config.track.db)
    pool = _pool(config)
    splits = _stratified_folds(pool, k, config.data.split_seed)
    group = _start_group(store, config, k, pool, link or RunLink())
    result = CVResult(group, "running", k)
    try:
        for fold, (train_idx, val_idx) in enumerate(splits, start=1):
            if progress:
                from rich.console import Console

                Console(stderr=True).print(f"[bold]{t('cv.fold', fold=fold, k=k)}[/]")
            data = _fold_data(pool, train_idx, val_idx, k, fold, config.data.split_seed)
            # The group run's heartbeat goes with its folds' epochs, so no reader takes it for crashed.
            trainer = HookedTrainer(config, store, progress, fold=data, on_epoch=lambda *_: store.heartbeat(group),
                                    link=replace(link or RunLink(), parent=group, fold=fold))
            result = _aggregate(result, trainer.fit())
            store.heartbeat(group)
            verdict = on_fold(fold, result) if on_fold else None
            if verdict and fold < k:
                raise RunStopped(verdict if isinstance(verdict, str) else f"stopped by on_fold after fold {fold}")
        store.log_metrics(group, result.metrics)
        store.finish(group, "completed")
    except BaseException as exc:
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        store.finish(group, "failed", error=f"{len(result.folds)} of {k} folds done; {reason}")
        raise
    return replace(result, status="completed")


def _as_config(config: ExperimentConfig | dict | str | Path) -> ExperimentConfig:
    if isinstance(config, ExperimentConfig):
        return config
    return ExperimentConfig.from_dict(config) if isinstance(config, dict) else ExperimentConfig.load(config)


def _pool(config: ExperimentConfig) -> ArrayDataset:
    """The configured train and val splits as one dataset (the samples the folds divide)."""
    d = config.data
    kwargs = dict(val_fraction=d.val_fraction, seed=d.split_seed, mirror=d.mirror, download=d.download,
                  progress=False)
    parts = [load_dataset(d.name, "train", **kwargs)]
    if d.val_fraction > 0:
        parts.append(load_dataset(d.name, "val", **kwargs))
    first = parts[0]
    return ArrayDataset(torch.cat([p.x for p in parts]), torch.cat([p.y for p in parts]), first.info, "train",
                        list(first.notes), dict(first.split_record), torch.cat([p.index for p in parts]))


def _stratified_folds(pool: ArrayDataset, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train positions, val positions) of each fold, class proportions kept in every fold."""
    from sklearn.model_selection import StratifiedKFold  # imported lazily: ~1 s

    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise BadInputError(f"cross-validation needs k >= 2 folds, received {k!r}")
    labels = pool.y.numpy()
    label, count = min(Counter(labels.tolist()).items(), key=lambda item: item[1])
    if count < k:
        raise BadInputError(f"k={k} folds but class {pool.classes[label]!r} has only {count} samples in "
                            f"train+val ({len(pool):,} samples); use k <= {count}")
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros(len(labels)), labels))


def _fold_data(pool: ArrayDataset, train_idx: np.ndarray, val_idx: np.ndarray, k: int, fold: int,
               seed: int) -> FoldData:
    """The fold's datasets; the split record (stored with each run and its package) describes the fold."""
    base = pool.split_record
    record = {
        "dataset": base.get("dataset"), "scheme": f"stratified {k}-fold CV over train+val, fold {fold}",
        "val_fraction": len(val_idx) / len(pool), "seed": seed,
        "counts": {"train": len(train_idx), "val": len(val_idx), "test": base.get("counts", {}).get("test")},
        "method": f"sklearn StratifiedKFold(n_splits={k}, shuffle=True, random_state={seed}) over the union "
                  "of the train and val splits below; test split untouched",
        "base": base,
    }
    train = replace(pool.subset(train_idx), notes=list(pool.notes), split_record=record)
    val = replace(pool.subset(val_idx), split="val", notes=list(pool.notes), split_record=record)
    return FoldData(train, val)


def _start_group(store: RunStore, config: ExperimentConfig, k: int, pool: ArrayDataset, link: RunLink) -> str:
    note = (f"cross-validation: stratified {k}-fold over train+val ({len(pool):,} samples, seed "
            f"{config.data.split_seed}); each fold is a run with this run as parent; test split untouched")
    group = store.create_run(config=config.to_dict(), seed=config.train.seed, model=config.model.name,
                             dataset=config.data.name, name=config.track.name, notes=[*pool.notes, note])
    if link.sweep is not None or link.trial is not None:
        store.link(group, sweep=link.sweep, trial=link.trial)
    return group


def _aggregate(result: CVResult, fold: TrainResult) -> CVResult:
    """The result with one more fold: mean and std (ddof=1; 0 for a single fold) of every shared metric."""
    folds = [*result.folds, fold]
    names = [n for n in fold.metrics if n not in NOT_AGGREGATED and all(n in f.metrics for f in folds)]
    metrics: dict[str, float] = {}
    for name in names:
        values = [f.metrics[name] for f in folds]
        metrics[f"{name}_mean"] = statistics.fmean(values)
        metrics[f"{name}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return replace(result, metrics=metrics, folds=folds)
