"""The job queue with real worker subprocesses: jobs persist in the run database, a dead worker fails its job
with its log, stop and resume continue the same run, a studio killed mid-job loses nothing, and a studio bound
beyond loopback refuses requests without its token."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shendu.config import ExperimentConfig
from shendu.studio import JobQueue
from shendu.studio._jobs import JobRow
from shendu.track import open_store
from tests.studio.conftest import FAST_JOB, Studio, wait_for


def digits_config(epochs: int) -> dict:
    return ExperimentConfig.from_dict({"data": {"name": "digits"}, "model": {"name": "lenet5"},
                                       "optim": {"lr": 0.01}, "train": {"epochs": epochs, "batch_size": 32},
                                       "track": {"tensorboard": False}}).to_dict()


def test_jobs_persist_in_the_run_database(shendu_home: Path) -> None:
    first = JobQueue(open_store())
    a, b = first.submit(digits_config(1), "a"), first.submit(digits_config(1), "b")
    first.stop(b.id)
    again = JobQueue(open_store())  # a restarted studio reads the same table
    assert [(j.id, j.name, j.status) for j in again.list()] == [(b.id, "b", "stopped"), (a.id, "a", "queued")]
    assert (shendu_home / "studio" / "jobs" / str(a.id) / "config.yaml").is_file()
    with pytest.raises(ValueError, match="only a stopped or failed job"):
        again.resume(a.id)


def test_jobs_queue_on_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import pg_url

    monkeypatch.setenv("SHENDU_DB", pg_url())
    queue = JobQueue(open_store())
    job = queue.submit(digits_config(1), "pg")
    assert queue.stop(job.id).status == "stopped"
    assert queue.resume(job.id).status == "queued"
    listed = {j.id: j for j in JobQueue(open_store()).list(limit=10_000)}
    assert listed[job.id].name == "pg" and listed[job.id].config["track"]["tags"] == [f"studio-job-{job.id}"]
    queue.stop(job.id)  # leave nothing queued for another test's supervisor


def test_an_adopted_worker_that_is_gone_fails_its_job_with_its_log(shendu_home: Path) -> None:
    queue = JobQueue(open_store())
    job = queue.submit(digits_config(1))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    Path(job.log_path).write_text("epoch 1/1\nSegmentation fault (core dumped)\n", encoding="utf-8")
    with queue._write_sessions.begin() as session:  # what a studio that died mid-job leaves behind
        row = session.get(JobRow, job.id)
        row.status, row.pid, row.proc_start = "running", gone.pid, None
    JobQueue(open_store(), workers=1).tick()  # the next studio, before it launches anything
    failed = queue.get(job.id)
    assert failed.status == "failed"
    assert "worker process is gone" in failed.error and "Segmentation fault" in failed.error


@pytest.mark.slow
def test_a_killed_worker_fails_its_job_and_resume_continues_the_run(shendu_home: Path) -> None:
    store = open_store()
    queue = JobQueue(store, workers=1, poll_s=0.3)
    job = queue.submit(digits_config(40), "long")
    queue.start()
    try:
        run_id = wait_for(lambda: queue.get(job.id).run_id, 120, "the worker's run to appear")
        wait_for(lambda: store.metric_history(run_id, "val_loss"), 120, "a first epoch")
        os.kill(queue.get(job.id).pid, signal.SIGKILL)  # no chance to clean up: as an OOM kill would do
        failed = wait_for(lambda: (j := queue.get(job.id)).status == "failed" and j, 60, "the job to fail")
        assert "exit code -9" in failed.error and "train" in failed.error  # the command line from the log
        resumed = queue.resume(job.id)
        assert resumed.status == "queued"
        wait_for(lambda: queue.get(job.id).status == "running", 60, "the resumed job to start")
        assert "--resume" in Path(failed.log_path).read_text(encoding="utf-8")
        epochs_before = len(store.metric_history(run_id, "val_loss"))
        wait_for(lambda: len(store.metric_history(run_id, "val_loss")) > epochs_before, 120, "a resumed epoch")
        stopped = queue.stop(job.id)
        assert stopped.stop_requested
        final = wait_for(lambda: (j := queue.get(job.id)).status in ("stopped", "failed", "completed") and j, 60,
                         "the stop to take effect")
        assert final.status == "stopped" and final.run_id == run_id
        epochs = [row["epoch"] for row in store.metric_history(run_id, "val_loss")]
        assert epochs == list(range(1, len(epochs) + 1))  # no epoch twice, none lost across the kill
    finally:
        queue.close()
        current = queue.get(job.id)
        if current.status == "running" and current.pid:
            os.killpg(current.pid, signal.SIGKILL)


@pytest.mark.slow
def test_studio_restart_mid_job_loses_nothing(shendu_home: Path) -> None:
    studio = Studio(shendu_home, "--workers", "1")
    try:
        status, first = studio.request("/api/jobs", {**FAST_JOB, "train.epochs": "3", "name": "first"})
        assert status == 201, first
        status, second = studio.request("/api/jobs", {**FAST_JOB, "train.epochs": "1", "name": "second"})
        assert status == 201, second
        wait_for(lambda: studio.get(f"/api/jobs/{first['id']}")["run_id"], 120, "the first job's run")
        pid = studio.get(f"/api/jobs/{first['id']}")["pid"]
        studio.stop(hard=True)  # the studio crashes mid-job
        os.kill(pid, 0)  # the worker trains on: it runs in a session of its own
        studio = Studio(shendu_home, "--workers", "1")
        jobs = {j["name"]: j for j in studio.get("/api/jobs")}
        assert jobs["first"]["status"] == "running" and jobs["second"]["status"] == "queued"
        done = wait_for(lambda: all(j["status"] in ("completed", "failed") for j in studio.get("/api/jobs")), 300,
                        "both jobs to finish")
        assert done
        jobs = {j["name"]: j for j in studio.get("/api/jobs")}
        assert [jobs[n]["status"] for n in ("first", "second")] == ["completed", "completed"], jobs
        store = open_store()
        for name, epochs in (("first", 3), ("second", 1)):
            run = store.get_run(jobs[name]["run_id"])
            assert run.status == "completed" and run.package
            assert [r["epoch"] for r in store.metric_history(run.id, "val_loss")] == list(range(1, epochs + 1))
    finally:
        studio.stop()


def test_beyond_loopback_a_token_is_generated_and_required(shendu_home: Path) -> None:
    studio = Studio(shendu_home, host="0.0.0.0")
    try:
        token = re.search(r"token=([\w-]+)", studio.output()).group(1)
        status, body = studio.request("/api/jobs")
        assert status == 401 and "needs its token" in body["detail"]
        status, body = studio.request("/api/jobs", token="not-" + token)
        assert status == 401 and "Wrong token" in body["detail"]
        assert studio.request("/api/jobs", token=token) == (200, [])
    finally:
        studio.stop()


def test_given_token_is_used_on_loopback_too(shendu_home: Path) -> None:
    studio = Studio(shendu_home, "--token", "abc123")
    try:
        assert studio.request("/api/datasets")[0] == 401
        assert studio.request("/api/datasets", token="abc123")[0] == 200
        assert "abc123" in studio.output()  # the address to open is printed with it
    finally:
        studio.stop()
