"""The run store as a trainer and the CLI use it: records round-trip, summaries, id lookup, errors."""
from __future__ import annotations

import os
import pickle
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from shendu import __version__
from shendu.errors import BadInputError, RunNotFoundError
from shendu.track import RunRecord, RunStore, open_store
from shendu.track import _store

CONFIG = {
    "model": {"name": "lenet5", "args": {"dropout": 0.25}},
    "data": {"name": "mnist", "val_fraction": 0.1, "mirror": None},
    "optim": {"name": "sgd", "lr": 0.05, "nesterov": True},
    "train": {"epochs": 2, "seed": 7, "milestones": [1, 2]},
    "track": {"name": "深度 baseline"},
}


def _new_run(store: RunStore, **overrides) -> str:
    kwargs = dict(config=CONFIG, seed=7, model="lenet5", dataset="mnist")
    return store.create_run(**{**kwargs, **overrides})


def test_round_trip(any_store: RunStore) -> None:
    before = datetime.now(timezone.utc)
    run_id = _new_run(any_store, name="baseline", notes=["partial: 4,000 of 50,000"])
    run = any_store.get_run(run_id)
    assert isinstance(run, RunRecord)
    assert (run.id, run.status, run.name, run.seed, run.model, run.dataset) == (
        run_id, "running", "baseline", 7, "lenet5", "mnist")
    assert run.config == CONFIG  # verbatim, nested JSON and unicode included
    assert run.notes == ["partial: 4,000 of 50,000"]
    assert (run.host, run.pid) == (socket.gethostname(), os.getpid())
    assert run.code_version.startswith(__version__)
    assert run.hardware["python"] and run.hardware["cpu_count"] >= 1 and run.hardware["torch"]
    assert run.created_at.tzinfo is not None and run.created_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= run.created_at <= datetime.now(timezone.utc)
    assert run.heartbeat_at >= run.created_at and run.ended_at is None and run.error is None

    any_store.log_metrics(run_id, {"train_loss": 0.9, "val_accuracy": 0.6}, epoch=1)
    any_store.add_artifact(run_id, "checkpoint", "/tmp/ckpt.pt", {"epoch": 1})
    any_store.set_package(run_id, "/tmp/packages/pkg")
    any_store.add_notes(run_id, ["split: seed 0", "partial: 4,000 of 50,000"])
    any_store.finish(run_id, "completed")

    run = any_store.get_run(run_id)
    assert run.status == "completed" and run.ended_at >= run.started_at
    assert run.package == "/tmp/packages/pkg"
    assert run.notes == ["partial: 4,000 of 50,000", "split: seed 0"]  # no duplicate note
    assert [(a["kind"], a["path"], a["meta"]) for a in run.artifacts] == [("checkpoint", "/tmp/ckpt.pt", {"epoch": 1})]
    assert run.summary == {"train_loss": {"final": 0.9, "best": 0.9}, "val_accuracy": {"final": 0.6, "best": 0.6}}
    assert run_id in [r.id for r in any_store.list_runs(status="completed")]
    assert run_id not in [r.id for r in any_store.list_runs(status="running")]


def test_list_runs_newest_first_with_limit(store: RunStore) -> None:
    ids = [_new_run(store) for _ in range(3)]
    assert [r.id for r in store.list_runs()] == ids[::-1]
    assert [r.id for r in store.list_runs(limit=2)] == ids[:0:-1]


def test_summary_final_and_best(store: RunStore) -> None:
    run_id = _new_run(store)
    for epoch, (loss, acc) in enumerate([(1.0, 0.5), (0.4, 0.9), (0.7, 0.8)], start=1):
        store.log_metrics(run_id, {"train_loss": loss, "val_accuracy": acc}, epoch=epoch)
    summary = store.get_run(run_id).summary
    assert summary["train_loss"] == {"final": 0.7, "best": 0.4}  # lower is better
    assert summary["val_accuracy"] == {"final": 0.8, "best": 0.9}  # higher is better


def test_metric_history_order(store: RunStore) -> None:
    run_id = _new_run(store)
    store.log_metrics(run_id, {"loss": 3.0}, epoch=2, step=0)
    store.log_metrics(run_id, {"loss": 2.0}, epoch=1, step=5)
    store.log_metrics(run_id, {"loss": 1.0, "accuracy": 0.5}, epoch=1, step=1)
    history = store.metric_history(run_id, "loss")
    assert [(h["epoch"], h["step"], h["value"]) for h in history] == [(1, 1, 1.0), (1, 5, 2.0), (2, 0, 3.0)]
    assert len(store.metric_history(run_id[:12])) == 4


def test_prefix_lookup_and_ambiguity(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = iter(["20260101-000000-aaaaaa", "20260101-000000-aabbbb"])
    monkeypatch.setattr(_store, "new_run_id", lambda now=None: next(ids))
    first, second = _new_run(store), _new_run(store)
    assert store.get_run("20260101-000000-aaa").id == first
    assert store.get_run("20260101-000000-AAB").id == second  # ids are lowercase; prefixes are not fussy
    assert store.get_run(first).id == first
    with pytest.raises(BadInputError, match="ambiguous") as info:
        store.get_run("20260101-000000-a")
    assert first in str(info.value) and second in str(info.value) and "more characters" in str(info.value)
    with pytest.raises(RunNotFoundError):
        store.get_run("20260101-000000-%")  # LIKE wildcards in a prefix are literal


def test_unknown_run_message(store: RunStore, shendu_home: Path) -> None:
    expected = f"no run 'nope' in sqlite:///{shendu_home / 'shendu.db'}; list runs with: shendu runs list"
    with pytest.raises(RunNotFoundError) as info:
        store.get_run("nope")
    assert str(info.value) == expected
    assert isinstance(info.value, BadInputError)  # CLI exit code 2
    for call in (lambda: store.claim("nope"), lambda: store.log_metrics("nope", {"loss": 1.0}),
                 lambda: store.finish("nope", "failed"), lambda: store.heartbeat("nope")):
        with pytest.raises(RunNotFoundError, match="no run 'nope'"):
            call()


def test_bad_inputs_say_what_to_do(store: RunStore) -> None:
    run_id = _new_run(store)
    with pytest.raises(BadInputError, match="finite numbers only"):
        store.log_metrics(run_id, {"loss": float("nan")})
    with pytest.raises(BadInputError, match="must be a number"):
        store.log_metrics(run_id, {"loss": "low"})
    with pytest.raises(BadInputError, match=r"convert Paths with str\(\)"):
        _new_run(store, config={"out": Path("/tmp")})
    with pytest.raises(BadInputError, match="valid: running, completed, failed"):
        store.list_runs(status="done")
    with pytest.raises(BadInputError, match="'completed' or 'failed'"):
        store.finish(run_id, "done")
    assert store.metric_history(run_id) == []  # nothing half-written


def test_claim_resumes_a_failed_run(store: RunStore) -> None:
    run_id = _new_run(store)
    store.finish(run_id, "failed", error="interrupted")
    failed = store.get_run(run_id)
    assert (failed.status, failed.error) == ("failed", "interrupted") and failed.ended_at is not None
    store.claim(run_id)
    run = store.get_run(run_id)
    assert (run.status, run.error, run.ended_at, run.pid) == ("running", None, None, os.getpid())
    assert run.heartbeat_at >= failed.ended_at


def test_open_store_is_one_store_per_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store()
    assert open_store() is store and open_store(store.url) is store
    assert pickle.loads(pickle.dumps(store)) is store  # a store sent to a spawned process reopens by URL
    monkeypatch.setenv("SHENDU_DB", f"sqlite:///{tmp_path / 'elsewhere' / 'runs.db'}")
    other = open_store()
    assert other is not store and (tmp_path / "elsewhere" / "runs.db").exists()


def test_rewind_drops_epochs_after_the_checkpoint_and_rebuilds_summary(store):
    run_id = store.create_run(config={}, seed=0, model="m", dataset="d")
    for epoch, (loss, acc) in enumerate([(1.0, 0.5), (0.5, 0.7), (0.1, 0.9)], start=1):
        store.log_metrics(run_id, {"val_loss": loss, "val_accuracy": acc}, epoch=epoch)
    assert store.rewind(run_id, after_epoch=1) == 4
    record = store.get_run(run_id)
    assert record.summary == {"val_loss": {"final": 1.0, "best": 1.0}, "val_accuracy": {"final": 0.5, "best": 0.5}}
    assert [row["epoch"] for row in store.metric_history(run_id, "val_loss")] == [1]
