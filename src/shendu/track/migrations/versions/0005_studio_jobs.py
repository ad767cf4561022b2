"""The studio's job queue: one row per training job submitted from `shendu studio`.

- `studio_jobs`: the job's experiment config (stored verbatim), its status (queued → running → completed |
  failed | stopped), the worker subprocess running it (pid, its start time so a reused pid is not mistaken
  for it, host), the run it created, its log file and, when it failed, why. Kept in the run database so a
  restarted studio finds every queued, running and finished job again.

New table only; nothing existing is touched. The model is `shendu.studio._jobs.JobRow` (its own declarative
base); values are written out here because a revision is a snapshot.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "studio_jobs",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("resume", sa.Boolean(), nullable=False),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("pid", sa.Integer()),
        sa.Column("proc_start", sa.BigInteger()),
        sa.Column("host", sa.String(255)),
        sa.Column("log_path", sa.Text(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("started_at", _TIME),
        sa.Column("ended_at", _TIME),
    )
    op.create_index("ix_studio_jobs_status_id", "studio_jobs", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_studio_jobs_status_id", table_name="studio_jobs")
    op.drop_table("studio_jobs")
