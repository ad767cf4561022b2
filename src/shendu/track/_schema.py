"""The run database schema: `runs`, `metrics`, `artifacts`, and `run_summary` / `run_tags` beside them.

These models are the current shape; the database gets there through the Alembic revisions in
`migrations/versions/` (applied by `RunStore` on open, see `_migrate.py`). A change here needs a new
revision, and `tests/track/test_migrations.py` fails until the two agree.

Kept portable between SQLite and PostgreSQL: JSON columns through `sqlalchemy.JSON`, bounded
`String` lengths, and datetimes that are always timezone-aware UTC in Python whatever the backend
stores (SQLite has no timezone type, so UTC is stored naive there and re-attached on the way out).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

STATUSES = ("running", "completed", "failed")

# Column widths, also used to validate input before the database (PostgreSQL) would reject it.
ID_LEN, NAME_LEN, LABEL_LEN, HOST_LEN, STATUS_LEN, KIND_LEN, TAG_LEN = 32, 200, 100, 255, 16, 50, 100

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key for the big tables.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime that goes in and comes out timezone-aware UTC on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the run database stores timezone-aware UTC only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of the run database tables."""


class Run(Base):
    """One training run: what was run (config, seed, code), where (host, hardware) and how it went."""

    __tablename__ = "runs"
    # Listing is newest first, often narrowed to one status, model or dataset (migration 0003): each of these
    # indexes hands the newest matching runs over in order, so `runs list` reads 50 rows, not the table.
    __table_args__ = tuple(Index(f"ix_runs_{column}_created", column, "created_at", "id")
                           for column in ("status", "model", "dataset"))

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(NAME_LEN))
    status: Mapped[str] = mapped_column(String(STATUS_LEN))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(BigInteger)
    model: Mapped[str] = mapped_column(String(LABEL_LEN))
    dataset: Mapped[str] = mapped_column(String(LABEL_LEN))
    code_version: Mapped[str] = mapped_column(String(LABEL_LEN))
    host: Mapped[str] = mapped_column(String(HOST_LEN))
    pid: Mapped[int] = mapped_column(Integer)
    # Start time of `pid` (clock ticks since boot, /proc/<pid>/stat field 22) where the OS tells it:
    # it distinguishes our process from a later one that was given the same pid.
    proc_start: Mapped[int | None] = mapped_column(BigInteger)
    hardware: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[list[str]] = mapped_column(JSON)
    summary: Mapped[dict[str, dict[str, float]]] = mapped_column(JSON)
    package: Mapped[str | None] = mapped_column(Text)
    # Links (migration 0002): the sweep (Optuna study name) and trial a run belongs to, and the group run
    # of a k-fold cross-validation it is fold `fold` (1..K) of. All null for a plain `shendu train`.
    sweep: Mapped[str | None] = mapped_column(String(NAME_LEN), index=True)
    trial: Mapped[int | None] = mapped_column(Integer)
    parent: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    fold: Mapped[int | None] = mapped_column(Integer)

    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="run", order_by="Artifact.id", cascade="all, delete-orphan", passive_deletes=True
    )
    tag_rows: Mapped[list[RunTag]] = relationship(order_by="RunTag.tag", cascade="all, delete-orphan",
                                                  passive_deletes=True)


class Metric(Base):
    """One logged value of one metric at an (epoch, step) of a run."""

    __tablename__ = "metrics"

    id: Mapped[int] = mapped_column(_ROW_ID, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), index=True)
    value: Mapped[float] = mapped_column(Float)
    epoch: Mapped[int | None] = mapped_column(Integer)
    step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Artifact(Base):
    """A file a run produced: a checkpoint, a model package, a log, …"""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(_ROW_ID, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(KIND_LEN))
    path: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    run: Mapped[Run] = relationship(back_populates="artifacts")


class RunSummary(Base):
    """The final and best value of one metric of a run: `runs.summary` as rows (migration 0003).

    Written in the same transaction as the summary (`RunStore.log_metrics`, `rewind`), so the two always
    agree. As rows with an index on (metric, final), filters such as `val_accuracy>0.9`, sorting by a
    metric and mean ± std per group are SQL over 4 rows per run instead of JSON parsed in Python.
    """

    __tablename__ = "run_summary"
    __table_args__ = (Index("ix_run_summary_metric_final", "metric", "final"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(NAME_LEN), primary_key=True)
    final: Mapped[float] = mapped_column(Float)
    best: Mapped[float] = mapped_column(Float)


class RunTag(Base):
    """One tag of a run (`track.tags` at creation, then `shendu runs tag|untag`); migration 0003."""

    __tablename__ = "run_tags"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(TAG_LEN), primary_key=True, index=True)
