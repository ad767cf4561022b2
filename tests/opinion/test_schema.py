"""The opinion models agree with revision 0004 on SQLite and PostgreSQL, and 0004 downgrades cleanly."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from shendu.opinion._schema import OpinionBase
from shendu.track import RunStore
from shendu.track import _migrate
from tests.conftest import pg_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, shendu_home: Path) -> str:
    if request.param == "postgresql":
        return pg_url()
    return f"sqlite:///{shendu_home / 'opinion.db'}"


def test_models_match_revision_0004(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = RunStore(db_url)
    assert _migrate.script_head() == _migrate.HEAD
    from alembic.script import ScriptDirectory

    assert "0004" in {r.revision for r in ScriptDirectory(str(_migrate.MIGRATIONS)).walk_revisions()}
    with store._writer.connect() as connection:
        ours = OpinionBase.metadata.tables
        context = MigrationContext.configure(connection, opts={
            "version_table": _migrate.VERSION_TABLE, "compare_type": True,
            "include_name": lambda name, kind, _: kind != "table" or name in ours})
        assert compare_metadata(context, OpinionBase.metadata) == []
    store.close()


def test_downgrade_to_0003_drops_only_the_opinion_tables(shendu_home: Path) -> None:
    from alembic import command

    store = RunStore(f"sqlite:///{shendu_home / 'down.db'}")
    run_id = store.create_run(config={}, seed=0, model="mlp", dataset="digits")
    with store._writer.begin() as connection:
        command.downgrade(_migrate._alembic_config(connection), "0003")
    with store._reader.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    assert not {t for t in tables if t.startswith("opinion_")}
    store.close()
    reopened = RunStore(store.url)  # upgrades to 0004 again on open
    with reopened._reader.connect() as connection:
        assert set(OpinionBase.metadata.tables) <= set(inspect(connection).get_table_names())
    assert reopened.get_run(run_id).model == "mlp"
    reopened.close()
