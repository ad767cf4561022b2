"""The run store: every run's config, seed, code version, hardware, metrics and artifacts.

One `RunStore` per database URL and process (`open_store` caches it), each method its own short
transaction, so trainers, DDP ranks, sweep workers and the CLI can share one SQLite file (WAL) or a
PostgreSQL database. A run left "running" by a process that died is marked failed the next time
anyone lists or reads runs (`reap_stale`), so nothing stays "running" forever.

Listing, filtering and grouping go through `_query.py` (the filter language and how it becomes SQL); the
summary metrics and tags it filters on are rows of `run_summary` and `run_tags`, written here in the same
transactions as the runs they describe.
"""
from __future__ import annotations

import os
import secrets
import shutil
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from shendu import _settings
from shendu.errors import BadInputError, RunNotFoundError, ShenduError
from shendu.track import _checks, _env, _query, _report
from shendu.track._engine import make_engines, parse_url, shown
from shendu.track._migrate import ensure_schema
from shendu.track._schema import (KIND_LEN, NAME_LEN, STATUSES, TAG_LEN, Artifact, Metric, Run, RunSummary, RunTag,
                                  utcnow)

DEFAULT_SILENCE_S = 600.0
CRASHED = "crashed:"


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, human-readable run id: UTC time plus 6 random hex digits, e.g. 20261125-113200-a1b2c3."""
    return f"{(now or utcnow()):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def higher_is_better(metric: str) -> bool:
    """Whether the best value of `metric` is its maximum (accuracies) rather than its minimum (losses)."""
    return "accuracy" in metric.lower()


@dataclass(frozen=True)
class RunRecord:
    """A snapshot of one run as stored, with its artifacts (plain data: `dataclasses.asdict` works)."""

    id: str
    name: str | None
    status: str
    config: dict[str, Any]
    seed: int
    model: str
    dataset: str
    code_version: str
    host: str
    pid: int
    proc_start: int | None
    hardware: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    heartbeat_at: datetime | None
    error: str | None
    notes: list[str]
    summary: dict[str, dict[str, float]]
    package: str | None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    sweep: str | None = None
    trial: int | None = None
    parent: str | None = None
    fold: int | None = None
    tags: list[str] = field(default_factory=list)

    @classmethod
    def from_row(cls, run: Run) -> RunRecord:
        """The record of a loaded `runs` row (its artifacts and tags loaded too)."""
        values = {f.name: getattr(run, f.name) for f in fields(cls) if f.name not in ("artifacts", "tags")}
        values["notes"], values["summary"] = list(run.notes or []), dict(run.summary or {})
        artifacts = [{"id": a.id, "kind": a.kind, "path": a.path, "meta": a.meta or {}, "created_at": a.created_at}
                     for a in run.artifacts]
        return cls(**values, artifacts=artifacts, tags=[t.tag for t in run.tag_rows])


_LOADED = (selectinload(Run.artifacts), selectinload(Run.tag_rows))  # what a RunRecord needs


class RunStore:
    """The run database.

    Args:
        url: a SQLAlchemy URL; default `SHENDU_DB`, else the SQLite file `<SHENDU_HOME>/shendu.db`.
            Prefer `open_store(url)`, which shares one store (one writer connection) per process.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = _settings.db_url(url)
        self._url = parse_url(self.url)
        try:
            self._writer, self._reader = make_engines(self._url)
        except ImportError as exc:
            raise BadInputError(f"the run database {shown(self._url)} needs a driver that is not installed: {exc}; "
                                "install it (for PostgreSQL: pip install 'psycopg[binary]')") from None
        self._write_sessions = sessionmaker(self._writer, expire_on_commit=False)
        self._read_sessions = sessionmaker(self._reader, expire_on_commit=False)
        self._create_tables()
        _ALL_STORES.add(self)

    def __repr__(self) -> str:
        return f"RunStore({shown(self._url)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent to another process (multiprocessing spawn), a store reopens there by URL.
        return open_store, (self.url,)

    def close(self) -> None:
        """Close the pooled connections (the store stays usable and reconnects on demand)."""
        self._writer.dispose()
        if self._reader is not self._writer:
            self._reader.dispose()

    # -- writing -----------------------------------------------------------------------------------
    def create_run(self, *, config: dict, seed: int, model: str, dataset: str, name: str | None = None,
                   notes: list[str] | None = None) -> str:
        """Record a new run of this process, status "running"; returns its id.

        Args:
            config: the resolved experiment config, stored verbatim (must be plain JSON).
            seed: the training seed.
            model: the registered model name.
            dataset: the dataset name.
            name: an optional human label.
            notes: facts a reader of the results must know (e.g. "partial: 4,000 of 50,000").

        The config's `track.tags`, when present, become the run's tags (`tag`, `untag`).
        """
        config = _checks.json_object("config", config)
        track = config.get("track")
        tags = _tags((track.get("tags") or []) if isinstance(track, Mapping) else [], "config track.tags")
        seed_value = _checks.integer("seed", seed)
        model, dataset = _checks.label("model", model), _checks.label("dataset", dataset)
        if name is not None:
            _checks.text("name", name, NAME_LEN)
        note_list = _checks.notes(notes or [])
        hardware, code = dict(_env.hardware()), _env.code_version()  # the first call imports torch: before `now`
        me, now = _env.this_process(), utcnow()
        row = Run(name=name, status="running", config=config, seed=seed_value, model=model, dataset=dataset,
                  code_version=code, host=me.host, pid=me.pid, proc_start=me.start,
                  hardware=hardware, created_at=now, started_at=now, heartbeat_at=now,
                  notes=note_list, summary={}, tag_rows=[RunTag(tag=tag) for tag in tags])
        with self._write() as session:
            row.id = new_run_id(now)
            while session.get(Run, row.id) is not None:  # two runs in one second drew the same digits
                row.id = new_run_id(now)
            session.add(row)
        return row.id

    def claim(self, run_id: str) -> None:
        """Take over a run for this process (resuming it): "running" again, our pid and host, error cleared.

        Raises:
            RunNotFoundError: no run `run_id`.
            BadInputError: the run is still running in another live process.
        """
        me, now = _env.this_process(), utcnow()
        with self._write() as session:
            run = self._locked(session, run_id)
            ours = _is_ours(run, me)
            if run.status == "running" and not ours and not _gone(run, now, DEFAULT_SILENCE_S):
                raise BadInputError(
                    f"run {run.id} is still running as process {run.pid} on {run.host} (last heartbeat "
                    f"{_ago(now - _last_beat(run))} ago); stop that process first — a run silent for "
                    f"{DEFAULT_SILENCE_S:.0f} s is marked failed and can then be resumed"
                )
            if not ours:
                run.notes = [*(run.notes or []), f"resumed {now:%Y-%m-%d %H:%M:%S} UTC on {me.host} "
                             f"(pid {me.pid}, code {_env.code_version()})"]
            run.status, run.host, run.pid, run.proc_start = "running", me.host, me.pid, me.start
            run.heartbeat_at, run.ended_at, run.error = now, None, None
            run.started_at = run.started_at or now

    def link(self, run_id: str, *, sweep: str | None = None, trial: int | None = None, parent: str | None = None,
             fold: int | None = None) -> None:
        """Record which sweep (Optuna study name and trial number) and which k-fold group run (`parent`,
        fold 1..K) the run belongs to; arguments left None are not changed."""
        if sweep is not None:
            _checks.text("sweep", sweep, NAME_LEN)
        values = {"sweep": sweep, "trial": _checks.integer("trial", trial, optional=True),
                  "fold": _checks.integer("fold", fold, optional=True)}
        with self._write() as session:
            run = self._locked(session, run_id)
            if parent is not None:
                values["parent"] = self._locked(session, parent).id
            for name, value in values.items():
                if value is not None:
                    setattr(run, name, value)

    def heartbeat(self, run_id: str) -> None:
        """Record that the run's process is alive (call it every epoch or few minutes)."""
        with self._write() as session:
            _touch(self._locked(session, run_id), utcnow())

    def finish(self, run_id: str, status: str, *, error: str | None = None) -> None:
        """End a run as "completed" or "failed" (with the reason in `error`)."""
        if status not in ("completed", "failed"):
            raise BadInputError(f"a run finishes as 'completed' or 'failed', got status {status!r}")
        now = utcnow()
        with self._write() as session:
            run = self._locked(session, run_id)
            run.status, run.error, run.ended_at, run.heartbeat_at = status, error, now, now

    def log_metrics(self, run_id: str, metrics: dict[str, float], *, epoch: int | None = None,
                    step: int | None = None) -> None:
        """Append one row per metric (one transaction) and update the run's summary.

        The summary keeps, per name, the last value ("final") and the best so far ("best": the
        maximum for names containing "accuracy", else the minimum, as for losses).
        """
        values = _checks.metrics(metrics)
        epoch = _checks.integer("epoch", epoch, optional=True)
        step = _checks.integer("step", step, optional=True)
        if not values:
            return
        now = utcnow()
        with self._write() as session:
            run = self._locked(session, run_id)
            session.add_all([Metric(run_id=run.id, name=name, value=value, epoch=epoch, step=step, created_at=now)
                             for name, value in values.items()])
            run.summary = _summarize(run.summary or {}, values)
            _store_summary(session, run.id, run.summary, names=list(values))
            _touch(run, now)  # a run that logs is alive

    def rewind(self, run_id: str, after_epoch: int) -> int:
        """Forget metrics logged for epochs after `after_epoch` and rebuild the summary from the rest.

        A resumed run restarts from its last checkpoint; whatever the killed process logged after that
        checkpoint is replayed, so it is dropped here rather than counted twice. Returns the rows removed.
        """
        after_epoch = _checks.integer("after_epoch", after_epoch)
        with self._write() as session:
            run = self._locked(session, run_id)
            stale = session.scalars(select(Metric).where(Metric.run_id == run.id, Metric.epoch > after_epoch)).all()
            for row in stale:
                session.delete(row)
            session.flush()
            kept = session.scalars(select(Metric).where(Metric.run_id == run.id)
                                   .order_by(Metric.epoch, Metric.step, Metric.id)).all()
            summary: dict[str, dict[str, float]] = {}
            for row in kept:
                summary = _summarize(summary, {row.name: row.value})
            run.summary = summary
            _store_summary(session, run.id, summary)
        return len(stale)

    def set_package(self, run_id: str, path: str | os.PathLike) -> None:
        """Record the model package the run produced (stored as an absolute path)."""
        absolute = _checks.path(path)
        with self._write() as session:
            self._locked(session, run_id).package = absolute

    def add_artifact(self, run_id: str, kind: str, path: str | os.PathLike,
                     meta: Mapping[str, Any] | None = None) -> int:
        """Record a file the run produced; returns the artifact's id.

        Args:
            run_id: the run.
            kind: "checkpoint", "package", "log", …
            path: where it is (made absolute; URLs are kept as given).
            meta: extra plain-JSON facts (size, epoch, hash, …).
        """
        _checks.text("artifact kind", kind, KIND_LEN)
        meta_dict = _checks.json_object("artifact meta", meta or {})
        row = Artifact(kind=kind, path=_checks.path(path), meta=meta_dict, created_at=utcnow())
        with self._write() as session:
            row.run_id = self._locked(session, run_id).id
            session.add(row)
            session.flush()
            return row.id

    def add_notes(self, run_id: str, notes: list[str]) -> list[str]:
        """Append notes to the run (its id or a unique prefix; notes it already has are not repeated).

        Returns the run's notes afterwards.
        """
        new = _checks.notes(notes)
        with self._write() as session:
            run = self._locked(session, run_id, prefix=True)
            have = list(run.notes or [])
            run.notes = have + [note for note in new if note not in have]
            return list(run.notes)

    def tag(self, run_id: str, tags: Sequence[str]) -> list[str]:
        """Add tags to the run (its id or a unique prefix); returns its tags afterwards, sorted."""
        wanted = _tags(tags, "tags")
        with self._write() as session:
            run = self._locked(session, run_id, prefix=True)
            have = {row.tag for row in run.tag_rows}
            run.tag_rows.extend(RunTag(tag=tag) for tag in wanted if tag not in have)
            return sorted(have.union(wanted))

    def untag(self, run_id: str, tags: Sequence[str]) -> list[str]:
        """Remove tags from the run (tags it does not have are ignored); returns its tags afterwards."""
        unwanted = set(_tags(tags, "tags"))
        with self._write() as session:
            run = self._locked(session, run_id, prefix=True)
            run.tag_rows = [row for row in run.tag_rows if row.tag not in unwanted]
            return sorted(row.tag for row in run.tag_rows)

    def delete_runs(self, run_ids: Sequence[str], *, files: bool = False, dry_run: bool = False) -> list[dict]:
        """Delete runs (ids or unique prefixes) with their metrics, artifacts records, summaries and tags.

        Args:
            run_ids: the runs.
            files: also remove their checkpoint, package and TensorBoard folders and any artifact file — only
                paths inside SHENDU_HOME, never the folders that hold every run's.
            dry_run: only say what would be removed.

        Returns:
            one dict per run: id, status, metrics (rows), artifacts (rows), files (paths removed).

        Raises:
            BadInputError: a run is still running (stop it first), or no id was given.
        """
        if isinstance(run_ids, str) or not run_ids:
            raise BadInputError(f"expected a list of run ids to delete, got {run_ids!r}")
        self.reap_stale()
        with self._read() as session:
            runs = list({run.id: run for run in (self._resolve(session, r, with_artifacts=True)
                                                 for r in run_ids)}.values())
            busy = [run.id for run in runs if run.status == "running"]
            if busy:
                raise BadInputError(f"run {', '.join(busy)} is still running; stop its process first (a run whose "
                                    f"process is gone is marked failed and can then be deleted)")
            ids = [run.id for run in runs]
            counts = dict(session.execute(select(Metric.run_id, func.count()).where(Metric.run_id.in_(ids))
                                          .group_by(Metric.run_id)).all())
            plan = [{"id": run.id, "status": run.status, "metrics": counts.get(run.id, 0),
                     "artifacts": len(run.artifacts), "files": _run_files(run) if files else []} for run in runs]
        if dry_run:
            return plan
        with self._write() as session:
            for table in (Metric, Artifact, RunSummary, RunTag, Run):  # not left to ON DELETE CASCADE alone
                column = table.id if table is Run else table.run_id
                session.execute(delete(table).where(column.in_(ids)).execution_options(synchronize_session=False))
        failed = [f"{path}: {exc}" for entry in plan for path in entry["files"] if (exc := _remove(path))]
        if failed:
            raise ShenduError(f"deleted {len(ids)} run(s) from the database, but could not remove: "
                              + "; ".join(failed))
        return plan

    def reap_stale(self, *, max_silence_s: float = DEFAULT_SILENCE_S) -> list[str]:
        """Mark failed the runs left "running" by a process that is gone; returns their ids.

        On this host a run's process is checked directly (a pid that no longer exists, is a zombie,
        or now belongs to a later process is gone); a run on another host is gone once its last
        heartbeat is older than `max_silence_s`.
        """
        now = utcnow()
        columns = (Run.id, Run.pid, Run.host, Run.proc_start, Run.heartbeat_at, Run.created_at)
        with self._read() as session:
            running = session.execute(select(*columns).where(Run.status == "running")).all()
        gone = [row for row in running if _gone(row, now, max_silence_s)]
        if not gone:
            return []
        reaped: list[str] = []
        with self._write() as session:
            for row in gone:
                beat = _last_beat(row)
                error = (f"{CRASHED} process {row.pid} on {row.host} is gone (last heartbeat "
                         f"{beat:%Y-%m-%d %H:%M:%S} UTC, {_ago(now - beat)} before this check)")
                # Only if nobody claimed or heartbeated the run since we looked.
                statement = (update(Run)
                             .where(Run.id == row.id, Run.status == "running", Run.host == row.host,
                                    Run.pid == row.pid, or_(Run.heartbeat_at.is_(None), Run.heartbeat_at <= beat))
                             .values(status="failed", error=error, ended_at=beat)
                             .execution_options(synchronize_session=False))
                if session.execute(statement).rowcount:
                    reaped.append(row.id)
        return reaped

    # -- reading -----------------------------------------------------------------------------------
    def get_run(self, run_id: str) -> RunRecord:
        """The run with id `run_id` or with an id starting with it (unambiguous prefixes, like git).

        Raises:
            RunNotFoundError: no run matches.
            BadInputError: the prefix matches several runs.
        """
        self.reap_stale()
        with self._read() as session:
            return RunRecord.from_row(self._resolve(session, run_id, with_artifacts=True))

    def list_runs(self, limit: int | None = 50, status: str | None = None, *, sweep: str | None = None,
                  parent: str | None = None, where: str | None = None, sort: str | None = None) -> list[RunRecord]:
        """The first `limit` runs (None: all), newest first unless sorted otherwise.

        Args:
            limit: how many runs at most.
            status: only runs with this status.
            sweep: only runs of this sweep (Optuna study).
            parent: only the folds of this k-fold group run.
            where: a filter expression, e.g. "model.name=resnet20 and val_accuracy>0.9" (see `_query.py`).
            sort: a column, metric or config key to sort by, "-" first for descending (e.g. "-val_accuracy").
        """
        conditions = _conditions(status, sweep, parent)
        flt, key = _query.Filter.parse(where), _query.parse_sort(sort) if sort else None
        limit_value = _limit(limit)
        self.reap_stale()
        with self._read() as session:
            return _records(session, _query.select_ids(session, flt, key, limit_value, conditions))

    def group_runs(self, by: str, *, where: str | None = None, sort: str | None = None, limit: int | None = None,
                   metrics: Sequence[str] | None = None, status: str | None = None,
                   sweep: str | None = None) -> list[_query.RunGroup]:
        """The runs matching `where` (and `status`, `sweep`) grouped by a config key or column, with the count
        and mean ± std (ddof=1) of each summary metric's final value per group.

        Args:
            by: e.g. "model.name", "optim.lr", "dataset", "tag" (a run is in the group of each of its tags).
            where: a filter expression, as for `list_runs`.
            sort: "count", the key, or a metric (by its mean); "-" first for descending. Default: by key.
            limit: how many groups at most.
            metrics: only these metrics (default: every metric of the runs).
        """
        conditions = _conditions(status, sweep, None)
        flt, key = _query.Filter.parse(where), _query.parse_group_key(by)
        order = _query.parse_sort(sort, groups=True) if sort else None
        limit_value = _limit(limit)
        self.reap_stale()
        with self._read() as session:
            return _query.group_runs(session, flt, key, sort=order, limit=limit_value, metrics=metrics,
                                     conditions=conditions)

    def compare_runs(self, run_ids: Sequence[str]) -> _report.RunComparison:
        """Two or more runs (ids or unique prefixes) side by side: the config keys that differ, every metric."""
        if isinstance(run_ids, str) or len(run_ids) < 2:
            raise BadInputError(f"compare needs two or more run ids, got {run_ids!r}")
        return _report.compare([self.get_run(run_id) for run_id in run_ids])

    def export_runs(self, path: str | os.PathLike, fmt: str = "csv", *, where: str | None = None,
                    sort: str | None = None, limit: int | None = None) -> _report.ExportResult:
        """Write one row per run (id, name, status, model, dataset, seed, created, tags, each dotted config
        key, `<metric>.final` / `.best`) to `path` ("-": standard output) as "csv" or "json"."""
        return _report.write_export(self.list_runs(limit, where=where, sort=sort), path, fmt)

    def metric_history(self, run_id: str, name: str | None = None) -> list[dict[str, Any]]:
        """Every logged value of the run (or of one metric), ordered by (epoch, step, logging order).

        Returns:
            dicts with keys name, value, epoch, step, created_at; rows without an epoch or step come
            before the others on every backend.
        """
        with self._read() as session:
            found = self._resolve(session, run_id).id
            query = (select(Metric).where(Metric.run_id == found)
                     .order_by(Metric.epoch.asc().nulls_first(), Metric.step.asc().nulls_first(), Metric.id))
            if name is not None:
                query = query.where(Metric.name == name)
            return [{"name": m.name, "value": m.value, "epoch": m.epoch, "step": m.step, "created_at": m.created_at}
                    for m in session.scalars(query)]

    # -- internals ---------------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A write transaction on this process's single writer connection (BEGIN IMMEDIATE on SQLite)."""
        with self._write_sessions.begin() as session:
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A read-only session from the reader pool."""
        with self._read_sessions() as session:
            yield session

    def _create_tables(self) -> None:
        """Create or upgrade the schema through its Alembic revisions (see `_migrate.py`)."""
        try:
            for attempt in (1, 2):
                try:
                    ensure_schema(self._writer, self._reader)
                    return
                except (IntegrityError, ProgrammingError):
                    # Belt and braces: migrations are serialized by a lock, but a PostgreSQL catalog race
                    # between two first-time creators is retried once and then finds the schema there.
                    if attempt == 2:
                        raise
        except DBAPIError as exc:
            raise ShenduError(f"cannot open the run database {shown(self._url)}: {exc.orig}; check SHENDU_DB "
                              "or the config's track.db") from exc

    def _locked(self, session: Session, run_id: str, *, prefix: bool = False) -> Run:
        """The run with exactly this id (or, with `prefix`, a unique prefix), locked until the transaction ends."""
        run = session.get(Run, run_id, with_for_update=True) if isinstance(run_id, str) else None
        if run is None and prefix:
            run = session.get(Run, self._resolve(session, run_id).id, with_for_update=True)
        if run is None:
            raise self._not_found(run_id)
        return run

    def _resolve(self, session: Session, run_id: str, *, with_artifacts: bool = False) -> Run:
        """The run `run_id` names, exactly or as a unique prefix."""
        if not isinstance(run_id, str) or not run_id.strip():
            raise BadInputError(f"expected a run id or a prefix of one, got {run_id!r} "
                                "(list runs with: shendu runs list)")
        run_id = run_id.strip()
        options = list(_LOADED) if with_artifacts else []
        run = session.get(Run, run_id, options=options)
        if run is not None:
            return run
        prefix = run_id.lower()  # ids are lowercase; LIKE is case-blind on SQLite only
        query = select(Run.id).where(Run.id.startswith(prefix, autoescape=True)).order_by(Run.id).limit(6)
        matches = list(session.scalars(query))
        if not matches:
            raise self._not_found(run_id)
        if len(matches) > 1:
            listed = ", ".join(matches[:5]) + (", …" if len(matches) > 5 else "")
            raise BadInputError(f"run id prefix {run_id!r} is ambiguous: it matches {listed}; "
                                "give more characters of the id")
        run = session.get(Run, matches[0], options=options)
        if run is None:  # deleted in between
            raise self._not_found(run_id)
        return run

    def _not_found(self, run_id: object) -> RunNotFoundError:
        return RunNotFoundError(f"no run {run_id!r} in {shown(self._url)}; list runs with: shendu runs list")


def _summarize(summary: dict[str, dict[str, float]], values: dict[str, float]) -> dict[str, dict[str, float]]:
    """A new summary with `values` logged after `summary` (a new object, so the JSON column sees the change)."""
    out = {name: dict(entry) for name, entry in summary.items()}
    for name, value in values.items():
        previous = out.get(name)
        if previous is None:
            best = value
        else:
            best = max(previous["best"], value) if higher_is_better(name) else min(previous["best"], value)
        out[name] = {"final": value, "best": best}
    return out


def _store_summary(session: Session, run_id: str, summary: dict[str, dict[str, float]],
                   names: list[str] | None = None) -> None:
    """Mirror `summary` into `run_summary` rows: the metrics `names`, or all of them (rows of metrics no longer
    in the summary, e.g. after a rewind, are deleted). The caller holds the run's lock."""
    query = select(RunSummary).where(RunSummary.run_id == run_id)
    if names is not None:
        query = query.where(RunSummary.metric.in_(names))
    have = {row.metric: row for row in session.scalars(query)}
    for name in summary if names is None else names:
        entry, row = summary[name], have.pop(name, None)
        if row is None:
            session.add(RunSummary(run_id=run_id, metric=name, final=entry["final"], best=entry["best"]))
        else:
            row.final, row.best = entry["final"], entry["best"]
    for row in have.values():
        session.delete(row)


def _tags(value: Any, what: str) -> list[str]:
    """Tags: non-empty strings of at most TAG_LEN characters, stripped, duplicates dropped."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise BadInputError(f"{what} must be a list of strings, got {type(value).__name__} {value!r}")
    return list(dict.fromkeys(_checks.text("tag", tag, TAG_LEN).strip() for tag in value))


def _limit(limit: Any) -> int | None:
    value = _checks.integer("limit", limit, optional=True)
    if value is not None and value < 1:
        raise BadInputError(f"limit must be a positive number of runs (or None for all), got {limit!r}")
    return value


def _conditions(status: str | None, sweep: str | None, parent: str | None) -> list[Any]:
    if status is not None and status not in STATUSES:
        raise BadInputError(f"unknown run status {status!r} (valid: {', '.join(STATUSES)})")
    wanted = {Run.status: status, Run.sweep: sweep, Run.parent: parent}
    return [column == value for column, value in wanted.items() if value is not None]


def _records(session: Session, ids: list[str]) -> list[RunRecord]:
    """The records of `ids`, in that order (loaded 500 at a time: databases cap the parameters per query)."""
    rows: dict[str, Run] = {}
    for start in range(0, len(ids), 500):
        chunk = select(Run).where(Run.id.in_(ids[start:start + 500])).options(*_LOADED)
        rows.update((run.id, run) for run in session.scalars(chunk))
    return [RunRecord.from_row(rows[run_id]) for run_id in ids if run_id in rows]


def _run_files(run: Run) -> list[str]:
    """The run's folders and artifact files under SHENDU_HOME that exist (deepest-first duplicates dropped)."""
    home = Path(os.path.realpath(_settings.home()))
    named = [home / sub / run.id for sub in ("runs", "packages", "tb")]
    found: list[Path] = []
    for raw in [*named, *(a.path for a in run.artifacts), run.package]:
        if not raw or "://" in str(raw):
            continue
        path = Path(os.path.realpath(Path(raw).parent)) / Path(raw).name  # resolve the folders, not a link itself
        inside = path.is_relative_to(home) and len(path.relative_to(home).parts) >= 2
        if inside and (path.exists() or path.is_symlink()) and not any(path.is_relative_to(f) for f in found):
            found = [f for f in found if not f.is_relative_to(path)] + [path]
    return sorted(str(f) for f in found)


def _remove(path: str) -> str | None:
    """Remove a file, link or folder; the error text, or None."""
    try:
        target = Path(path)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    except OSError as exc:
        return str(exc)
    return None


def _is_ours(run: Any, me: _env.ProcessId) -> bool:
    """Whether `run` is recorded as running in this very process."""
    same_start = run.proc_start is None or me.start is None or run.proc_start == me.start
    return run.host == me.host and run.pid == me.pid and same_start


def _gone(run: Any, now: datetime, max_silence_s: float) -> bool:
    """Whether the process of a "running" run is gone (see `RunStore.reap_stale`)."""
    if run.host == _env.hostname():
        alive = _env.pid_alive(run.pid, run.proc_start)
        if alive is not None:
            return not alive
    return (now - _last_beat(run)).total_seconds() > max_silence_s


def _last_beat(run: Any) -> datetime:
    return run.heartbeat_at or run.created_at


def _touch(run: Run, now: datetime) -> None:
    """Heartbeat; and undo a reaper's verdict when it took a long silence of ours for a crash."""
    run.heartbeat_at = now
    if run.status == "failed" and (run.error or "").startswith(CRASHED) and _is_ours(run, _env.this_process()):
        run.status, run.error, run.ended_at = "running", None, None


def _ago(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min" if seconds < 7200 else f"{seconds // 3600} h {seconds % 3600 // 60} min"


# -- one store per URL and process ------------------------------------------------------------------
_STORES: dict[str, RunStore] = {}
_STORES_LOCK = threading.Lock()
_ALL_STORES: weakref.WeakSet[RunStore] = weakref.WeakSet()


def open_store(url: str | None = None) -> RunStore:
    """The process's run store for `url` (default as in `RunStore`), created on first use.

    Sharing one store per URL gives the process a single writer connection; readers come from a pool.
    """
    resolved = _settings.db_url(url)
    with _STORES_LOCK:
        store = _STORES.get(resolved)
        if store is None:
            store = _STORES[resolved] = RunStore(resolved)
        return store


def _after_fork_in_child() -> None:
    """A forked child (DataLoader worker, multiprocessing fork) must not use its parent's connections."""
    global _STORES_LOCK
    _STORES_LOCK = threading.Lock()  # another thread may have held it at the fork
    for store in list(_ALL_STORES):
        store._writer.dispose(close=False)
        store._reader.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
