"""Engines for the run database: one writer connection per process and a pool of readers.

SQLite is made safe for several processes at once (DDP ranks, sweep workers, the studio):
WAL journal so readers never block the writer, a busy timeout so a writer waits for another
instead of failing with "database is locked", and write transactions opened with
`BEGIN IMMEDIATE`. The last matters: a deferred transaction that reads first and writes later
cannot wait for the lock once another process has committed — SQLite fails it at once with
SQLITE_BUSY, whatever the busy timeout. Taking the write lock up front makes it wait instead.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from shendu.errors import BadInputError

BUSY_TIMEOUT_S = 30.0
POOL_TIMEOUT_S = 60.0  # how long a thread waits for the process's single writer connection


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL, or a BadInputError that says what a valid one looks like."""
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise BadInputError(
            f"run database URL {url!r} is not a SQLAlchemy URL ({exc}); expected e.g. "
            "'sqlite:////abs/path/shendu.db' or 'postgresql+psycopg://user@host/db' (set SHENDU_DB or track.db)"
        ) from None


def shown(url: URL) -> str:
    """The URL for messages, password hidden (a SQLite path as typed, not %-escaped)."""
    if url.get_backend_name() == "sqlite" and url.database and not url.query:
        return f"{url.drivername}:///{url.database}"
    return url.render_as_string(hide_password=True)


def make_engines(url: URL) -> tuple[Engine, Engine]:
    """(writer, reader) engines for `url`; the writer pool holds a single connection.

    An in-memory SQLite database exists only inside its one connection, so there both are the
    same engine over that connection (fine for tests; not for threads).
    """
    if url.get_backend_name() != "sqlite":
        writer = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=POOL_TIMEOUT_S, pool_pre_ping=True)
        return writer, create_engine(url, pool_pre_ping=True)
    if url.database in (None, "", ":memory:") or url.query.get("mode") == "memory":
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        _configure_sqlite(engine, "BEGIN IMMEDIATE")
        return engine, engine
    if not url.query.get("uri"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args: dict[str, Any] = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
    writer = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=POOL_TIMEOUT_S, connect_args=connect_args)
    reader = create_engine(url, connect_args=connect_args)
    _configure_sqlite(writer, "BEGIN IMMEDIATE")
    _configure_sqlite(reader, "BEGIN")
    return writer, reader


def _configure_sqlite(engine: Engine, begin: str) -> None:
    """Pragmas on every new connection, and transactions opened with `begin`."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (the sqlite3 module would otherwise open deferred
        # transactions on its own, and commit before DDL).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching a new file to WAL needs a lock another process may hold.
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _switch_to_wal(cursor)
            # In WAL mode NORMAL is still safe against application crashes (kill -9); only a power
            # cut may lose the last commits. It saves an fsync per transaction.
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


def _switch_to_wal(cursor: Any) -> None:
    """`PRAGMA journal_mode = WAL`, retried while another connection holds the lock it needs.

    Several processes opening a new database file at once all try to switch it from the rollback
    journal to WAL. Two that hold shared locks and both want the exclusive one would deadlock, so
    SQLite fails one of them at once with "database is locked" and does not call its busy handler.
    Once any of them has switched, the pragma is a no-op for the rest; until then, back off and retry.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
