"""Stratified k-fold cross-validation: folds that partition train+val by class, one run per fold under a
group run, mean ± std against a NumPy reference, the CLI contract, and cross-validated sweeps."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from shendu.cli import main
from shendu.config import ExperimentConfig
from shendu.data import load_dataset
from shendu.errors import BadInputError
from shendu.sweep import RunStopped, run_cv, sweep
from shendu.sweep._cv import _pool, _stratified_folds
from shendu.track import open_store

TINY = {"data": {"name": "digits"}, "model": {"name": "mlp", "args": {"hidden": 32, "depth": 1}},
        "optim": {"name": "adam", "lr": 0.01}, "train": {"epochs": 1, "batch_size": 64, "checkpoint": False}}


def test_three_fold_cv_reports_mean_and_std_over_three_linked_runs() -> None:
    result = run_cv(TINY, 3, progress=False)

    assert (result.status, result.k, len(result.folds)) == ("completed", 3, 3)
    for name in ("val_accuracy", "val_loss", "test_accuracy", "train_loss"):
        values = np.array([fold.metrics[name] for fold in result.folds])
        mean, std = result.mean_std(name)
        np.testing.assert_allclose([mean, std], [values.mean(), values.std(ddof=1)], rtol=1e-12, atol=1e-15)
    assert result.mean_std("val_accuracy")[0] > 0.5  # it learned something in one epoch
    assert "lr_mean" not in result.metrics

    store = open_store()
    group = store.get_run(result.run_id)
    assert group.status == "completed" and group.parent is None
    assert group.summary["val_accuracy_mean"]["final"] == pytest.approx(result.metrics["val_accuracy_mean"])
    assert any(note.startswith("cross-validation: stratified 3-fold over train+val (1,617 samples") for note in
               group.notes)
    folds = sorted(store.list_runs(parent=result.run_id), key=lambda run: run.fold)
    assert [(run.fold, run.status) for run in folds] == [(1, "completed"), (2, "completed"), (3, "completed")]
    assert [run.id for run in folds] == [fold.run_id for fold in result.folds]
    n_test = len(load_dataset("digits", "test"))  # the test split is the same for every fold
    for run in folds:
        split = next(note for note in run.notes if note.startswith("split: stratified 3-fold CV"))
        assert split.endswith(f"/ {n_test}")


def test_folds_partition_train_and_val_by_class() -> None:
    pool = _pool(ExperimentConfig.from_dict(TINY))
    folds = _stratified_folds(pool, 3, seed=0)
    held_out = np.concatenate([val for _, val in folds])
    assert sorted(held_out.tolist()) == list(range(len(pool)))  # every sample validated exactly once
    labels = pool.y.numpy()
    overall = Counter(labels.tolist())
    for train, val in folds:
        assert not set(train.tolist()) & set(val.tolist())
        for label, count in Counter(labels[val].tolist()).items():
            assert abs(count - overall[label] / 3) <= 1  # stratified: each class split evenly
    again = _stratified_folds(pool, 3, seed=0)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again))  # seeded by data.split_seed


def test_bad_k_is_refused_before_any_run() -> None:
    with pytest.raises(BadInputError, match="k >= 2"):
        run_cv(TINY, 1, progress=False)
    with pytest.raises(BadInputError, match=r"k=500 folds but class '\d' has only \d+ samples in train\+val"):
        run_cv(TINY, 500, progress=False)
    assert open_store().list_runs() == []


def test_on_fold_can_stop_the_cross_validation() -> None:
    seen = []

    def on_fold(fold, partial):
        seen.append((fold, len(partial.folds), partial.metrics["val_accuracy_std"]))
        return "enough"

    with pytest.raises(RunStopped, match="enough"):
        run_cv(TINY, 3, progress=False, on_fold=on_fold)
    assert seen == [(1, 1, 0.0)]
    group = next(run for run in open_store().list_runs() if run.parent is None)
    assert group.status == "failed" and group.error == "1 of 3 folds done; RunStopped: enough"


def test_train_cv_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    assert main(["train", str(config), "--cv", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out) == {"run_id", "status", "metrics", "package"}
    assert out["status"] == "completed" and out["package"] is None
    assert {"val_accuracy_mean", "val_accuracy_std", "test_accuracy_mean", "test_accuracy_std"} <= set(out["metrics"])
    assert len(open_store().list_runs(parent=out["run_id"])) == 2
    assert main(["train", str(config), "--cv", "2", "--nproc", "2"]) == 2


def test_sweep_with_cv_optimizes_the_mean_over_folds() -> None:
    space = {"optim.lr": {"type": "float", "low": 1e-3, "high": 5e-2, "log": True}}
    result = sweep(TINY, space, trials=1, study="cv-sweep", cv=2, progress=False)
    (trial,) = result.trials
    store = open_store()
    group = store.get_run(trial.run_id)  # the trial's run is the group run
    assert (group.sweep, group.trial, group.parent) == ("cv-sweep", 0, None)
    assert trial.value == pytest.approx(group.summary["val_accuracy_mean"]["final"])
    folds = store.list_runs(parent=group.id)
    assert sorted((run.sweep, run.trial, run.fold) for run in folds) == [("cv-sweep", 0, 1), ("cv-sweep", 0, 2)]
