"""Reports: numbers equal to counting the posts themselves, rising topics by hand-computed z-scores, a bilingual
summary, and an offline HTML page with its charts embedded."""
from __future__ import annotations

import base64
import io
import json
import math
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from shendu.errors import BadInputError
from shendu.opinion import (AlertRule, Counts, LinearSentiment, Monitor, OpinionStore, build_report, ingest_stream,
                            parse_when, summary_text, write_html)
from shendu.opinion._aggregate import rising_topics
from shendu.opinion._corpora import Review
from shendu.opinion._schema import PostRow

BASE = datetime(2026, 4, 1, 8, tzinfo=timezone.utc)


@pytest.fixture
def analysed(store: OpinionStore, scorer: LinearSentiment, held_out: list[Review]) -> OpinionStore:
    """400 held-out reviews over 4 hours, analysed, with a rule low enough to fire somewhere."""
    body = "".join(json.dumps({"text": r.text, "time": (BASE + timedelta(seconds=36 * i)).isoformat(),
                               "source": "ctrip" if i % 2 else "weibo"}, ensure_ascii=False) + "\n"
                   for i, r in enumerate(held_out[:400])).encode()
    ingest_stream(store, io.BytesIO(body + b"{oops\n"))
    Monitor(store, scorer, rules=[AlertRule(threshold=0.25, window=timedelta(hours=1), min_posts=50)]).run()
    return store


def test_report_numbers_equal_counting_the_posts(analysed: OpinionStore) -> None:
    since, until = BASE + timedelta(minutes=30), BASE + timedelta(hours=3)
    report = build_report(analysed, since, until, timedelta(minutes=30))
    with analysed._reader.connect() as connection:
        rows = connection.execute(select(PostRow.label, PostRow.keywords, PostRow.time)
                                  .where(PostRow.time >= since, PostRow.time < until)).all()
    assert report.totals.posts == len(rows) == 250
    assert report.totals.negatives == sum(r.label == "negative" for r in rows)
    assert [s for s, _ in report.series] == [since + timedelta(minutes=30 * k) for k in range(5)]
    assert sum(c.posts for _, c in report.series) == len(rows)
    counted = Counter(word for r in rows for word in r.keywords)
    assert all(counted[word] == n for word, n in report.keywords)
    assert sorted(counted.values(), reverse=True)[:20] == [n for _, n in report.keywords]
    assert report.rejects == {}  # malformed lines count by when they were read (now), not in this past period
    now = datetime.now(timezone.utc)
    assert build_report(analysed, now - timedelta(hours=1), now + timedelta(minutes=1)).rejects == {"json": 1}
    assert report.alerts and all(since <= a.window_start < until for a in report.alerts)


def test_summary_and_html_are_bilingual_offline_and_small(analysed: OpinionStore, tmp_path: Path) -> None:
    report = build_report(analysed, BASE, BASE + timedelta(hours=4))
    text = summary_text(report)
    assert "Posts / 帖子: 400" in text and "Top keywords / 热词" in text and "Alerts / 告警: 4" in text
    now = datetime.now(timezone.utc)
    recent = summary_text(build_report(analysed, now - timedelta(hours=1), now + timedelta(minutes=1)))
    assert "Malformed input lines / 格式错误的输入行: 1 (json 1)" in recent
    path = write_html(report, tmp_path / "r" / "report.html")
    page = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 1_000_000
    assert "舆情报告" in page and "Negative share / 负面占比" in page and "http://" not in page.replace(
        'http://www.w3.org', '')
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2 and all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert report.to_dict()["posts"] == 400


def test_an_empty_period_still_reports(store: OpinionStore, tmp_path: Path) -> None:
    report = build_report(store, BASE, BASE + timedelta(hours=1))
    assert report.totals.posts == 0 and len(report.series) == 12  # 1 h / 48 rows → the next round width, 5 min
    assert "Posts / 帖子: 0" in summary_text(report)
    assert write_html(report, tmp_path / "empty.html").is_file()


def test_rising_topics_rank_by_poisson_z_score() -> None:
    def window(**topics: int) -> tuple[datetime, Counts]:
        return BASE, Counts(topics=Counter(topics))

    series = [window(a=4, b=1), window(a=6, b=1), window(a=5, b=30, c=3)]
    ranked = rising_topics(series, min_recent=3)
    # b: mean before 1 → (30 − 1) / √2; c: new → (3 − 0) / √1; a: mean 5 → 0, not rising
    assert [(r.topic, round(r.score, 6)) for r in ranked] == [("b", round(29 / math.sqrt(2), 6)), ("c", 3.0)]


def test_periods_parse_durations_times_and_say_what_is_wrong() -> None:
    now = datetime(2026, 4, 2, tzinfo=timezone.utc)
    assert parse_when("24h", now=now, what="--since") == datetime(2026, 4, 1, tzinfo=timezone.utc)
    assert parse_when("1h30m", now=now, what="--since") == now - timedelta(minutes=90)
    assert parse_when("2026-04-01T12:00:00+08:00", now=now, what="--since") == datetime(2026, 4, 1, 4,
                                                                                      tzinfo=timezone.utc)
    assert parse_when(None, now=now, what="--until") == now
    with pytest.raises(BadInputError, match="neither a duration"):
        parse_when("last week", now=now, what="--since")
    with pytest.raises(BadInputError, match="period is empty"):
        build_report(None, now, now)  # type: ignore[arg-type]
