"""Several processes on one run database: WAL, crashed runs reaped, no row lost under contention."""
from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from shendu.errors import BadInputError
from shendu.track import RunStore, _env

PROCS = Path(__file__).with_name("_procs.py")
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")


def _new_run(store: RunStore) -> str:
    return store.create_run(config={"train": {"epochs": 1}}, seed=0, model="mlp", dataset="mnist")


def test_sqlite_file_is_in_wal_mode(store: RunStore, shendu_home: Path) -> None:
    _new_run(store)
    with sqlite3.connect(shendu_home / "shendu.db") as raw:  # a fresh connection sees the file's mode
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with store._writer.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_process_run_is_reported_failed(store: RunStore) -> None:
    child = subprocess.Popen([sys.executable, str(PROCS), "sleeper", store.url], stdout=subprocess.PIPE, text=True)
    try:
        run_id = child.stdout.readline().strip()
        assert run_id, f"the child printed no run id (exit code {child.poll()})"
        alive = store.get_run(run_id)
        assert (alive.status, alive.pid) == ("running", child.pid)  # a live run is left alone
        with pytest.raises(BadInputError, match="still running"):
            store.claim(run_id)
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10  # not waited for yet: a zombie counts as gone too
        while (run := _by_id(store, run_id)).status == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert run.status == "failed"
    assert run.error.startswith(f"crashed: process {child.pid} on {run.host} is gone (last heartbeat ")
    assert run.ended_at is not None
    store.claim(run_id)  # and it can be resumed
    resumed = store.get_run(run_id)
    assert (resumed.status, resumed.error, resumed.pid) == ("running", None, os.getpid())
    assert any(note.startswith("resumed ") for note in resumed.notes)


def _by_id(store: RunStore, run_id: str):
    return {run.id: run for run in store.list_runs()}[run_id]


@needs_proc
def test_reused_pid_counts_as_gone(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    me = _env.this_process()
    with monkeypatch.context() as patch:  # the run was recorded by an earlier process with our pid
        patch.setattr(_env, "this_process", lambda: _env.ProcessId(me.host, me.pid, me.start - 1))
        run_id = _new_run(store)
    assert store.reap_stale() == [run_id]
    assert store.get_run(run_id).status == "failed"


def test_other_host_is_gone_after_silence(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(_env, "this_process", lambda: _env.ProcessId("gpu-box-7", 4242, None))
        run_id = _new_run(store)
    assert store.reap_stale(max_silence_s=600) == []  # heard from just now
    assert store.reap_stale(max_silence_s=0) == [run_id]
    assert store.get_run(run_id).error.startswith("crashed: process 4242 on gpu-box-7 is gone")


def test_live_run_reaped_by_mistake_recovers_on_heartbeat(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _new_run(store)
    with monkeypatch.context() as patch:  # e.g. a reader on another host during a very long epoch
        patch.setattr(_env, "pid_alive", lambda pid, start: False)
        assert store.reap_stale() == [run_id]
    store.heartbeat(run_id)
    run = store.get_run(run_id)
    assert (run.status, run.error, run.ended_at) == ("running", None, None)


def test_concurrent_processes_lose_no_row(any_store: RunStore, tmp_path: Path) -> None:
    store, rows, workers = any_store, 200, 4
    run_id, go = _new_run(store), tmp_path / "go"
    children = [subprocess.Popen([sys.executable, str(PROCS), "writer", store.url, run_id, str(k), str(rows), str(go)],
                                 stderr=subprocess.PIPE, text=True) for k in range(workers)]
    go.touch()
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err  # e.g. "database is locked"
    history = store.metric_history(run_id)
    assert len(history) == rows * workers
    expected_values = [float((i * 37) % 200) for i in range(rows)]
    for k in range(workers):
        mine = [h for h in history if h["name"] == f"w{k}_loss"]
        assert [h["step"] for h in mine] == list(range(rows))
        assert [h["value"] for h in mine] == expected_values
    summary = store.get_run(run_id).summary  # read-modify-write of the summary lost nothing either
    assert summary == {f"w{k}_loss": {"final": expected_values[-1], "best": 0.0} for k in range(workers)}


def test_concurrent_threads_share_one_writer(store: RunStore) -> None:
    run_id, errors = _new_run(store), []

    def log(k: int) -> None:
        try:
            for i in range(50):
                store.log_metrics(run_id, {f"t{k}_accuracy": i / 50}, step=i)
                store.get_run(run_id)  # readers run alongside
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=log, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.metric_history(run_id)) == 400
    assert store.get_run(run_id).summary["t3_accuracy"] == {"final": 0.98, "best": 0.98}


def _fork_child(store: RunStore, run_id: str) -> None:
    # Sharing the parent's SQLite/PostgreSQL connection across fork corrupts locks and protocol state.
    assert store._writer.pool.checkedin() == 0, "the forked child inherited the parent's pooled connection"
    store.log_metrics(run_id, {"child_loss": 1.0})


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_forked_child_gets_its_own_connections(store: RunStore) -> None:
    run_id = _new_run(store)
    store.log_metrics(run_id, {"parent_loss": 2.0})  # the parent's writer connection is now pooled
    child = multiprocessing.get_context("fork").Process(target=_fork_child, args=(store, run_id))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    store.log_metrics(run_id, {"parent_loss": 1.5})
    assert sorted(store.get_run(run_id).summary) == ["child_loss", "parent_loss"]


def _open_new_database(path: str, barrier: Any) -> None:
    from shendu.track._engine import make_engines, parse_url

    _, reader = make_engines(parse_url(f"sqlite:///{path}"))
    barrier.wait()  # every process connects (and switches the new file to WAL) at the same moment
    with reader.connect() as connection:
        connection.exec_driver_sql("SELECT 1")


def test_processes_opening_a_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    # The CI failure this guards against: two `shendu train` processes started together on a fresh
    # database; both switched it to WAL at once and SQLite failed one with "database is locked"
    # without waiting (deadlock avoidance skips the busy handler). Before the retry, about one
    # round in four of three processes failed; 40 rounds make a regression all but certain to show.
    context = multiprocessing.get_context("fork")
    for round_ in range(40):
        barrier = context.Barrier(3)
        children = [context.Process(target=_open_new_database, args=(str(tmp_path / f"{round_}.db"), barrier))
                    for _ in range(3)]
        for child in children:
            child.start()
        for child in children:
            child.join(60)
        assert [child.exitcode for child in children] == [0, 0, 0], f"round {round_}"
