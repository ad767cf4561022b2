"""The first schema: runs, metrics and artifacts, exactly as `create_all` made them before migrations.

A database created by that `create_all` (tables present, no `shendu_alembic_version`) is stamped at
this revision, not re-created. Values are written out rather than imported from `_schema.py`: a
revision is a snapshot and must not change when the models do.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key for the big tables.
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = sa.DateTime(timezone=True)  # _schema.UTCDateTime's storage type


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("code_version", sa.String(100), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("proc_start", sa.BigInteger(), nullable=True),
        sa.Column("hardware", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("started_at", UTC, nullable=True),
        sa.Column("ended_at", UTC, nullable=True),
        sa.Column("heartbeat_at", UTC, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("package", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    for table, columns in (("metrics", _metric_columns()), ("artifacts", _artifact_columns())):
        op.create_table(
            table,
            sa.Column("id", ROW_ID, nullable=False, autoincrement=True),
            sa.Column("run_id", sa.String(32), nullable=False),
            *columns,
            sa.Column("created_at", UTC, nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        )
        op.create_index(f"ix_{table}_run_id", table, ["run_id"])
    op.create_index("ix_metrics_name", "metrics", ["name"])


def _metric_columns() -> list[sa.Column]:
    return [sa.Column("name", sa.String(200), nullable=False), sa.Column("value", sa.Float(), nullable=False),
            sa.Column("epoch", sa.Integer(), nullable=True), sa.Column("step", sa.BigInteger(), nullable=True)]


def _artifact_columns() -> list[sa.Column]:
    return [sa.Column("kind", sa.String(50), nullable=False), sa.Column("path", sa.Text(), nullable=False),
            sa.Column("meta", sa.JSON(), nullable=False)]


def downgrade() -> None:
    for table in ("artifacts", "metrics", "runs"):
        op.drop_table(table)
