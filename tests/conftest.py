"""Shared test fixtures: every test gets its own SHENDU_HOME; the dataset mirror points at
../shared/data when it exists (tests that need it skip with a reason elsewhere)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("shendu_home")
    monkeypatch.setenv("SHENDU_HOME", str(home))
    monkeypatch.setenv("SHENDU_LANG", "en")
    monkeypatch.delenv("SHENDU_DB", raising=False)
    if SHARED_DATA.is_dir():
        monkeypatch.setenv("SHENDU_DATA_MIRROR", str(SHARED_DATA))
    else:
        monkeypatch.delenv("SHENDU_DATA_MIRROR", raising=False)
    return home


@pytest.fixture
def shendu_home(_isolated_home: Path) -> Path:
    return _isolated_home


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip: the real-dataset mirror is only beside the repo in CI and dev."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the dataset mirror at {SHARED_DATA} (absent here)")
    return SHARED_DATA


PG_SKIP = "set SHENDU_TEST_PG to a PostgreSQL URL to run (make test / tools/with-services.sh does, as root)"


def pg_url() -> str:
    """The test PostgreSQL URL, or skip with the reason (the server exists only where it can be started)."""
    import os

    url = os.environ.get("SHENDU_TEST_PG")
    if not url:
        pytest.skip(PG_SKIP)
    return url


@pytest.fixture
def seed() -> int:
    torch.manual_seed(0)
    return 0
