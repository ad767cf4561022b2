"""Link runs to sweeps and cross-validation groups: runs.sweep, runs.trial, runs.parent, runs.fold.

`sweep` is the Optuna study name and `trial` its trial number; `parent` is the id of the group run of
a k-fold cross-validation and `fold` the fold (1..K). Nullable columns only, so the upgrade is an
`ALTER TABLE ... ADD COLUMN` on every backend (no table rewrite) and existing runs keep their rows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("sweep", sa.String(200), nullable=True))
    op.add_column("runs", sa.Column("trial", sa.Integer(), nullable=True))
    op.add_column("runs", sa.Column("parent", sa.String(32), nullable=True))
    op.add_column("runs", sa.Column("fold", sa.Integer(), nullable=True))
    op.create_index("ix_runs_sweep", "runs", ["sweep"])
    op.create_index("ix_runs_parent", "runs", ["parent"])


def downgrade() -> None:
    op.drop_index("ix_runs_parent", table_name="runs")
    op.drop_index("ix_runs_sweep", table_name="runs")
    # In place (SQLite >= 3.35 has DROP COLUMN). Not batch mode: recreating `runs` would drop the old
    # table, and with foreign keys on that deletes every metric and artifact row by cascade.
    for column in ("fold", "parent", "trial", "sweep"):
        op.drop_column("runs", column)
