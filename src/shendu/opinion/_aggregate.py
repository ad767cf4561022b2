"""Aggregation over time: one-minute buckets of analysed posts, and windows as sums of buckets.

A bucket holds the number of posts, of negative posts, the sum of P(negative), and counts of keywords
and topics — each counter cut to its `TOP_PER_BUCKET` largest entries, so a bucket stays small whatever
the traffic. Windows (alert rules, report rows) are whole minutes, so every window is an exact sum of
buckets for the counts; keyword and topic rankings over several minutes merge the per-minute top lists
(exact unless an entry sits just below the cut in many minutes).
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shendu.errors import BadInputError
from shendu.opinion._posts import window_floor

BUCKET = timedelta(minutes=1)
TOP_PER_BUCKET = 200


@dataclass(frozen=True)
class PostResult:
    """The analysis of one stored post (`seq` is its row), ready to be written."""

    seq: int
    time: datetime
    negative: float
    label: str
    keywords: list[str]
    topic: str | None


@dataclass
class Counts:
    """Volume, negatives, P(negative) sum and keyword / topic counts of a bucket or a window."""

    posts: int = 0
    negatives: int = 0
    negative_sum: float = 0.0
    keywords: Counter[str] = field(default_factory=Counter)
    topics: Counter[str] = field(default_factory=Counter)

    @property
    def negative_share(self) -> float:
        """Share of posts labelled negative (0 for an empty window)."""
        return self.negatives / self.posts if self.posts else 0.0

    def add(self, other: Counts) -> None:
        """Add another bucket's or window's counts into this one."""
        self.posts += other.posts
        self.negatives += other.negatives
        self.negative_sum += other.negative_sum
        self.keywords.update(other.keywords)
        self.topics.update(other.topics)

    def trimmed(self) -> Counts:
        """The same counts with keyword and topic counters cut to the bucket size (for storage)."""
        return Counts(self.posts, self.negatives, self.negative_sum, _top(self.keywords), _top(self.topics))


def _top(counter: Mapping[str, int]) -> Counter[str]:
    return Counter(dict(Counter(counter).most_common(TOP_PER_BUCKET)))


def bucket_deltas(results: Iterable[PostResult]) -> dict[datetime, Counts]:
    """What a batch of analysed posts adds to each minute bucket."""
    deltas: dict[datetime, Counts] = {}
    for result in results:
        counts = deltas.setdefault(window_floor(result.time, BUCKET), Counts())
        counts.posts += 1
        counts.negatives += result.label == "negative"
        counts.negative_sum += result.negative
        counts.keywords.update(result.keywords)
        if result.topic is not None:
            counts.topics[result.topic] += 1
    return deltas


def windows(buckets: Mapping[datetime, Counts], start: datetime, end: datetime,
            width: timedelta) -> list[tuple[datetime, Counts]]:
    """Every `width`-long window from the one holding `start` up to `end` (empty windows included)."""
    _check_width(width)
    first = window_floor(start, width)
    series: list[tuple[datetime, Counts]] = []
    at = first
    while at < end:
        series.append((at, Counts()))
        at += width
    for minute, counts in buckets.items():
        index = int((minute - first) / width)
        if 0 <= index < len(series):
            series[index][1].add(counts)
    return series


def _check_width(width: timedelta) -> None:
    if width < BUCKET or width.total_seconds() % BUCKET.total_seconds():
        raise BadInputError(f"window {width} is not a whole number of minutes (expected e.g. 10m, 1h)")


@dataclass(frozen=True)
class Rising:
    """A topic whose volume in the latest window stands out against the windows before it."""

    topic: str
    recent: int
    baseline: float
    score: float


def rising_topics(series: Sequence[tuple[datetime, Counts]], *, top: int = 10, min_recent: int = 3) -> list[Rising]:
    """Topics of the last window ranked by a Poisson z-score against their mean in the earlier windows:
    (recent − mean) / sqrt(mean + 1). Only topics with at least `min_recent` posts and a positive score."""
    if not series:
        return []
    *before, (_, last) = series
    totals: Counter[str] = Counter()
    for _, counts in before:
        totals.update(counts.topics)
    span = max(len(before), 1)
    ranked = []
    for topic, recent in last.topics.items():
        mean = totals.get(topic, 0) / span
        score = (recent - mean) / math.sqrt(mean + 1.0)
        if recent >= min_recent and score > 0:
            ranked.append(Rising(topic, recent, mean, score))
    ranked.sort(key=lambda r: (-r.score, -r.recent, r.topic))
    return ranked[:top]
