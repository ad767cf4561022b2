"""Run summaries as rows, run tags, and the indexes that keep listing and filtering fast.

- `run_summary` (run_id, metric, final, best): the `runs.summary` JSON as rows, indexed on (metric, final),
  so `--filter 'val_accuracy>0.9'`, sorting by a metric and mean ± std per group are SQL. Backfilled here
  from every run's summary.
- `run_tags` (run_id, tag): `shendu runs tag|untag`; backfilled from each run's config `track.tags`.
- `runs` (status | model | dataset, created_at, id) replace `ix_runs_status`: a filtered list, newest first,
  reads the newest matching rows straight off one index.

New tables and indexes only, so existing rows are untouched on every backend. Values are written out
rather than imported from `_schema.py`: a revision is a snapshot.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LISTED_BY = ("status", "model", "dataset")
_BATCH = 5_000  # rows per INSERT while backfilling


def upgrade() -> None:
    op.create_table(
        "run_summary",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("metric", sa.String(200), nullable=False),
        sa.Column("final", sa.Float(), nullable=False),
        sa.Column("best", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "metric"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_run_summary_metric_final", "run_summary", ["metric", "final"])
    op.create_table(
        "run_tags",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("tag", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "tag"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_run_tags_tag", "run_tags", ["tag"])
    op.drop_index("ix_runs_status", table_name="runs")
    for column in LISTED_BY:
        op.create_index(f"ix_runs_{column}_created", "runs", [column, "created_at", "id"])
    _backfill()


def _backfill() -> None:
    """Summary rows from `runs.summary`, tag rows from `runs.config` → track.tags."""
    runs = sa.table("runs", sa.column("id", sa.String), sa.column("summary", sa.JSON), sa.column("config", sa.JSON))
    summary_table = sa.table("run_summary", sa.column("run_id"), sa.column("metric"), sa.column("final"),
                             sa.column("best"))
    tag_table = sa.table("run_tags", sa.column("run_id"), sa.column("tag"))
    summaries, tags = [], []
    for run_id, summary, config in op.get_bind().execute(sa.select(runs.c.id, runs.c.summary, runs.c.config)):
        for metric, entry in (summary or {}).items():
            if isinstance(entry, dict) and {"final", "best"} <= entry.keys():
                summaries.append({"run_id": run_id, "metric": metric, "final": entry["final"], "best": entry["best"]})
        track = (config or {}).get("track") if isinstance(config, dict) else None
        listed = track.get("tags") if isinstance(track, dict) else None
        if isinstance(listed, list):
            wanted = {tag.strip() for tag in listed if isinstance(tag, str) and 0 < len(tag.strip()) <= 100}
            tags.extend({"run_id": run_id, "tag": tag} for tag in sorted(wanted))
    for table, rows in ((summary_table, summaries), (tag_table, tags)):
        for start in range(0, len(rows), _BATCH):
            op.bulk_insert(table, rows[start:start + _BATCH])


def downgrade() -> None:
    for column in LISTED_BY:
        op.drop_index(f"ix_runs_{column}_created", table_name="runs")
    op.create_index("ix_runs_status", "runs", ["status"])
    op.drop_index("ix_run_tags_tag", table_name="run_tags")
    op.drop_table("run_tags")
    op.drop_index("ix_run_summary_metric_final", table_name="run_summary")
    op.drop_table("run_summary")
