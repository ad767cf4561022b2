"""The 舆情 (public-opinion) monitor: ingest posts, analyse them (sentiment, keywords, topics), aggregate
over time windows, raise alerts and report — on the run database. See docs/opinion.md.

    >>> from shendu.opinion import OpinionStore, Monitor, ingest_file, load_scorer, build_report
    >>> store = OpinionStore()                              # the run database (SHENDU_DB or SHENDU_HOME/shendu.db)
    >>> ingest_file(store, "posts.jsonl")                   # idempotent: re-ingesting stores nothing twice
    >>> Monitor(store, load_scorer()).run()                 # sentiment, keywords, topics, buckets, alerts
    >>> print(summary_text(build_report(store, since, until)))
"""
from shendu.opinion._aggregate import Counts, PostResult, Rising
from shendu.opinion._alerts import DEFAULT_RULES, Alert, AlertRule, Notifier, load_rules, parse_duration, rules_from
from shendu.opinion._analyze import Analyzer, BatchAnalysis, Monitor, RunSummary
from shendu.opinion._ingest import DirectoryFollower, IngestReport, ingest_file, ingest_stream
from shendu.opinion._posts import Post, RecordDefaults, Reject, parse_time, post_from_record, post_key
from shendu.opinion._report import Report, build_report, parse_when, render_html, summary_text, write_html
from shendu.opinion._sentiment import LinearSentiment, PackageScorer, SentimentScorer, load_scorer
from shendu.opinion._store import OpinionStore
from shendu.opinion._topics import TopicTracker

__all__ = [
    "DEFAULT_RULES", "Alert", "AlertRule", "Analyzer", "BatchAnalysis", "Counts", "DirectoryFollower", "IngestReport",
    "LinearSentiment", "Monitor", "Notifier", "OpinionStore", "PackageScorer", "Post", "PostResult", "RecordDefaults",
    "Reject", "Report", "Rising", "RunSummary", "SentimentScorer", "TopicTracker", "build_report", "ingest_file",
    "ingest_stream", "load_rules", "load_scorer", "parse_duration", "parse_time", "parse_when", "post_from_record",
    "post_key", "render_html", "rules_from", "summary_text", "write_html",
]
