"""The monitor end to end: a timestamped stream of real reviews replayed with an injected burst of negative posts
— the alert fires in the burst's window, as soon as its posts are analysed, and nowhere else; alerts reach the
log and a webhook (a failing webhook is retried, never fatal); re-analysis never counts a post twice."""
from __future__ import annotations

import io
import json
import logging
import random
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from collections.abc import Iterator

import pytest

from shendu.errors import BadInputError
from shendu.opinion import AlertRule, LinearSentiment, Monitor, Notifier, OpinionStore, ingest_stream, rules_from
from shendu.opinion._corpora import Review

BASE = datetime(2026, 3, 1, tzinfo=timezone.utc)
WINDOW = timedelta(minutes=10)
WINDOWS, PER_WINDOW, BURST_WINDOW, BURST = 24, 60, 14, 120
RULES = [AlertRule("negative_share", "negative_share", 0.4, WINDOW, 50),
         AlertRule("volume", "volume", 150, WINDOW, 1)]


def _stream(held_out: list[Review]) -> list[dict]:
    """24 ten-minute windows of 60 reviews (90% positive), plus 120 negative reviews inside window 14."""
    rng = random.Random(7)
    positives = [r for r in held_out if r.label == 1]
    negatives = [r for r in held_out if r.label == 0]
    posts = []
    for w in range(WINDOWS):
        for i in range(PER_WINDOW):
            review = negatives.pop() if i % 10 == 0 else positives.pop()
            posts.append((w * 600 + rng.uniform(0, 600), review.text))
    for _ in range(BURST):  # the burst: minutes 2–8 of window 14
        posts.append((BURST_WINDOW * 600 + rng.uniform(120, 480), negatives.pop().text))
    posts.sort()
    return [{"text": text, "time": (BASE + timedelta(seconds=s)).isoformat(), "source": "replay"} for s, text in posts]


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A local HTTP server that records the JSON bodies POSTed to it."""
    handler = type("Hook", (_Hook,), {"received": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", handler.received
    server.shutdown()
    server.server_close()


def test_burst_of_negative_posts_fires_in_its_window_and_nowhere_else(
        store: OpinionStore, scorer: LinearSentiment, held_out: list[Review], webhook: tuple[str, list[dict]],
        caplog: pytest.LogCaptureFixture) -> None:
    url, received = webhook
    monitor = Monitor(store, scorer, rules=RULES, notifier=Notifier(url), batch_size=200)
    stream = _stream(held_out)
    first_seen: dict[str, int] = {}
    chunk = timedelta(minutes=5)
    with caplog.at_level(logging.WARNING, logger="shendu.opinion"):
        for step in range(WINDOWS * 2):  # replay five minutes of posts at a time, analysing after each
            lo, hi = BASE + step * chunk, BASE + (step + 1) * chunk
            part = [p for p in stream if lo <= datetime.fromisoformat(p["time"]) < hi]
            body = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in part).encode()
            ingest_stream(store, io.BytesIO(body), source="replay")
            for alert in monitor.run().alerts:
                first_seen.setdefault(alert.rule, step)

    burst_start = BASE + BURST_WINDOW * WINDOW
    alerts = store.alerts(BASE, BASE + WINDOWS * WINDOW)
    assert [(a.rule, a.window_start) for a in alerts] == [("negative_share", burst_start), ("volume", burst_start)]
    # fired while the burst's window was being replayed (its 5-minute halves are steps 28 and 29), not after
    assert first_seen == {"negative_share": 28, "volume": 29}
    share = alerts[0]
    assert share.value > 0.5 and share.posts == PER_WINDOW + BURST and share.negatives / share.posts == share.value
    buckets = store.buckets(BASE, BASE + WINDOWS * WINDOW)
    assert sum(c.posts for c in buckets.values()) == len(stream)  # every post counted exactly once
    quiet = [monitor_share(buckets, BASE + w * WINDOW) for w in range(WINDOWS) if w != BURST_WINDOW]
    assert max(quiet) < 0.3, quiet  # the other windows stay far below the threshold
    assert [body["window_start"] for body in received] == [burst_start.isoformat()] * 2
    assert received[0]["rule"] == "negative_share" and received[0]["details"]["keywords"]
    assert all(t["label"] and t["label"] != t["id"] for t in received[0]["details"]["topics"])  # named by terms
    assert sum("ALERT [negative_share]" in r.getMessage() for r in caplog.records) == 1
    assert store.undelivered(3) == []


def monitor_share(buckets: dict, start: datetime) -> float:
    posts = sum(c.posts for m, c in buckets.items() if start <= m < start + WINDOW)
    negatives = sum(c.negatives for m, c in buckets.items() if start <= m < start + WINDOW)
    return negatives / posts


def test_failing_webhook_is_logged_not_fatal_and_retried_later(
        store: OpinionStore, scorer: LinearSentiment, held_out: list[Review], webhook: tuple[str, list[dict]],
        caplog: pytest.LogCaptureFixture) -> None:
    negatives = [r.text for r in held_out if r.label == 0][:60]
    body = "".join(json.dumps({"text": t, "time": (BASE + timedelta(seconds=i)).isoformat()}, ensure_ascii=False)
                   + "\n" for i, t in enumerate(negatives)).encode()
    ingest_stream(store, io.BytesIO(body))
    dead = Notifier("http://127.0.0.1:9/nothing-listens-here", timeout_s=2)
    with caplog.at_level(logging.ERROR, logger="shendu.opinion"):
        summary = Monitor(store, scorer, rules=RULES[:1], notifier=dead).run()
    assert summary.analysed == 60 and len(summary.alerts) == 1
    assert any("webhook" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records)
    (pending,) = store.undelivered(3)
    url, received = webhook
    assert Monitor(store, scorer, rules=RULES[:1], notifier=Notifier(url)).deliver() == 1
    assert [r["id"] for r in received] == [pending.id] and store.undelivered(3) == []


def test_analysing_again_changes_nothing(store: OpinionStore, scorer: LinearSentiment, held_out: list[Review]) -> None:
    body = "".join(json.dumps({"text": r.text, "time": (BASE + timedelta(seconds=9 * i)).isoformat()},
                              ensure_ascii=False) + "\n" for i, r in enumerate(held_out[:300])).encode()
    ingest_stream(store, io.BytesIO(body))
    monitor = Monitor(store, scorer, rules=RULES[:1], batch_size=128)
    assert monitor.run().analysed == 300
    before = store.buckets(BASE, BASE + timedelta(hours=1))
    ingest_stream(store, io.BytesIO(body))  # the same posts again: duplicates, nothing to analyse
    assert Monitor(store, scorer, rules=RULES[:1]).run().analysed == 0
    after = store.buckets(BASE, BASE + timedelta(hours=1))
    assert {m: (c.posts, c.negatives) for m, c in after.items()} == {m: (c.posts, c.negatives)
                                                                      for m, c in before.items()}
    assert store.count_posts() == {"stored": 300, "analysed": 300, "pending": 0}


def test_rules_from_config_and_their_errors() -> None:
    rules = rules_from({"rules": [{"metric": "negative_share", "threshold": 0.3, "window": "30m", "min_posts": 20},
                                  {"name": "surge", "metric": "volume", "threshold": 500, "window": "1h"}]})
    assert [(r.name, r.window, r.min_posts) for r in rules] == [("negative_share_1", timedelta(minutes=30), 20),
                                                                ("surge", timedelta(hours=1), 50)]
    assert rules[0].check(20, 7) == (True, 0.35) and rules[0].check(19, 19)[0] is False
    with pytest.raises(BadInputError, match="unknown key.*threshhold.*valid: name, metric"):
        rules_from([{"threshhold": 0.4}])
    with pytest.raises(BadInputError, match="whole number of minutes"):
        rules_from([{"window": "90s"}])
    with pytest.raises(BadInputError, match="not a share"):
        rules_from([{"threshold": 40}])
    with pytest.raises(BadInputError, match="unique"):
        rules_from([{"name": "a"}, {"name": "a"}])
