"""Run store fixtures: a store on the test's own SQLite file, and the same tests on PostgreSQL when
SHENDU_TEST_PG names one."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from shendu.track import RunStore
from tests.conftest import pg_url



@pytest.fixture
def store() -> Iterator[RunStore]:
    """A store on <SHENDU_HOME>/shendu.db (a fresh SHENDU_HOME per test)."""
    store = RunStore()
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest) -> Iterator[RunStore]:
    """The test's SQLite store, then (when SHENDU_TEST_PG is set) a PostgreSQL one."""
    if request.param == "postgresql":
        store = RunStore(pg_url())
    else:
        store = RunStore()
    yield store
    store.close()
