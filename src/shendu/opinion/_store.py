"""The opinion monitor's side of the run database: posts in, analysis and alerts out, each a transaction.

`OpinionStore(url)` opens the run database through `shendu.track.open_store`, so the schema is migrated
(revision 0004 holds these tables) and the process keeps one writer connection for both stores;
readers come from the pool. SQLite (WAL, BEGIN IMMEDIATE) and PostgreSQL are both supported.

Guarantees:
- `add_posts` inserts with ON CONFLICT DO NOTHING on the post key, in one transaction with the rejects
  and the file offset that batch reached: a crash either keeps all of it or none, and a re-read after a
  crash inserts only what is missing.
- `save_analysis` claims the posts it analysed (still stage 0, rows locked on PostgreSQL), writes their
  results, adds them to the minute buckets, saves the topics and checks the alert rules — one
  transaction, so a post is counted in the aggregates exactly once.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from shendu.errors import BadInputError
from shendu.opinion._aggregate import Counts, PostResult, bucket_deltas
from shendu.opinion._alerts import Alert, AlertRule, alert_message, touched_windows
from shendu.opinion._posts import Post, Reject
from shendu.opinion._schema import AlertRow, BucketRow, OffsetRow, PostRow, RejectRow, TopicRow
from shendu.track import open_store
from shendu.track._engine import shown
from shendu.track._schema import utcnow

_CHUNK = 500  # rows per multi-row INSERT (well under SQLite's bound-parameter limit)
POSTS, BUCKETS, TOPICS = PostRow.__table__, BucketRow.__table__, TopicRow.__table__
ALERTS, OFFSETS, REJECTS = AlertRow.__table__, OffsetRow.__table__, RejectRow.__table__


@dataclass(frozen=True)
class PendingPost:
    """A stored post waiting for analysis."""

    seq: int
    text: str
    time: datetime


@dataclass(frozen=True)
class TopicState:
    """A topic as saved: id, label, centroid terms, size and when it was first and last seen."""

    id: str
    label: str
    terms: dict[str, float]
    size: int
    first_seen: datetime
    last_seen: datetime


class OpinionStore:
    """Posts, aggregates, topics and alerts in the run database.

    Args:
        url: a SQLAlchemy URL; default `SHENDU_DB`, else `<SHENDU_HOME>/shendu.db` (as `RunStore`).
    """

    def __init__(self, url: str | None = None) -> None:
        runs = open_store(url)  # migrates to head; its engines are the process's one writer and its readers
        self.url = runs.url
        self._writer, self._reader = runs._writer, runs._reader
        self.dialect = self._writer.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise BadInputError(f"the opinion monitor needs SQLite or PostgreSQL, the run database is "
                                f"{self.dialect} ({shown(runs._url)}); set SHENDU_DB to one of those")
        self._runs = runs

    def __repr__(self) -> str:
        return f"OpinionStore({shown(self._runs._url)!r})"

    def close(self) -> None:
        """Close pooled connections (they reopen on demand)."""
        self._runs.close()

    # -- ingest ------------------------------------------------------------------------------------
    def add_posts(self, posts: Sequence[Post], rejects: Sequence[tuple[str, Reject]] = (),
                  offset: tuple[str, int, int | None] | None = None) -> int:
        """Store posts (new keys only), rejected lines and, for a followed file, how far it was read.

        Args:
            posts: the batch; keys already stored are skipped.
            rejects: (origin, reject) pairs.
            offset: (path, byte offset, inode) committed with the batch.

        Returns:
            how many posts were new.
        """
        now = utcnow()
        rows = list({p.key: {"key": p.key, "source": p.source, "author": p.author, "location": p.location,
                             "text": p.text, "time": p.time, "ingested_at": now, "stage": 0}
                     for p in posts}.values())
        inserted = 0
        with self._write() as connection:
            for start in range(0, len(rows), _CHUNK):
                statement = self._insert(POSTS).values(rows[start:start + _CHUNK])
                # RETURNING counts what was new on every driver (psycopg reports no rowcount here)
                new = connection.execute(statement.on_conflict_do_nothing(index_elements=["key"])
                                         .returning(POSTS.c.seq))
                inserted += len(new.all())
            if rejects:
                connection.execute(self._insert(REJECTS).values([_reject_row(o, r, now) for o, r in rejects])
                                   .on_conflict_do_nothing(index_elements=["key"]))
            if offset is not None:
                self._save_offset(connection, *offset, now)
        return inserted

    def offset(self, path: str) -> tuple[int, int | None] | None:
        """(byte offset, inode) recorded for a followed file, or None if it was never read."""
        with self._reader.connect() as connection:
            row = connection.execute(select(OFFSETS.c.offset, OFFSETS.c.inode)
                                     .where(OFFSETS.c.key == _path_key(path))).first()
        return (row.offset, row.inode) if row else None

    def _save_offset(self, connection: Connection, path: str, offset: int, inode: int | None, now: datetime) -> None:
        statement = self._insert(OFFSETS).values(key=_path_key(path), path=path, offset=offset, inode=inode,
                                                 updated_at=now)
        connection.execute(statement.on_conflict_do_update(
            index_elements=["key"], set_={"offset": offset, "inode": inode, "updated_at": now}))

    # -- analysis ----------------------------------------------------------------------------------
    def pending(self, limit: int) -> list[PendingPost]:
        """Up to `limit` posts not analysed yet, oldest stored first."""
        query = (select(POSTS.c.seq, POSTS.c.text, POSTS.c.time).where(POSTS.c.stage == 0)
                 .order_by(POSTS.c.seq).limit(limit))
        with self._reader.connect() as connection:
            return [PendingPost(r.seq, r.text, r.time) for r in connection.execute(query)]

    def pending_count(self) -> int:
        """How many stored posts wait for analysis."""
        with self._reader.connect() as connection:
            return connection.execute(select(func.count()).select_from(POSTS).where(POSTS.c.stage == 0)).scalar_one()

    def save_analysis(self, results: Sequence[PostResult], topics: Sequence[TopicState],
                      rules: Sequence[AlertRule]) -> tuple[int, list[Alert]]:
        """Write a batch's analysis, aggregates, topics and the alerts it triggers, in one transaction.

        Returns:
            (posts written — those another analyser had not taken meanwhile, alerts that fired for the first time).
        """
        now = utcnow()
        with self._write() as connection:
            claimed = set(connection.execute(
                select(POSTS.c.seq).where(POSTS.c.seq.in_([r.seq for r in results]), POSTS.c.stage == 0)
                .with_for_update()).scalars())
            mine = [r for r in results if r.seq in claimed]
            if mine:
                connection.execute(
                    update(POSTS).where(POSTS.c.seq == bindparam("b_seq"))
                    .values(stage=1, negative=bindparam("b_negative"), label=bindparam("b_label"),
                            keywords=bindparam("b_keywords"), topic=bindparam("b_topic"), analyzed_at=now),
                    [{"b_seq": r.seq, "b_negative": r.negative, "b_label": r.label, "b_keywords": r.keywords,
                      "b_topic": r.topic} for r in mine])
            deltas = bucket_deltas(mine)
            self._merge_buckets(connection, deltas)
            self._save_topics(connection, topics)
            alerts = [alert for rule in rules
                      for alert in self._check_rule(connection, rule, touched_windows(deltas, rule.window), now)]
        return len(mine), alerts

    def _merge_buckets(self, connection: Connection, deltas: dict[datetime, Counts]) -> None:
        if not deltas:
            return
        empty = [{"start": start, "posts": 0, "negatives": 0, "negative_sum": 0.0, "keywords": {}, "topics": {}}
                 for start in deltas]
        connection.execute(self._insert(BUCKETS).values(empty).on_conflict_do_nothing(index_elements=["start"]))
        stored = connection.execute(select(BUCKETS).where(BUCKETS.c.start.in_(list(deltas))).with_for_update())
        merged = []
        for row in stored:
            counts = _counts(row)
            counts.add(deltas[row.start])
            counts = counts.trimmed()
            merged.append({"b_start": row.start, "b_posts": counts.posts, "b_negatives": counts.negatives,
                           "b_sum": counts.negative_sum, "b_keywords": dict(counts.keywords),
                           "b_topics": dict(counts.topics)})
        connection.execute(update(BUCKETS).where(BUCKETS.c.start == bindparam("b_start")).values(
            posts=bindparam("b_posts"), negatives=bindparam("b_negatives"), negative_sum=bindparam("b_sum"),
            keywords=bindparam("b_keywords"), topics=bindparam("b_topics")), merged)

    def _save_topics(self, connection: Connection, topics: Sequence[TopicState]) -> None:
        rows = [{"id": t.id, "label": t.label[:200], "terms": t.terms, "size": t.size, "first_seen": t.first_seen,
                 "last_seen": t.last_seen} for t in topics]
        for start in range(0, len(rows), _CHUNK):
            statement = self._insert(TOPICS).values(rows[start:start + _CHUNK])
            connection.execute(statement.on_conflict_do_update(index_elements=["id"], set_={
                "label": statement.excluded.label, "terms": statement.excluded.terms,
                "size": statement.excluded.size, "last_seen": statement.excluded.last_seen}))

    def _check_rule(self, connection: Connection, rule: AlertRule, starts: Iterable[datetime],
                    now: datetime) -> Iterator[Alert]:
        """Alerts `rule` raises in these windows: new ones yielded, existing ones get the latest numbers."""
        for start in starts:
            counts = _window_counts(connection, start, start + rule.window)
            fires, value = rule.check(counts.posts, counts.negatives)
            if not fires:
                continue
            numbers = {"value": value, "posts": counts.posts, "negatives": counts.negatives,
                       "message": alert_message(rule, start, counts.posts, counts.negatives, value),
                       "details": _details(connection, counts)}
            statement = self._insert(ALERTS).values(
                rule=rule.name, window_start=start, window_end=start + rule.window, metric=rule.metric,
                threshold=rule.threshold, created_at=now, attempts=0, **numbers)
            new_id = connection.execute(statement.on_conflict_do_nothing(
                index_elements=["rule", "window_start"]).returning(ALERTS.c.id)).scalar()
            if new_id is None:
                connection.execute(update(ALERTS).where(ALERTS.c.rule == rule.name, ALERTS.c.window_start == start)
                                   .values(**numbers))
                continue
            yield Alert(new_id, rule.name, start, start + rule.window, rule.metric, value, rule.threshold,
                        counts.posts, counts.negatives, numbers["message"], numbers["details"])

    def active_topics(self, since: datetime, limit: int) -> list[TopicState]:
        """The `limit` most recently seen topics last seen at or after `since` (the topic grouping's state)."""
        query = (select(TOPICS).where(TOPICS.c.last_seen >= since).order_by(TOPICS.c.last_seen.desc(), TOPICS.c.id)
                 .limit(limit))
        with self._reader.connect() as connection:
            return [TopicState(r.id, r.label, dict(r.terms), r.size, r.first_seen, r.last_seen)
                    for r in connection.execute(query)]

    # -- alerts ------------------------------------------------------------------------------------
    def undelivered(self, max_attempts: int) -> list[Alert]:
        """Alerts not yet delivered that have been tried fewer than `max_attempts` times, oldest first."""
        query = (select(ALERTS).where(ALERTS.c.notified_at.is_(None), ALERTS.c.attempts < max_attempts)
                 .order_by(ALERTS.c.id))
        with self._reader.connect() as connection:
            return [_alert(row) for row in connection.execute(query)]

    def mark_delivery(self, alert_id: int, error: str | None) -> None:
        """Record one delivery attempt: delivered (error None) or the error."""
        values: dict[str, Any] = {"attempts": ALERTS.c.attempts + 1, "last_error": error}
        if error is None:
            values["notified_at"] = utcnow()
        with self._write() as connection:
            connection.execute(update(ALERTS).where(ALERTS.c.id == alert_id).values(**values))

    # -- reading for reports -----------------------------------------------------------------------
    def buckets(self, since: datetime, until: datetime) -> dict[datetime, Counts]:
        """Minute buckets starting in [since, until)."""
        query = select(BUCKETS).where(BUCKETS.c.start >= since, BUCKETS.c.start < until)
        with self._reader.connect() as connection:
            return {row.start: _counts(row) for row in connection.execute(query)}

    def alerts(self, since: datetime, until: datetime) -> list[Alert]:
        """Alerts whose window starts in [since, until), in time order."""
        query = (select(ALERTS).where(ALERTS.c.window_start >= since, ALERTS.c.window_start < until)
                 .order_by(ALERTS.c.window_start, ALERTS.c.rule))
        with self._reader.connect() as connection:
            return [_alert(row) for row in connection.execute(query)]

    def topic_labels(self, ids: Iterable[str]) -> dict[str, str]:
        """Labels of these topics."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        with self._reader.connect() as connection:
            return dict(connection.execute(select(TOPICS.c.id, TOPICS.c.label).where(TOPICS.c.id.in_(wanted))).all())

    def reject_counts(self, since: datetime, until: datetime) -> Counter[str]:
        """Malformed input lines recorded in [since, until), by reason."""
        query = (select(REJECTS.c.reason, func.count()).where(REJECTS.c.at >= since, REJECTS.c.at < until)
                 .group_by(REJECTS.c.reason))
        with self._reader.connect() as connection:
            return Counter(dict(connection.execute(query).all()))

    def most_negative(self, since: datetime, until: datetime, limit: int = 5) -> list[dict[str, Any]]:
        """The analysed posts of [since, until) with the highest P(negative)."""
        query = (select(POSTS.c.text, POSTS.c.time, POSTS.c.source, POSTS.c.negative)
                 .where(POSTS.c.time >= since, POSTS.c.time < until, POSTS.c.stage == 1)
                 .order_by(POSTS.c.negative.desc(), POSTS.c.seq).limit(limit))
        with self._reader.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def count_posts(self) -> dict[str, int]:
        """Posts stored, analysed and pending, over the whole table."""
        query = select(POSTS.c.stage, func.count()).group_by(POSTS.c.stage)
        with self._reader.connect() as connection:
            by_stage = dict(connection.execute(query).all())
        return {"stored": sum(by_stage.values()), "analysed": by_stage.get(1, 0), "pending": by_stage.get(0, 0)}

    # -- internals ---------------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction on the process's single writer connection (BEGIN IMMEDIATE on SQLite)."""
        with self._writer.begin() as connection:
            yield connection

    def _insert(self, table: Any) -> Any:
        """The dialect's INSERT, which has ON CONFLICT (both SQLite and PostgreSQL spell it the same)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)


def _path_key(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()


def _reject_row(origin: str, reject: Reject, now: datetime) -> dict[str, Any]:
    material = f"{origin}\x00{reject.position}\x00{reject.excerpt}".encode("utf-8", "backslashreplace")
    return {"key": hashlib.sha256(material).hexdigest(), "origin": origin, "position": reject.position[:200],
            "reason": reject.reason, "excerpt": reject.excerpt, "at": now}


def _counts(row: Any) -> Counts:
    return Counts(row.posts, row.negatives, row.negative_sum, Counter(row.keywords or {}), Counter(row.topics or {}))


def _window_counts(connection: Connection, start: datetime, end: datetime) -> Counts:
    total = Counts()
    for row in connection.execute(select(BUCKETS).where(BUCKETS.c.start >= start, BUCKETS.c.start < end)):
        total.add(_counts(row))
    return total


def _details(connection: Connection, counts: Counts) -> dict[str, Any]:
    """What an alert carries besides its numbers: the window's top keywords and topics (with their labels)."""
    top = counts.topics.most_common(5)
    labels = dict(connection.execute(select(TOPICS.c.id, TOPICS.c.label)
                                     .where(TOPICS.c.id.in_([t for t, _ in top]))).all()) if top else {}
    return {"keywords": [word for word, _ in counts.keywords.most_common(10)],
            "topics": [{"id": t, "label": labels.get(t, t), "posts": n} for t, n in top],
            "mean_negative": counts.negative_sum / counts.posts if counts.posts else 0.0}


def _alert(row: Any) -> Alert:
    return Alert(row.id, row.rule, row.window_start, row.window_end, row.metric, row.value, row.threshold, row.posts,
                 row.negatives, row.message, dict(row.details or {}))
