"""Two real training processes writing to one run database at the same time lose no metric row: on PostgreSQL
(SHENDU_TEST_PG, the issue's must-show) and on the default SQLite file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import pg_url
from shendu.track import RunStore
from shendu.track._schema import RunSummary

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 3
# What one epoch of examples/digits-lenet.yaml logs, and what the test split adds after the last epoch.
PER_EPOCH = {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_top5_accuracy", "lr"}
AT_TEST = {"test_loss", "test_accuracy", "test_top5_accuracy"}


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest, shendu_home: Path) -> str:
    if request.param == "postgresql":
        return pg_url()
    return f"sqlite:///{shendu_home / 'shendu.db'}"


def test_two_training_processes_lose_no_metric_row(db_url: str, shendu_home: Path) -> None:
    env = {**os.environ, "SHENDU_DB": db_url, "SHENDU_HOME": str(shendu_home), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "shendu.cli", "train", "examples/digits-lenet.yaml",
               "--set", f"train.epochs={EPOCHS}", "--json"]
    children = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
    outputs = [child.communicate(timeout=600) for child in children]
    for child, (_, err) in zip(children, outputs):
        assert child.returncode == 0, err[-2000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert [r["status"] for r in results] == ["completed", "completed"]

    store = RunStore(db_url)
    runs = [store.get_run(r["run_id"]) for r in results]
    assert [run.status for run in runs] == ["completed", "completed"] and runs[0].id != runs[1].id
    latest_start, first_end = max(r.started_at for r in runs), min(r.ended_at for r in runs)
    assert latest_start < first_end, "the two runs did not overlap, so nothing was written concurrently"
    for run, result in zip(runs, results):
        history = store.metric_history(run.id)
        assert len(history) == EPOCHS * len(PER_EPOCH) + len(AT_TEST)
        for epoch in range(1, EPOCHS + 1):
            logged = sorted(h["name"] for h in history if h["epoch"] == epoch)
            assert logged == sorted(PER_EPOCH | (AT_TEST if epoch == EPOCHS else set())), f"epoch {epoch}"
        assert {name: v["final"] for name, v in run.summary.items()} == result["metrics"]
        with store._read() as session:  # the summary rows the filters read, written in the same transactions
            rows = session.execute(select(RunSummary.metric, RunSummary.final, RunSummary.best)
                                   .where(RunSummary.run_id == run.id)).all()
        assert {m: {"final": f, "best": b} for m, f, b in rows} == run.summary
    ids = {run.id for run in runs}
    assert {r.id for r in store.list_runs(None, where="model.name=lenet5 and test_accuracy>0")} >= ids
    store.close()
