"""Where shendu keeps things. Everything lives under SHENDU_HOME (default ~/.shendu) unless a
path is given explicitly: dataset cache, run database, checkpoints, packages and logs."""
from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """SHENDU_HOME, created on first use."""
    path = Path(os.environ.get("SHENDU_HOME") or Path.home() / ".shendu").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def subdir(name: str) -> Path:
    """A folder under SHENDU_HOME ("cache", "runs", "packages", "logs"), created on first use."""
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_mirror(explicit: str | os.PathLike | None = None) -> str | None:
    """The dataset mirror: an explicit setting (config `data.mirror`) wins over SHENDU_DATA_MIRROR.

    A mirror is a local directory or an http(s) URL laid out like ../shared/data
    (`<mirror>/mnist/train-images-idx3-ubyte.gz`, `<mirror>/fashion-mnist/…`).
    """
    value = explicit if explicit is not None else os.environ.get("SHENDU_DATA_MIRROR")
    return str(value) if value else None


def db_url(explicit: str | None = None) -> str:
    """The run database URL: explicit, else SHENDU_DB, else a SQLite file under SHENDU_HOME."""
    return explicit or os.environ.get("SHENDU_DB") or f"sqlite:///{home() / 'shendu.db'}"
