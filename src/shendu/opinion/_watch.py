"""`shendu opinion watch`: follow a directory and analyse as posts arrive, until stopped.

One loop, one process: poll the directory (new complete lines of every file), analyse everything that
waits, sleep. Both halves commit as they go, so stopping it at any moment — Ctrl-C, kill -9, a crash —
and starting it again continues where the database says it was.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shendu import _settings
from shendu.opinion._alerts import Alert
from shendu.opinion._analyze import Monitor
from shendu.opinion._ingest import DirectoryFollower, IngestReport

log = logging.getLogger("shendu.opinion")


@dataclass
class WatchSummary:
    """What a watch did over its life."""

    ingest: IngestReport = field(default_factory=IngestReport)
    analysed: int = 0
    alerts: list[Alert] = field(default_factory=list)
    polls: int = 0


def watch(follower: DirectoryFollower, monitor: Monitor | None, *, stop: threading.Event | None = None,
          interval_s: float = 1.0, once: bool = False,
          echo: Callable[[str], None] | None = None) -> WatchSummary:
    """Poll and analyse until `stop` is set (or after one round with `once`).

    Args:
        follower: the directory reader.
        monitor: the analyser; None to only ingest.
        stop: set it (another thread, a signal handler) to end the loop after the current round.
        interval_s: pause between rounds.
        once: one round, then return (cron jobs, tests).
        echo: receives one line per round that found something.
    """
    stop = stop or threading.Event()
    summary = WatchSummary()
    while True:
        report = follower.poll()
        summary.ingest.add(report)
        summary.polls += 1
        analysed, alerts = _analyse_all(monitor)
        summary.analysed += analysed
        summary.alerts.extend(alerts)
        if echo is not None and (report.read or analysed):
            echo(f"{report.summary()} · analysed / 已分析 {analysed:,} · alerts / 告警 {len(alerts)}")
        if once or stop.wait(interval_s):
            return summary


def _analyse_all(monitor: Monitor | None) -> tuple[int, list[Alert]]:
    if monitor is None:
        return 0, []
    result = monitor.run()
    return result.analysed, result.alerts


def log_to_file(path: Path | None = None) -> Path:
    """Also write the `shendu.opinion` log (alerts included) to a file, default SHENDU_HOME/logs/opinion.log."""
    path = path or _settings.subdir("logs") / "opinion.log"
    logger = logging.getLogger("shendu.opinion")
    if not any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path.resolve()
               for h in logger.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(min(logger.level or logging.INFO, logging.INFO))
    return path
