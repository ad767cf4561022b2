"""Sweeps as a user meets them: workers sharing one study in the run database, trials linked to runs,
pruning through the epoch hook, joining a study by name, and clear errors for bad space files."""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
import yaml

from shendu.cli import main
from shendu.config import ExperimentConfig
from shendu.errors import BadInputError
from shendu.sweep import HookedTrainer, RunStopped, SearchSpace, load_sweep, open_storage, pruning_hook, sweep
from shendu.track import open_store

TINY = {"data": {"name": "digits"}, "model": {"name": "mlp", "args": {"hidden": 32, "depth": 1}},
        "optim": {"name": "adam", "lr": 0.01}, "train": {"epochs": 1, "batch_size": 64, "checkpoint": False}}
SPACE = {"optim.lr": {"type": "float", "low": 1e-3, "high": 5e-2, "log": True},
         "model.args.hidden": {"type": "int", "low": 16, "high": 48}}


def test_two_workers_share_one_sqlite_study(shendu_home: Path) -> None:
    result = sweep(TINY, SPACE, trials=4, workers=2, study="shared", progress=False)

    assert result.study == "shared" and len(result.trials) == 4
    assert {row.state for row in result.trials} == {"COMPLETE"}
    store = open_store()
    runs = {run.id: run for run in store.list_runs(sweep="shared")}
    assert sorted(runs) == sorted(row.run_id for row in result.trials)  # every trial is a run, and only those
    for row in result.trials:
        run = runs[row.run_id]
        assert (run.status, run.sweep, run.trial) == ("completed", "shared", row.number)
        assert run.config["optim"]["lr"] == row.params["optim.lr"]  # the run trained the trial's config
        assert run.config["model"]["args"]["hidden"] == row.params["model.args.hidden"]
        assert run.summary["val_accuracy"]["final"] == pytest.approx(row.value)
    assert len({run.pid for run in runs.values()} - {os.getpid()}) == 2  # two worker processes did the work
    assert result.best.value == max(row.value for row in result.trials)
    with sqlite3.connect(shendu_home / "shendu.db") as raw:  # one file holds the study and the runs
        tables = {name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"studies", "trials", "alembic_version", "runs", "shendu_alembic_version"} <= tables

    joined = sweep(TINY, SPACE, trials=1, study="shared", progress=False)  # another machine joining by name
    assert [row.number for row in joined.trials] == [0, 1, 2, 3, 4]
    with pytest.raises(BadInputError, match="already exists and maximizes; pass --direction maximize"):
        sweep(TINY, SPACE, trials=1, study="shared", metric="val_accuracy", direction="minimize", progress=False)
    with pytest.raises(BadInputError, match="already exists with space"):
        sweep(TINY, {"optim.lr": SPACE["optim.lr"]}, trials=1, study="shared", progress=False)


def test_two_workers_share_one_postgresql_study() -> None:
    """Several machines join a study by URL and name; here two worker processes on one PostgreSQL database."""
    import uuid

    from tests.conftest import pg_url

    url = pg_url()
    name = f"pg-{uuid.uuid4().hex[:8]}"
    config = {**TINY, "track": {"db": url}}  # runs and study in the same PostgreSQL database
    result = sweep(config, SPACE, trials=2, workers=2, study=name, progress=False)
    assert [row.state for row in result.trials] == ["COMPLETE", "COMPLETE"]
    runs = open_store(url).list_runs(sweep=name)
    assert sorted(run.id for run in runs) == sorted(row.run_id for row in result.trials)
    assert len({run.pid for run in runs}) == 2


def test_a_bad_trial_is_pruned_after_its_first_epoch() -> None:
    import optuna

    study = optuna.create_study(study_name="prune", storage=open_storage(open_store().url), direction="maximize")
    study.enqueue_trial({"optim.lr": 0.05})  # learns: sets the median
    study.enqueue_trial({"optim.lr": 1e-5})  # barely moves: below the median after epoch 1
    config = {**TINY, "train": {**TINY["train"], "epochs": 2}}
    space = {"optim.lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": True}}
    result = sweep(config, space, trials=2, study="prune", prune=optuna.pruners.MedianPruner(n_startup_trials=1),
                   progress=False)

    good, bad = result.trials
    assert (good.state, bad.state) == ("COMPLETE", "PRUNED")
    run = open_store().get_run(bad.run_id)
    assert (run.status, run.sweep, run.trial) == ("failed", "prune", 1)
    assert "pruned after epoch 1 by MedianPruner: val_accuracy" in run.error
    assert [r["epoch"] for r in open_store().metric_history(run.id, "val_accuracy")] == [1]  # epoch 2 never ran
    assert result.best.run_id == good.run_id


def test_pruning_hook_reports_each_epoch_and_says_why_it_stops() -> None:
    import optuna

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    first = study.ask()
    hook = pruning_hook(first, "val_accuracy")
    assert hook(1, {"val_accuracy": 0.9}) is None and hook(2, {"val_accuracy": 0.95}) is None
    study.tell(first, 0.95)
    assert study.trials[0].intermediate_values == {1: 0.9, 2: 0.95}

    second = pruning_hook(study.ask(), "val_accuracy")
    assert second(1, {"train_loss": 2.0}) is None  # the metric is not there: nothing to report
    assert second(1, {"val_accuracy": 0.1}).startswith("pruned after epoch 1 by MedianPruner: val_accuracy 0.1")


def test_epoch_hook_stops_the_run_and_records_why() -> None:
    calls = []

    def on_epoch(epoch: int, metrics: dict[str, float]) -> str | None:
        calls.append((epoch, sorted(metrics)))
        return "pruned: test says stop" if epoch == 1 else None

    trainer = HookedTrainer({**TINY, "train": {**TINY["train"], "epochs": 3}}, progress=False, on_epoch=on_epoch)
    with pytest.raises(RunStopped, match="test says stop"):
        trainer.fit()
    assert calls == [(1, ["lr", "train_accuracy", "train_loss", "val_accuracy", "val_loss", "val_top5_accuracy"])]
    run = open_store().get_run(trainer.last_run_id)
    assert run.status == "failed" and run.error == "RunStopped: pruned: test says stop"


def test_sweep_cli_json_last_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, space = tmp_path / "tiny.yaml", tmp_path / "space.yaml"
    config.write_text(yaml.safe_dump(TINY))
    space.write_text("optim.lr: {type: float, low: 1e-3, high: 1e-1, log: true}\n")  # YAML reads 1e-3 as text
    assert main(["sweep", str(config), "--space", str(space), "--trials", "1", "--study", "cli", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out) == {"study", "best", "trials"} and (out["study"], out["trials"]) == ("cli", 1)
    assert set(out["best"]) == {"value", "params", "run_id"}
    assert 1e-3 <= out["best"]["params"]["optim.lr"] <= 1e-1
    assert open_store().get_run(out["best"]["run_id"]).sweep == "cli"
    assert load_sweep("cli").best.run_id == out["best"]["run_id"]


BAD_SPACES = [
    ({"optim.lrr": {"type": "float", "low": 0.001, "high": 0.1}},
     "optim.lrr (low = 0.001): unknown key 'optim.lrr' — did you mean 'optim.lr'?"),
    ({"model.args.hiddn": {"type": "int", "low": 16, "high": 64}},
     "model 'mlp' has no argument 'model.args.hiddn' — did you mean 'hidden'?"),
    ({"optim.lr": {"type": "float", "low": 0.001, "high": 20}},
     "optim.lr (high = 20.0): optim.lr: input should be less than or equal to 10"),
    ({"optim.name": {"type": "categorical", "choices": ["adam", "sgdd"]}},
     "optim.name (choice 'sgdd'): optim.name: unknown value 'sgdd' — did you mean 'sgd'?"),
    ({"optim.lr": {"type": "flot", "low": 0.001, "high": 0.1}},
     "optim.lr: type 'flot' is not a distribution — did you mean 'float'? (valid: float, int, categorical)"),
    ({"optim.lr": {"type": "float", "low": 0.1, "high": 0.001}}, "optim.lr: low (0.1) is above high (0.001)"),
    ({"optim.lr": {"type": "float", "low": 0, "high": 0.1, "log": True}},
     "optim.lr: a log scale needs low > 0, received low=0"),
    ({"model.args.hidden": {"type": "int", "low": 16, "high": 64, "lg": True}},
     "model.args.hidden: unknown field 'lg' for an int distribution — did you mean 'log'?"),
    ({"model.args.hidden": {"type": "int", "low": 16.5, "high": 64}}, "must be a whole number, received 16.5"),
    ({"train.batch_size": {"type": "categorical", "choices": []}}, "needs a non-empty list 'choices'"),
    ({"optim.lr": 0.01}, "optim.lr: expected a distribution such as {type: float"),
    (["optim.lr"], "expected a mapping of dotted config keys to distributions"),
]


@pytest.mark.parametrize(("raw", "message"), BAD_SPACES, ids=[m[:30] for _, m in BAD_SPACES])
def test_bad_space_says_what_is_wrong(raw, message: str) -> None:
    config = ExperimentConfig.from_dict(TINY)
    with pytest.raises(BadInputError) as caught:
        SearchSpace.from_dict(raw, "space.yaml").check(config)
    assert str(caught.value).startswith("invalid search space in space.yaml:\n  - ")
    assert message in str(caught.value)


def test_bad_space_file_and_metric_exit_2_before_any_trial(tmp_path: Path, capsys) -> None:
    config, space = tmp_path / "tiny.yaml", tmp_path / "space.yaml"
    config.write_text(yaml.safe_dump(TINY))
    space.write_text("optim.lr: {type: float, low: 0.001, high: 0.1}\ntrain.epochz: {type: int, low: 1, high: 2}\n")
    assert main(["sweep", str(config), "--space", str(space), "--trials", "1"]) == 2
    assert "unknown key 'train.epochz' — did you mean 'train.epochs'?" in capsys.readouterr().err
    assert main(["sweep", str(config), "--space", str(tmp_path / "nowhere.yaml")]) == 2
    assert "search space file not found" in capsys.readouterr().err
    space.write_text("optim.lr: {type: float, low: 0.001, high: 0.1}\n")
    assert main(["sweep", str(config), "--space", str(space), "--metric", "test_accuracy"]) == 2
    assert "test_* metrics would tune on the test split" in capsys.readouterr().err
    assert open_store().list_runs() == []


def test_example_space_fits_the_example_config() -> None:
    from tests.conftest import REPO

    space = SearchSpace.load(REPO / "examples" / "sweep-space.yaml")
    space.check(ExperimentConfig.load(REPO / "examples" / "digits-lenet.yaml"))
    assert [p.key for p in space.params][:2] == ["optim.lr", "optim.weight_decay"]
    assert space.params[0].low == pytest.approx(1e-4) and space.params[0].log
