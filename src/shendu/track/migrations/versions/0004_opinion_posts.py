"""The 舆情 (public-opinion) monitor's tables: posts, minute buckets, topics, alerts, offsets, rejects.

- `opinion_posts`: one row per post, `key` unique (sha256 of a supplied id or of source + time + text),
  so re-ingesting after a crash never duplicates a post; `stage` 0 = stored, 1 = analysed.
- `opinion_buckets`: one-minute aggregates written with the analysis (volume, negatives, keywords, topics).
- `opinion_topics`: the streaming topic grouping's state; `opinion_alerts`: one row per (rule, window).
- `opinion_offsets`: bytes read of each followed file; `opinion_rejects`: malformed input lines.

New tables only; nothing existing is touched. The models are `shendu.opinion._schema` (their own
declarative base); values are written out here because a revision is a snapshot.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "opinion_posts",
        sa.Column("seq", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("author", sa.String(200)),
        sa.Column("location", sa.String(200)),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("time", _TIME, nullable=False),
        sa.Column("ingested_at", _TIME, nullable=False),
        sa.Column("stage", sa.SmallInteger(), nullable=False),
        sa.Column("negative", sa.Float()),
        sa.Column("label", sa.String(16)),
        sa.Column("keywords", sa.JSON()),
        sa.Column("topic", sa.String(16)),
        sa.Column("analyzed_at", _TIME),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_opinion_posts_time", "opinion_posts", ["time"])
    op.create_index("ix_opinion_posts_stage_seq", "opinion_posts", ["stage", "seq"])
    op.create_table(
        "opinion_buckets",
        sa.Column("start", _TIME, primary_key=True),
        sa.Column("posts", sa.Integer(), nullable=False),
        sa.Column("negatives", sa.Integer(), nullable=False),
        sa.Column("negative_sum", sa.Float(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
    )
    op.create_table(
        "opinion_topics",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", _TIME, nullable=False),
        sa.Column("last_seen", _TIME, nullable=False),
    )
    op.create_index("ix_opinion_topics_last_seen", "opinion_topics", ["last_seen"])
    _alerts_offsets_rejects()


def _alerts_offsets_rejects() -> None:
    op.create_table(
        "opinion_alerts",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("window_start", _TIME, nullable=False),
        sa.Column("window_end", _TIME, nullable=False),
        sa.Column("metric", sa.String(100), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("posts", sa.Integer(), nullable=False),
        sa.Column("negatives", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("notified_at", _TIME),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.UniqueConstraint("rule", "window_start", name="uq_opinion_alerts_rule_window"),
    )
    op.create_index("ix_opinion_alerts_window_start", "opinion_alerts", ["window_start"])
    op.create_table(
        "opinion_offsets",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("inode", sa.BigInteger()),
        sa.Column("updated_at", _TIME, nullable=False),
    )
    op.create_table(
        "opinion_rejects",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("position", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("at", _TIME, nullable=False),
    )
    op.create_index("ix_opinion_rejects_at", "opinion_rejects", ["at"])


def downgrade() -> None:
    op.drop_index("ix_opinion_rejects_at", table_name="opinion_rejects")
    op.drop_table("opinion_rejects")
    op.drop_table("opinion_offsets")
    op.drop_index("ix_opinion_alerts_window_start", table_name="opinion_alerts")
    op.drop_table("opinion_alerts")
    op.drop_index("ix_opinion_topics_last_seen", table_name="opinion_topics")
    op.drop_table("opinion_topics")
    op.drop_table("opinion_buckets")
    op.drop_index("ix_opinion_posts_stage_seq", table_name="opinion_posts")
    op.drop_index("ix_opinion_posts_time", table_name="opinion_posts")
    op.drop_table("opinion_posts")
