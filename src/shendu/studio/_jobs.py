"""The studio's job queue: training jobs persisted in the run database, run by worker subprocesses.

A job is a row of `studio_jobs` (Alembic revision 0005): queued → running → completed | failed | stopped.
A supervisor thread in the studio process launches up to `workers` queued jobs at once, each as
`python -m shendu.cli train CONFIG --json` (or `--resume RUN --json`) with stdout and stderr in a log file
under `SHENDU_HOME/studio/jobs/<id>/`. Workers start in a session of their own, so they outlive a studio
that is stopped or killed: a restarted studio adopts the running jobs whose worker is alive (checked by pid
and the pid's start time), and marks failed, with the tail of their log, those whose worker is gone.

Each job's config carries the tag `studio-job-<id>`, so the run the worker creates is found in the run store
while it trains (for live charts) without parsing the worker's output.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from shendu import _settings
from shendu.errors import BadInputError
from shendu.track import RunStore
from shendu.track._env import pid_alive, this_process
from shendu.track._schema import UTCDateTime, utcnow

STATUSES = ("queued", "running", "completed", "failed", "stopped")
FINISHED = ("completed", "failed", "stopped")
LOG_TAIL_LINES = 30
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


class JobBase(DeclarativeBase):
    """Declarative base of the studio's table (separate from the run store's `Base`)."""


class JobRow(JobBase):
    """One training job of the studio (see the module docstring)."""

    __tablename__ = "studio_jobs"
    __table_args__ = (Index("ix_studio_jobs_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(_ROW_ID, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    resume: Mapped[bool] = mapped_column(Boolean, default=False)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    run_id: Mapped[str | None] = mapped_column(String(32))
    pid: Mapped[int | None] = mapped_column(Integer)
    proc_start: Mapped[int | None] = mapped_column(BigInteger)
    host: Mapped[str | None] = mapped_column(String(255))
    log_path: Mapped[str] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Job:
    """A snapshot of one job (plain data for pages and the JSON API)."""

    id: int
    status: str
    name: str | None
    config: dict[str, Any]
    run_id: str | None
    pid: int | None
    error: str | None
    log_path: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    stop_requested: bool

    @classmethod
    def of(cls, row: JobRow) -> Job:
        return cls(row.id, row.status, row.name, dict(row.config), row.run_id, row.pid, row.error, row.log_path,
                   row.created_at, row.started_at, row.ended_at, bool(row.stop_requested))

    @property
    def model(self) -> str:
        return str((self.config.get("model") or {}).get("name", "?"))

    @property
    def dataset(self) -> str:
        return str((self.config.get("data") or {}).get("name", "?"))

    def to_json(self) -> dict[str, Any]:
        times = {k: (v.isoformat() if v else None) for k, v in
                 (("created_at", self.created_at), ("started_at", self.started_at), ("ended_at", self.ended_at))}
        return {"id": self.id, "status": self.status, "name": self.name, "model": self.model,
                "dataset": self.dataset, "run_id": self.run_id, "pid": self.pid, "error": self.error,
                "stop_requested": self.stop_requested, "config": self.config, **times}


def job_tag(job_id: int) -> str:
    """The tag that links a job to the run its worker creates."""
    return f"studio-job-{job_id}"


class JobQueue:
    """Training jobs in the run database and the worker subprocesses that run them.

    Args:
        store: the run store; the queue shares its engines (one writer connection per process).
        workers: how many jobs train at once.
        home: where job folders (config, log) go; default `SHENDU_HOME/studio/jobs`.
        poll_s: how often the supervisor looks at workers and the queue.
    """

    def __init__(self, store: RunStore, *, workers: int = 1, home: Path | None = None, poll_s: float = 0.5) -> None:
        if workers < 1:
            raise BadInputError(f"workers: expected at least 1 parallel training job, received {workers}")
        self.store, self.workers, self.poll_s = store, workers, poll_s
        self.home = home or _settings.home() / "studio" / "jobs"
        # The run store owns the process's single writer connection (house rule 10): share it, don't open another.
        self._write_sessions = sessionmaker(store._writer, expire_on_commit=False)
        self._read_sessions = sessionmaker(store._reader, expire_on_commit=False)
        self._children: dict[int, subprocess.Popen] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- submitting and controlling ---------------------------------------------------------------------
    def submit(self, config: dict[str, Any], name: str | None = None) -> Job:
        """Queue a training job for a validated experiment config (`ExperimentConfig.to_dict()`)."""
        with self._write_sessions.begin() as session:
            row = JobRow(status="queued", name=name, config=config, resume=False, stop_requested=False,
                         log_path="", created_at=utcnow())
            session.add(row)
            session.flush()
            folder = self.home / str(row.id)
            track = dict(config.get("track") or {})
            track["tags"] = [*track.get("tags", []), job_tag(row.id)]
            if name:
                track["name"] = name
            row.config = {**config, "track": track}
            row.log_path = str(folder / "train.log")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.yaml").write_text(yaml.safe_dump(row.config, allow_unicode=True, sort_keys=False),
                                            encoding="utf-8")
        return Job.of(row)

    def stop(self, job_id: int) -> Job:
        """Stop a job: a queued one never starts; a running one gets SIGTERM (its run keeps its checkpoint)."""
        with self._write_sessions.begin() as session:
            row = self._row(session, job_id)
            if row.status in FINISHED:
                raise BadInputError(f"job {job_id} is already {row.status}; only queued or running jobs can be "
                                    f"stopped / 任务 {job_id} 已结束（{row.status}）")
            row.stop_requested = True
            if row.status == "queued":
                row.status, row.ended_at, row.error = "stopped", utcnow(), "stopped before it started"
            pid, start = row.pid, row.proc_start
        if pid and pid_alive(pid, start):
            try:
                os.killpg(pid, signal.SIGTERM)  # the worker leads its own session: reach torchrun children too
            except ProcessLookupError:
                pass
        return self.get(job_id)

    def resume(self, job_id: int) -> Job:
        """Queue a stopped or failed job again; it continues its run from the last checkpoint."""
        with self._write_sessions.begin() as session:
            row = self._row(session, job_id)
            if row.status not in ("stopped", "failed"):
                raise BadInputError(f"job {job_id} is {row.status}; only a stopped or failed job can be resumed "
                                    f"/ 只能继续已停止或失败的任务")
            row.status, row.stop_requested, row.error, row.ended_at = "queued", False, None, None
            row.resume = row.run_id is not None  # stopped before its run existed: start it afresh
            row.pid = row.proc_start = None
        return self.get(job_id)

    # -- reading -----------------------------------------------------------------------------------------
    def get(self, job_id: int) -> Job:
        with self._read_sessions() as session:
            return Job.of(self._row(session, job_id))

    def list(self, limit: int = 200) -> list[Job]:
        with self._read_sessions() as session:
            rows = session.scalars(select(JobRow).order_by(JobRow.id.desc()).limit(limit)).all()
            return [Job.of(r) for r in rows]

    def log(self, job_id: int, max_bytes: int = 64_000) -> str:
        """The end of the job's log (the whole log when shorter than `max_bytes`)."""
        return _tail_bytes(Path(self.get(job_id).log_path), max_bytes)

    @staticmethod
    def _row(session: Session, job_id: int) -> JobRow:
        row = session.get(JobRow, job_id)
        if row is None:
            raise BadInputError(f"no job {job_id} in the queue; see the jobs page or GET /api/jobs "
                                f"/ 没有编号为 {job_id} 的任务")
        return row

    # -- the supervisor ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the supervisor thread (adopting or failing the jobs a previous studio left running)."""
        self.tick()
        self._thread = threading.Thread(target=self._loop, name="shendu-studio-jobs", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop supervising. Running workers keep training; the next studio adopts them."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 — a database hiccup must not end supervision for good
                print(f"shendu studio: job supervisor error (retrying): {type(exc).__name__}: {exc}",
                      file=sys.stderr)

    def tick(self) -> None:
        """One round: finish jobs whose worker ended, link runs, launch queued jobs into free slots."""
        with self._lock:
            with self._read_sessions() as session:
                running = session.scalars(select(JobRow).where(JobRow.status == "running")).all()
            alive = 0
            for row in running:
                ended, code = self._worker_ended(row)
                if ended:
                    self._finish(row, code)
                    continue
                alive += 1
                if row.run_id is None:
                    self._link_run(row)
            for _ in range(self.workers - alive):
                if not self._launch_next():
                    break

    def _worker_ended(self, row: JobRow) -> tuple[bool, int | None]:
        """(ended, exit code when known): our own children are polled, adopted workers checked by pid."""
        child = self._children.get(row.id)
        if child is not None:
            code = child.poll()
            return code is not None, code
        if row.pid is None:
            return True, None
        return pid_alive(row.pid, row.proc_start) is False, None

    def _link_run(self, row: JobRow) -> None:
        runs = self.store.list_runs(1, where=f"tag={job_tag(row.id)}")
        if runs:
            with self._write_sessions.begin() as session:
                self._row(session, row.id).run_id = runs[0].id

    def _finish(self, row: JobRow, code: int | None) -> None:
        self._children.pop(row.id, None)
        result = _last_json(Path(row.log_path))
        run_id = result.get("run_id") or row.run_id
        if run_id is None:
            runs = self.store.list_runs(1, where=f"tag={job_tag(row.id)}")
            run_id = runs[0].id if runs else None
        ok = (code == 0 if code is not None else True) and result.get("status") == "completed"
        if ok:
            status, error = "completed", None
        elif row.stop_requested:
            status, error = "stopped", "stopped from the studio / 已在工作室中停止"
        else:
            reason = f"exit code {code}" if code is not None else "the worker process is gone"
            status = "failed"
            error = f"{reason}; last lines of {row.log_path}:\n{_tail_lines(Path(row.log_path), LOG_TAIL_LINES)}"
        with self._write_sessions.begin() as session:
            job = self._row(session, row.id)
            job.status, job.error, job.ended_at, job.run_id = status, error, utcnow(), run_id

    def _launch_next(self) -> bool:
        """Claim the oldest queued job and start its worker; False when the queue is empty."""
        with self._write_sessions.begin() as session:
            row = session.scalars(select(JobRow).where(JobRow.status == "queued").order_by(JobRow.id).limit(1)).first()
            if row is None:
                return False
            claimed = session.execute(update(JobRow).where(JobRow.id == row.id, JobRow.status == "queued")
                                      .values(status="running", started_at=utcnow(), ended_at=None, error=None)
                                      .execution_options(synchronize_session=False)).rowcount
            job_id, resume, run_id, log_path = row.id, row.resume, row.run_id, Path(row.log_path)
        if not claimed:
            return True
        args = ["--resume", run_id] if resume and run_id else [str(log_path.parent / "config.yaml")]
        command = [sys.executable, "-m", "shendu.cli", "train", *args, "--json"]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
            log.flush()
            child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._children[job_id] = child
        me = this_process()
        with self._write_sessions.begin() as session:
            job = self._row(session, job_id)
            job.pid, job.proc_start, job.host = child.pid, _start_of(child.pid), me.host
            stop = job.stop_requested  # stopped between the claim and now: it saw no pid to signal
        if stop:
            os.killpg(child.pid, signal.SIGTERM)
        return True


def _start_of(pid: int) -> int | None:
    from shendu.track._env import _proc_stat

    return _proc_stat(pid)[1]


def _tail_bytes(path: Path, max_bytes: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _tail_lines(path: Path, count: int) -> str:
    return "\n".join(_tail_bytes(path, 16_000).splitlines()[-count:])


def _last_json(path: Path) -> dict[str, Any]:
    """The worker's result: the last line of its log that is a JSON object (`shendu train --json`)."""
    for line in reversed(_tail_bytes(path, 64_000).splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return {}
