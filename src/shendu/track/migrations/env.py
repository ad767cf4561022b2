"""Alembic environment of the run database.

shendu calls it with an open connection (`config.attributes["connection"]`, inside the caller's
transaction); the `alembic` command line (developers writing a revision) passes `-x url=...`.
Only shendu's own tables are considered: the same database may hold Optuna's studies, whose schema
and `alembic_version` table belong to Optuna.
"""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from shendu.track._migrate import VERSION_TABLE
from shendu.track._schema import Base

OWN_TABLES = frozenset(Base.metadata.tables)


def _ours(name: str | None, type_: str, parent_names: dict) -> bool:
    """Autogenerate looks at shendu's tables only (never proposes dropping Optuna's)."""
    return type_ != "table" or name in OWN_TABLES


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, version_table=VERSION_TABLE,
                      include_name=_ours, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("give the database: alembic -x url=sqlite:////path/to/shendu.db ...")
    with create_engine(url).begin() as own:
        _run(own)
