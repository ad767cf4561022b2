"""The run database's Alembic migrations: their own version table beside Optuna's in one database,
idempotent upgrades, databases made by the old `create_all` adopted without loss, and models that
match the revisions."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.conftest import pg_url
from shendu.track import RunStore
from shendu.track import _migrate
from shendu.track._schema import Base

LINK_COLUMNS = ("sweep", "trial", "parent", "fold")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, shendu_home: Path) -> str:
    """The test's own SQLite file, then (when SHENDU_TEST_PG is set) a PostgreSQL database."""
    if request.param == "postgresql":
        return pg_url()
    return f"sqlite:///{shendu_home / 'shared.db'}"


def _new_run(store: RunStore) -> str:
    return store.create_run(config={"train": {"epochs": 1}}, seed=0, model="mlp", dataset="digits")


def _versions(store: RunStore) -> tuple[str | None, str | None]:
    with store._reader.connect() as connection:
        ours = _migrate.current_revision(connection)
        theirs = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return ours, theirs


def test_optuna_and_shendu_share_one_database(db_url: str) -> None:
    import optuna

    from shendu.sweep import open_storage

    store = RunStore(db_url)
    run_id = _new_run(store)
    name = f"shared-{run_id}"
    study = optuna.create_study(study_name=name, storage=open_storage(db_url), direction="maximize")
    trial = study.ask()
    study.tell(trial, 0.5)
    store.link(run_id, sweep=name, trial=trial.number)

    ours, theirs = _versions(store)
    assert ours == _migrate.HEAD
    assert theirs and theirs != ours  # Optuna's own revision, in Optuna's own table
    assert _migrate.ensure_schema(store._writer, store._reader) == _migrate.HEAD  # idempotent: nothing to do
    assert _migrate.upgrade(store._writer) == _migrate.HEAD  # even when forced through Alembic
    store.close()

    reopened = RunStore(db_url)
    assert _versions(reopened) == (ours, theirs)
    record = reopened.get_run(run_id)
    assert (record.sweep, record.trial) == (name, 0)
    assert [r.id for r in reopened.list_runs(sweep=name)] == [run_id]
    again = optuna.load_study(study_name=name, storage=open_storage(db_url))  # Optuna's schema check passes
    assert [t.value for t in again.get_trials()] == [0.5]
    reopened.close()


def test_models_match_the_migrations(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = RunStore(db_url)
    assert _migrate.script_head() == _migrate.HEAD
    with store._writer.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "version_table": _migrate.VERSION_TABLE, "compare_type": True,
            "include_name": lambda name, kind, _: kind != "table" or name in Base.metadata.tables})
        assert compare_metadata(context, Base.metadata) == []
    store.close()


def test_database_made_by_create_all_is_stamped_and_upgraded(shendu_home: Path) -> None:
    path = shendu_home / "legacy.db"
    _legacy_database(path)
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO runs (id, status, config, seed, model, dataset, code_version, host, pid, hardware, "
                    "created_at, notes, summary) VALUES ('20250101-000000-abcdef', 'completed', '{}', 0, 'mlp', "
                    "'digits', '0.1.0', 'old-host', 1, '{}', '2025-01-01 00:00:00', '[]', '{}')")
        raw.execute("INSERT INTO metrics (run_id, name, value, epoch, created_at) VALUES "
                    "('20250101-000000-abcdef', 'val_accuracy', 0.9, 1, '2025-01-01 00:00:00')")

    store = RunStore(f"sqlite:///{path}")
    with store._reader.connect() as connection:
        assert _migrate.current_revision(connection) == _migrate.HEAD
        assert set(LINK_COLUMNS) <= {c["name"] for c in inspect(connection).get_columns("runs")}
    old = store.get_run("20250101-000000-abcdef")
    assert (old.status, old.sweep, old.parent) == ("completed", None, None)
    assert [row["value"] for row in store.metric_history(old.id)] == [0.9]  # nothing lost
    store.link(old.id, sweep="later")
    assert store.get_run(old.id).sweep == "later"
    store.close()


def test_downgrade_and_upgrade_keep_the_rows(shendu_home: Path) -> None:
    from alembic import command

    store = RunStore(f"sqlite:///{shendu_home / 'down.db'}")
    run_id = _new_run(store)
    store.log_metrics(run_id, {"val_loss": 0.5}, epoch=1)
    with store._writer.begin() as connection:
        command.downgrade(_migrate._alembic_config(connection), "0001")
    with store._reader.connect() as connection:
        assert _migrate.current_revision(connection) == "0001"
        assert not set(LINK_COLUMNS) & {c["name"] for c in inspect(connection).get_columns("runs")}
    store.close()
    reopened = RunStore(store.url)  # upgrades again on open
    assert reopened.get_run(run_id).summary["val_loss"]["final"] == 0.5
    assert len(reopened.metric_history(run_id)) == 1
    reopened.close()


def test_processes_opening_a_new_database_at_once_migrate_it_once(shendu_home: Path) -> None:
    url = f"sqlite:///{shendu_home / 'race.db'}"
    code = "import sys; from shendu.track import RunStore; RunStore(sys.argv[1])"
    children = [subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
                for _ in range(3)]
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], errors
    with sqlite3.connect(shendu_home / "race.db") as raw:
        assert raw.execute(f"SELECT version_num FROM {_migrate.VERSION_TABLE}").fetchall() == [(_migrate.HEAD,)]


def _legacy_database(path: Path) -> None:
    """A database as the old `RunStore` left it: `create_all` of the models without the link columns (0002)
    and without what 0003 added (run_summary, run_tags, the (column, created_at, id) indexes)."""
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[name] for name in ("runs", "metrics", "artifacts")])
    with engine.begin() as connection:
        later = ("ix_runs_sweep", "ix_runs_parent", *(f"ix_runs_{c}_created" for c in ("status", "model", "dataset")))
        for index in later:
            connection.execute(text(f"DROP INDEX {index}"))
        connection.execute(text("CREATE INDEX ix_runs_status ON runs (status)"))
        for column in LINK_COLUMNS:
            connection.execute(text(f"ALTER TABLE runs DROP COLUMN {column}"))
    engine.dispose()
