"""Analysis of stored posts, in batches: sentiment, keywords, topics, then aggregates and alerts.

`Analyzer` does the text work for a batch: jieba segments each post once; the words feed the scorer
(when it uses them), the TF-IDF keywords and the topic vectors. `Monitor` drives it over the run
database: it takes the oldest unanalysed posts, analyses them, writes results + minute buckets +
topics + alerts in one transaction (`OpinionStore.save_analysis`), then delivers new alerts (log,
webhook). Batches of ~1,000 posts amortize the per-call costs of the scorer and the database.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from shendu.errors import BadInputError
from shendu.opinion._aggregate import PostResult
from shendu.opinion._alerts import DEFAULT_RULES, MAX_ATTEMPTS, Alert, AlertRule, Notifier
from shendu.opinion._sentiment import SentimentScorer
from shendu.opinion._store import OpinionStore
from shendu.opinion._text import Keywords, Segmenter
from shendu.opinion._topics import TopicTracker

log = logging.getLogger("shendu.opinion")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class BatchAnalysis:
    """P(negative), labels, keywords and topic ids of a batch, and the topics it created or changed."""

    negative: np.ndarray
    labels: list[str]
    keywords: list[list[str]]
    topics: list[str | None]
    changed_topics: list = field(default_factory=list)


class Analyzer:
    """Sentiment, keywords and topics of texts, a batch at a time.

    Args:
        scorer: the sentiment model (P(negative)).
        keywords: keywords kept per post.
        tracker: the topic grouping (default `TopicTracker()`).
        negative_at: P(negative) from which a post is labelled negative.
        workers: extra processes for jieba segmentation (see `Segmenter`); None picks cores − 1.
    """

    def __init__(self, scorer: SentimentScorer, *, keywords: int = 5, tracker: TopicTracker | None = None,
                 negative_at: float = 0.5, workers: int | None = 0) -> None:
        if not isinstance(scorer, SentimentScorer):
            raise BadInputError(f"scorer {scorer!r} has no score(texts, words) method (see SentimentScorer)")
        self.scorer = scorer
        self.keywords = keywords
        self.tracker = tracker or TopicTracker()
        self.negative_at = negative_at
        self._tfidf = Keywords()
        self.segment = Segmenter(workers)

    def analyze(self, texts: Sequence[str], times: Sequence[datetime]) -> BatchAnalysis:
        """Analyse one batch (posts in time order give the most stable topics)."""
        words = self.segment([text.lower() for text in texts])  # case-folded: 'iPhone' and 'iphone' are one word
        negative = np.asarray(self.scorer.score(texts, words), dtype=np.float64)
        if negative.shape != (len(texts),) or not np.isfinite(negative).all():
            raise BadInputError(f"scorer {self.scorer.name} returned {negative.shape} values for {len(texts)} texts "
                                "(expected one finite P(negative) per text)")
        weights = [self._tfidf.weights(w) for w in words]
        keywords = [Keywords.top(w, self.keywords) for w in weights]
        topics, changed = self.tracker.assign(weights, times)
        labels = ["negative" if p >= self.negative_at else "positive" for p in negative]
        return BatchAnalysis(negative, labels, keywords, topics, changed)


@dataclass
class RunSummary:
    """What one `Monitor.run` did."""

    analysed: int = 0
    alerts: list[Alert] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Posts analysed per second."""
        return self.analysed / self.seconds if self.seconds > 0 else 0.0


class Monitor:
    """Analyses what the run database holds and raises alerts.

    Args:
        store: the opinion store.
        scorer: the sentiment model.
        rules: alert rules (default: negative share > 40% with ≥ 50 posts in 10 minutes).
        notifier: where alerts go (default: the log only).
        batch_size: posts per batch.
        tracker: topic grouping; its live topics are restored from the database.
        keywords: keywords kept per post.
        workers: extra processes for jieba segmentation; None picks cores − 1.
    """

    def __init__(self, store: OpinionStore, scorer: SentimentScorer, *, rules: Sequence[AlertRule] = DEFAULT_RULES,
                 notifier: Notifier | None = None, batch_size: int = 1000, tracker: TopicTracker | None = None,
                 keywords: int = 5, workers: int | None = 0) -> None:
        if batch_size < 1:
            raise BadInputError(f"batch size must be ≥ 1, received {batch_size}")
        self.store, self.rules, self.batch_size = store, list(rules), batch_size
        self.notifier = notifier or Notifier()
        self.analyzer = Analyzer(scorer, keywords=keywords, tracker=tracker, workers=workers)
        tracker = self.analyzer.tracker
        tracker.restore(store.active_topics(_EPOCH, tracker.max_active))

    def step(self) -> tuple[int, list[Alert]]:
        """Analyse the next batch of stored posts; returns (posts analysed, new alerts). (0, []) when none wait."""
        batch = self.store.pending(self.batch_size)
        if not batch:
            return 0, []
        batch.sort(key=lambda p: (p.time, p.seq))
        analysis = self.analyzer.analyze([p.text for p in batch], [p.time for p in batch])
        results = [PostResult(p.seq, p.time, float(neg), label, kw, topic) for p, neg, label, kw, topic in
                   zip(batch, analysis.negative, analysis.labels, analysis.keywords, analysis.topics)]
        written, alerts = self.store.save_analysis(results, analysis.changed_topics, self.rules)
        self.deliver()
        return written, alerts

    def deliver(self) -> int:
        """Send alerts not delivered yet (new ones, and earlier failures up to MAX_ATTEMPTS); returns how many
        were delivered."""
        delivered = 0
        for alert in self.store.undelivered(MAX_ATTEMPTS):
            error = self.notifier.deliver(alert)
            self.store.mark_delivery(alert.id, error)
            delivered += error is None
        return delivered

    def run(self, *, progress: bool = False, on_batch: Callable[[int], None] | None = None) -> RunSummary:
        """Analyse every post waiting in the database (including those stored while it runs)."""
        summary = RunSummary()
        start = time.perf_counter()
        with _Bar(progress, self.store.pending_count()) as advance:
            while True:
                done, alerts = self.step()
                if not done:
                    break
                summary.analysed += done
                summary.alerts.extend(alerts)
                advance(done)
                if on_batch is not None:
                    on_batch(done)
        self.deliver()
        summary.seconds = time.perf_counter() - start
        return summary


class _Bar:
    """A rich progress bar on stderr (posts analysed of those waiting, elapsed, remaining), or nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total, self._progress, self._task = enabled and total > 0, total, None, None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda _n: None
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self._progress = Progress(TextColumn("analysing posts / 分析帖子"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True))
        self._progress.__enter__()
        self._task = self._progress.add_task("analyse", total=self.total)
        return lambda n: self._progress.advance(self._task, n)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
