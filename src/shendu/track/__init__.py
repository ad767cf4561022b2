"""The run store: where every run's config, code version, seed, hardware, metrics and artifacts are
recorded — a SQLite file under SHENDU_HOME by default, or any SQLAlchemy URL (SHENDU_DB)."""
from shendu.track._store import RunRecord, RunStore, open_store

__all__ = ["RunRecord", "RunStore", "open_store"]
