"""The same store behaviour on SQLite and PostgreSQL: idempotent ingest, analysis claimed once, buckets, alerts,
offsets and rejects (PostgreSQL when SHENDU_TEST_PG names a server, else skipped with the reason)."""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from shendu.opinion import AlertRule, LinearSentiment, Monitor, OpinionStore, ingest_stream
from shendu.opinion._aggregate import PostResult
from shendu.opinion._corpora import Review
from shendu.opinion._posts import Reject
from shendu.opinion._schema import OpinionBase
from tests.conftest import pg_url

BASE = datetime(2026, 7, 1, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest) -> Iterator[OpinionStore]:
    """The test's SQLite store, then (when SHENDU_TEST_PG is set) a PostgreSQL one with empty opinion tables."""
    opened = OpinionStore(pg_url() if request.param == "postgresql" else None)
    if opened.dialect == "postgresql":
        with opened._writer.begin() as connection:
            connection.execute(text("TRUNCATE " + ", ".join(OpinionBase.metadata.tables)))
    yield opened
    opened.close()


def test_ingest_analysis_and_alerts_on_each_backend(any_store: OpinionStore, scorer: LinearSentiment,
                                                    held_out: list[Review]) -> None:
    negatives = [r.text for r in held_out if r.label == 0][:70]
    body = "".join(json.dumps({"text": t, "time": (BASE + timedelta(seconds=5 * i)).isoformat(), "author": "甲"},
                              ensure_ascii=False) + "\n" for i, t in enumerate(negatives)).encode() + b"{bad\n"
    first = ingest_stream(any_store, io.BytesIO(body), batch_size=16)
    again = ingest_stream(any_store, io.BytesIO(body), batch_size=16)
    assert (first.stored, first.rejected, again.stored, again.duplicates) == (70, 1, 0, 70)

    summary = Monitor(any_store, scorer, rules=[AlertRule(threshold=0.4, min_posts=50)], batch_size=32).run()
    assert summary.analysed == 70
    (alert,) = any_store.alerts(BASE, BASE + timedelta(hours=1))
    assert alert.window_start == BASE and alert.posts == 70 and any_store.undelivered(3) == []
    buckets = any_store.buckets(BASE, BASE + timedelta(hours=1))
    assert sum(c.posts for c in buckets.values()) == 70 and len(buckets) == 6
    assert any_store.count_posts() == {"stored": 70, "analysed": 70, "pending": 0}


def test_a_post_is_claimed_by_one_analysis_only(any_store: OpinionStore) -> None:
    body = b"".join(json.dumps({"text": f"p{i}", "time": (BASE + timedelta(seconds=i)).isoformat()}).encode() + b"\n"
                    for i in range(10))
    ingest_stream(any_store, io.BytesIO(body))
    pending = any_store.pending(10)
    results = [PostResult(p.seq, p.time, 0.9, "negative", ["词"], None) for p in pending]
    assert any_store.save_analysis(results, [], [])[0] == 10
    assert any_store.save_analysis(results, [], [])[0] == 0  # a second analyser finds nothing left to claim
    (bucket,) = any_store.buckets(BASE, BASE + timedelta(minutes=1)).values()
    assert (bucket.posts, bucket.negatives, bucket.keywords["词"]) == (10, 10, 10)


def test_offsets_and_rejects_round_trip(any_store: OpinionStore) -> None:
    assert any_store.offset("/data/feed.jsonl") is None
    reject = Reject("encoding", "not UTF-8", "line 3 (byte 40)", "\\xb7\\xfe")
    any_store.add_posts([], [("/data/feed.jsonl", reject)], ("/data/feed.jsonl", 1234, 99))
    any_store.add_posts([], [("/data/feed.jsonl", reject)], ("/data/feed.jsonl", 2048, 99))  # same reject: kept once
    assert any_store.offset("/data/feed.jsonl") == (2048, 99)
    now = datetime.now(timezone.utc)
    assert any_store.reject_counts(now - timedelta(hours=1), now + timedelta(minutes=1)) == {"encoding": 1}
