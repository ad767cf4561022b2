"""Alert rules over time windows, and their delivery: the log, a webhook, the `opinion_alerts` table.

A rule looks at windows of `window` minutes aligned to the Unix epoch (10-minute windows start at
:00, :10, … UTC) — tumbling windows, so "the window a burst fell in" is well defined and an alert is
stored once per (rule, window). A window is checked whenever analysed posts land in it, so an alert
fires as soon as the condition holds, before the window closes; later posts in the same window update
the stored numbers but do not notify again.

Rules: `negative_share` fires when the window has at least `min_posts` posts and the share labelled
negative exceeds `threshold`; `volume` fires when the window has at least `threshold` posts.

Delivery is at least once: an alert row is committed with the analysis, then logged (logger
`shendu.opinion`, which the CLI also writes to `SHENDU_HOME/logs/opinion.log`) and POSTed to the webhook;
`notified_at` is set only after that, and undelivered alerts are retried (up to `MAX_ATTEMPTS`) on the
next round. A webhook that fails or times out is logged, never fatal.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from shendu.errors import BadInputError
from shendu.opinion._posts import window_floor

log = logging.getLogger("shendu.opinion")

METRICS = ("negative_share", "volume")
MAX_ATTEMPTS = 3
_RULE_KEYS = ("name", "metric", "threshold", "window", "min_posts")


def parse_duration(value: str | int | float | timedelta, what: str = "duration") -> timedelta:
    """A duration from "90s", "10m", "1h", "7d", "1h30m" or a number of seconds.

    Raises:
        BadInputError: anything else, with examples of valid values.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=float(value))
    text = str(value).strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    total, number = 0.0, ""
    for char in text:
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total, number = total + float(number) * units[char], ""
        else:
            total = -1.0
            break
    if number or total <= 0:
        raise BadInputError(f"{what} {value!r} is not a duration (expected e.g. 90s, 10m, 1h, 1h30m, 7d)")
    return timedelta(seconds=total)


@dataclass(frozen=True)
class AlertRule:
    """One alert rule.

    Args:
        name: unique, shown in messages and stored with each alert.
        metric: "negative_share" or "volume".
        threshold: the share (0–1) to exceed, or the number of posts to reach.
        window: the window length (whole minutes).
        min_posts: posts a window needs before `negative_share` is judged (a few posts prove nothing).
    """

    name: str = "negative_share"
    metric: str = "negative_share"
    threshold: float = 0.4
    window: timedelta = timedelta(minutes=10)
    min_posts: int = 50

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise BadInputError(f"alert rule {self.name!r}: metric {self.metric!r} is unknown "
                                f"(valid: {', '.join(METRICS)})")
        if self.metric == "negative_share" and not 0 <= self.threshold < 1:
            raise BadInputError(f"alert rule {self.name!r}: threshold {self.threshold} is not a share in [0, 1) "
                                "(e.g. 0.4 for 40%)")
        if self.metric == "volume" and self.threshold < 1:
            raise BadInputError(f"alert rule {self.name!r}: a volume threshold is a number of posts ≥ 1, "
                                f"received {self.threshold}")
        minutes = self.window.total_seconds() / 60
        if minutes < 1 or minutes != int(minutes):
            raise BadInputError(f"alert rule {self.name!r}: window {self.window} is not a whole number of minutes "
                                "(expected e.g. 10m or 1h)")
        if self.min_posts < 1:
            raise BadInputError(f"alert rule {self.name!r}: min_posts must be ≥ 1, received {self.min_posts}")

    def check(self, posts: int, negatives: int) -> tuple[bool, float]:
        """(fires, value) for a window with these counts."""
        if self.metric == "volume":
            return posts >= self.threshold, float(posts)
        share = negatives / posts if posts else 0.0
        return posts >= self.min_posts and share > self.threshold, share

    def describe(self) -> str:
        """The rule in words, both languages."""
        minutes = int(self.window.total_seconds() // 60)
        if self.metric == "volume":
            return (f"{self.name}: ≥ {self.threshold:g} posts in {minutes} min / "
                    f"{minutes} 分钟内帖子数 ≥ {self.threshold:g}")
        return (f"{self.name}: negative share > {self.threshold:.0%} with ≥ {self.min_posts} posts in {minutes} min"
                f" / {minutes} 分钟内至少 {self.min_posts} 条且负面占比 > {self.threshold:.0%}")


DEFAULT_RULES = (AlertRule(),)


def rules_from(data: Any, origin: str = "rules") -> list[AlertRule]:
    """Rules from parsed YAML/JSON: a list of mappings, or {"rules": [...]}; durations as "10m".

    Raises:
        BadInputError: unknown keys (the valid ones are listed), bad values or duplicate names.
    """
    items = data.get("rules") if isinstance(data, Mapping) else data
    if not isinstance(items, list) or not items:
        raise BadInputError(f"{origin}: expected a list of rules (or {{rules: [...]}}), received "
                            f"{type(items).__name__}")
    rules: list[AlertRule] = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, Mapping):
            raise BadInputError(f"{origin}: rule {number} is a {type(item).__name__}, expected a mapping")
        unknown = sorted(set(item) - set(_RULE_KEYS))
        if unknown:
            raise BadInputError(f"{origin}: rule {number} has unknown key(s) {unknown} "
                                f"(valid: {', '.join(_RULE_KEYS)})")
        values = dict(item)
        values.setdefault("name", f"{values.get('metric', 'negative_share')}_{number}")
        if "window" in values:
            values["window"] = parse_duration(values["window"], f"{origin}: rule {number} window")
        try:
            rules.append(AlertRule(**values))
        except TypeError as exc:
            raise BadInputError(f"{origin}: rule {number}: {exc}") from None
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        raise BadInputError(f"{origin}: rule names must be unique, received {names}")
    return rules


def load_rules(path: str | Path | None) -> list[AlertRule]:
    """Rules from a YAML or JSON file, or the default rule (negative share > 40% with ≥ 50 posts in 10 min)."""
    if path is None:
        return list(DEFAULT_RULES)
    import yaml

    file = Path(path)
    if not file.is_file():
        raise BadInputError(f"alert rules file {file} does not exist (expected YAML like: rules: [{{metric: "
                            "negative_share, threshold: 0.4, window: 10m, min_posts: 50}}])")
    return rules_from(yaml.safe_load(file.read_text(encoding="utf-8")), str(file))


@dataclass(frozen=True)
class Alert:
    """A stored alert, as logged, sent to the webhook and shown in reports."""

    id: int
    rule: str
    window_start: datetime
    window_end: datetime
    metric: str
    value: float
    threshold: float
    posts: int
    negatives: int
    message: str
    details: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        """The JSON body POSTed to the webhook."""
        body = asdict(self)
        body["window_start"], body["window_end"] = self.window_start.isoformat(), self.window_end.isoformat()
        return {"type": "shendu.opinion.alert", **body}


def alert_message(rule: AlertRule, start: datetime, posts: int, negatives: int, value: float) -> str:
    """The one-line bilingual alert text."""
    span = f"{start:%Y-%m-%d %H:%M}–{start + rule.window:%H:%M} UTC"
    if rule.metric == "volume":
        return f"[{rule.name}] {posts} posts in {span} (≥ {rule.threshold:g}) / {span} 内 {posts} 条帖子"
    return (f"[{rule.name}] negative share {value:.0%} > {rule.threshold:.0%} ({negatives}/{posts} posts) in {span} "
            f"/ {span} 负面占比 {value:.0%}（{negatives}/{posts} 条），超过 {rule.threshold:.0%}")


class Notifier:
    """Delivers alerts: always to the log, and to `webhook` (an http(s) URL) when given.

    Args:
        webhook: URL that receives each alert as a JSON POST; None for the log only.
        timeout_s: how long one POST may take before it counts as failed.
    """

    def __init__(self, webhook: str | None = None, timeout_s: float = 5.0) -> None:
        if webhook is not None and not webhook.startswith(("http://", "https://")):
            raise BadInputError(f"webhook {webhook!r} is not an http(s) URL (expected e.g. https://hooks.example/x)")
        self.webhook = webhook
        self.timeout_s = timeout_s

    def deliver(self, alert: Alert) -> str | None:
        """Log the alert and POST it; returns None on success, else the error (also logged)."""
        log.warning("ALERT %s", alert.message)
        if self.webhook is None:
            return None
        body = json.dumps(alert.payload(), ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.webhook, data=body, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read(1024)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = f"webhook {self.webhook} failed: {getattr(exc, 'reason', exc)}"
            log.error("%s (alert %s kept for retry)", error, alert.id)
            return error
        return None


def touched_windows(minutes: Iterable[datetime], width: timedelta) -> list[datetime]:
    """The starts of the `width` windows holding these minutes, in order."""
    return sorted({window_floor(minute, width) for minute in minutes})
