"""Schema migrations of the run database, with Alembic, in a version table of their own.

Optuna, whose studies live in the same database when you run `shendu sweep`, records its schema
revision in Alembic's default table `alembic_version`. shendu records its own in
`shendu_alembic_version`, so each tool migrates its own tables and neither reads the other's
revision as an unknown one.

`RunStore` calls `ensure_schema` on open. A database already at head costs one query on a reader
connection. Otherwise the whole upgrade runs in one write transaction: BEGIN IMMEDIATE on SQLite,
plus a transaction-level advisory lock on PostgreSQL. When several processes open a new database at
once (sweep workers, DDP ranks), one of them migrates and the others then find it at head. A
database made by the old `create_all` (shendu's tables present, no version table) is stamped at the
revision its columns match and upgraded from there. It is never created again.

Revision 0004 adds the 舆情 monitor's tables (`opinion_*`); their models live in `shendu.opinion._schema`
on a declarative base of their own, so the run store's models are unchanged by them.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

VERSION_TABLE = "shendu_alembic_version"
HEAD = "0005"  # the newest revision in migrations/versions (a test checks that they agree)
MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK = 0x5_4E_44_55  # any fixed number: the advisory-lock key of shendu's migrations ("SNDU")
_LINK_COLUMNS = frozenset({"sweep", "trial", "parent", "fold"})  # added by revision 0002


def ensure_schema(writer: Engine, reader: Engine | None = None) -> str:
    """Bring the run database to the newest revision. Returns the revision it was at before.

    Args:
        writer: the engine whose transactions take the write lock (the store's single writer).
        reader: an engine for the cheap "already at head?" check; default `writer`.
    """
    with (reader or writer).connect() as connection:
        before = current_revision(connection)
    if before == HEAD:
        return before
    return upgrade(writer)


def upgrade(writer: Engine, target: str = "head") -> str | None:
    """Migrate to `target` under the write lock. Returns the revision found once the lock was held."""
    from alembic import command  # imported here: opening a database that is at head never needs it

    with writer.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        before = current_revision(connection)
        config = _alembic_config(connection)
        if before is None:
            legacy = _legacy_revision(connection)
            if legacy is not None:
                command.stamp(config, legacy)
        command.upgrade(config, target)
    return before


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in `shendu_alembic_version`, or None (new database, or made by create_all)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def script_head() -> str:
    """The head revision according to the revision files (what `HEAD` must equal)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def _alembic_config(connection: Connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection  # env.py runs the revisions on it, inside our transaction
    return config


def _legacy_revision(connection: Connection) -> str | None:
    """The revision a database without a version table matches: None when it has no `runs` table."""
    inspector = inspect(connection)
    if not inspector.has_table("runs"):
        return None
    columns = {column["name"] for column in inspector.get_columns("runs")}
    return "0002" if _LINK_COLUMNS <= columns else "0001"
