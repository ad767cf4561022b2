"""The 舆情 monitor's tables in the run database (Alembic revision 0004): posts, minute buckets, topics,
alerts, file offsets and rejected input lines.

They sit on their own declarative base, not on the run store's: `shendu.track` never needs them, and
importing the opinion package must not change the run store's metadata (its migration test compares
that metadata with the database). `tests/opinion/test_schema.py` checks these models against the
revision the same way.

Why these tables:
- `opinion_posts` holds every post once: `key` (sha256 of a supplied id, or of source + time + text) is
  unique, so ingesting the same line twice — after a crash, or a re-run — stores nothing new
  (at-least-once delivery, exactly-once storage). `stage` 0 → 1 marks analysis; results are columns.
- `opinion_buckets` are one-minute aggregates (volume, negatives, keyword and topic counts), written
  in the same transaction that marks the posts analysed, so a post is counted exactly once; windows
  of any whole number of minutes (alerts, reports) are sums of buckets.
- `opinion_topics` is the state of the streaming topic grouping (centroid terms), so topic ids stay
  stable across processes.
- `opinion_alerts`: one row per (rule, window); `notified_at` null until the webhook took it.
- `opinion_offsets`: how far each followed file has been read (committed with the posts it yielded).
- `opinion_rejects`: malformed input lines (what, where, why), for the report and the dashboard.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shendu.track._schema import UTCDateTime

KEY_LEN, SOURCE_LEN, LABEL_LEN, TOPIC_LEN, RULE_LEN, REASON_LEN = 64, 200, 16, 16, 100, 200

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key (as in the run store).
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


class OpinionBase(DeclarativeBase):
    """Declarative base of the opinion monitor's tables (separate from the run store's `Base`)."""


class PostRow(OpinionBase):
    """One post: what was said, when, where; after analysis its sentiment, keywords and topic."""

    __tablename__ = "opinion_posts"
    __table_args__ = (Index("ix_opinion_posts_stage_seq", "stage", "seq"),)

    seq: Mapped[int] = mapped_column(_ROW_ID, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(KEY_LEN), unique=True)
    source: Mapped[str] = mapped_column(String(SOURCE_LEN))
    author: Mapped[str | None] = mapped_column(String(SOURCE_LEN))
    location: Mapped[str | None] = mapped_column(String(SOURCE_LEN))
    text: Mapped[str] = mapped_column(Text)
    time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stage: Mapped[int] = mapped_column(SmallInteger)
    negative: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(String(LABEL_LEN))
    keywords: Mapped[list[str] | None] = mapped_column(JSON)
    topic: Mapped[str | None] = mapped_column(String(TOPIC_LEN))
    analyzed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BucketRow(OpinionBase):
    """One minute of analysed posts (by post time): counts, keyword counts and topic counts."""

    __tablename__ = "opinion_buckets"

    start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    posts: Mapped[int] = mapped_column(Integer)
    negatives: Mapped[int] = mapped_column(Integer)
    negative_sum: Mapped[float] = mapped_column(Float)
    keywords: Mapped[dict[str, int]] = mapped_column(JSON)
    topics: Mapped[dict[str, int]] = mapped_column(JSON)


class TopicRow(OpinionBase):
    """A group of similar posts: its centroid's strongest terms, size and when it was seen."""

    __tablename__ = "opinion_topics"

    id: Mapped[str] = mapped_column(String(TOPIC_LEN), primary_key=True)
    label: Mapped[str] = mapped_column(String(SOURCE_LEN))
    terms: Mapped[dict[str, float]] = mapped_column(JSON)
    size: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AlertRow(OpinionBase):
    """An alert: rule `rule` held in the window [window_start, window_end)."""

    __tablename__ = "opinion_alerts"
    __table_args__ = (UniqueConstraint("rule", "window_start", name="uq_opinion_alerts_rule_window"),)

    id: Mapped[int] = mapped_column(_ROW_ID, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(RULE_LEN))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    metric: Mapped[str] = mapped_column(String(RULE_LEN))
    value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    posts: Mapped[int] = mapped_column(Integer)
    negatives: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


class OffsetRow(OpinionBase):
    """How far a followed file has been read: `offset` bytes of the file with identity `inode`."""

    __tablename__ = "opinion_offsets"

    key: Mapped[str] = mapped_column(String(KEY_LEN), primary_key=True)  # sha256 of the absolute path
    path: Mapped[str] = mapped_column(Text)
    offset: Mapped[int] = mapped_column(BigInteger)
    inode: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RejectRow(OpinionBase):
    """A malformed input line: where it was, why it was refused and its first characters."""

    __tablename__ = "opinion_rejects"

    key: Mapped[str] = mapped_column(String(KEY_LEN), primary_key=True)  # sha256 of origin, position, line
    origin: Mapped[str] = mapped_column(Text)
    position: Mapped[str] = mapped_column(String(SOURCE_LEN))
    reason: Mapped[str] = mapped_column(String(REASON_LEN))
    excerpt: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
