"""`shendu opinion report`: what happened over a period — bilingual text and a self-contained HTML page.

The numbers come from the minute buckets (so a report over a day reads ~1,440 small rows, not the
posts), the alerts table and the rejects table; only the most negative example posts are read from
`opinion_posts`. Charts are matplotlib PNGs embedded as data URIs: the HTML file works offline and can
be mailed as it is. Chart axes are in English (a CJK font may be missing); captions, tables and
headings are in both languages.
"""
from __future__ import annotations

import base64
import html
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from shendu.errors import BadInputError
from shendu.opinion._aggregate import Counts, Rising, rising_topics, windows
from shendu.opinion._alerts import Alert, parse_duration
from shendu.opinion._posts import Malformed, parse_time
from shendu.opinion._store import OpinionStore

_NICE_MINUTES = (1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 10080)


@dataclass
class Report:
    """A period's volume, negative share, keywords, topics, alerts and malformed input."""

    since: datetime
    until: datetime
    window: timedelta
    totals: Counts
    series: list[tuple[datetime, Counts]]
    keywords: list[tuple[str, int]]
    topics: list[tuple[str, int]]
    rising: list[Rising]
    labels: dict[str, str]
    alerts: list[Alert]
    rejects: Counter[str]
    posts: dict[str, int]
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the CLI's --json and the HTTP /summary)."""
        return {
            "since": self.since.isoformat(), "until": self.until.isoformat(),
            "window_minutes": int(self.window.total_seconds() // 60),
            "posts": self.totals.posts, "negatives": self.totals.negatives,
            "negative_share": round(self.totals.negative_share, 4),
            "windows": [{"start": s.isoformat(), "posts": c.posts, "negatives": c.negatives,
                         "negative_share": round(c.negative_share, 4)} for s, c in self.series],
            "keywords": [{"word": w, "count": n} for w, n in self.keywords],
            "topics": [{"id": t, "label": self.labels.get(t, t), "count": n} for t, n in self.topics],
            "rising": [{"id": r.topic, "label": self.labels.get(r.topic, r.topic), "recent": r.recent,
                        "baseline": round(r.baseline, 2), "score": round(r.score, 2)} for r in self.rising],
            "alerts": [a.payload() for a in self.alerts],
            "malformed": dict(self.rejects), "database": self.posts,
        }


def parse_when(value: str | None, *, now: datetime, what: str) -> datetime:
    """A time given as ISO 8601 / Unix seconds, "now", or a duration back from `now` ("24h")."""
    if value in (None, "", "now"):
        return now
    try:
        return now - parse_duration(value, what)
    except BadInputError:
        pass
    try:
        return parse_time(value)
    except Malformed:
        raise BadInputError(f"{what} {value!r} is neither a duration (24h, 90m, 7d) nor a time (2026-01-02T08:00, "
                            "Unix seconds)") from None


def auto_window(span: timedelta) -> timedelta:
    """A window giving about 24–48 rows for the period (1 min … 1 week, round values)."""
    minutes = span.total_seconds() / 60 / 48
    return timedelta(minutes=next((m for m in _NICE_MINUTES if m >= minutes), _NICE_MINUTES[-1]))


def build_report(store: OpinionStore, since: datetime, until: datetime, window: timedelta | None = None) -> Report:
    """Everything a report shows for [since, until)."""
    if until <= since:
        raise BadInputError(f"report period is empty: since {since.isoformat()} is not before until "
                            f"{until.isoformat()}")
    window = window or auto_window(until - since)
    buckets = store.buckets(since, until)
    series = windows(buckets, since, until, window)
    totals = Counts()
    for counts in buckets.values():
        totals.add(counts)
    rising = rising_topics(series)
    topics = totals.topics.most_common(10)
    labels = store.topic_labels([t for t, _ in topics] + [r.topic for r in rising])
    return Report(since, until, window, totals, series, totals.keywords.most_common(20), topics, rising, labels,
                  store.alerts(since, until), store.reject_counts(since, until), store.count_posts(),
                  store.most_negative(since, until))


def summary_text(report: Report) -> str:
    """The bilingual summary the CLI prints."""
    t = report.totals
    minutes = int(report.window.total_seconds() // 60)
    lines = [
        f"舆情 report / 舆情报告: {report.since:%Y-%m-%d %H:%M} – {report.until:%Y-%m-%d %H:%M} UTC "
        f"({minutes}-min windows / {minutes} 分钟窗口)",
        f"Posts / 帖子: {t.posts:,}   negative / 负面: {t.negatives:,} ({t.negative_share:.1%})   "
        f"waiting for analysis / 待分析: {report.posts.get('pending', 0):,}",
    ]
    if report.series:
        peak_start, peak = max(report.series, key=lambda item: (item[1].posts, item[0]))
        lines.append(f"Busiest window / 最热窗口: {peak_start:%m-%d %H:%M} ({peak.posts:,} posts / 条)")
    if report.keywords:
        lines.append("Top keywords / 热词: " + "、".join(f"{w}({n})" for w, n in report.keywords[:10]))
    for r in report.rising[:5]:
        lines.append(f"Rising topic / 上升话题: {report.labels.get(r.topic, r.topic)} — {r.recent} posts in the last "
                     f"window vs {r.baseline:.1f} before / 最近窗口 {r.recent} 条，此前平均 {r.baseline:.1f} 条")
    lines.append(f"Alerts / 告警: {len(report.alerts)}")
    lines.extend(f"  {a.message}" for a in report.alerts[:10])
    bad = sum(report.rejects.values())
    if bad:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(report.rejects.items()))
        lines.append(f"Malformed input lines / 格式错误的输入行: {bad} ({detail})")
    return "\n".join(lines)


def write_html(report: Report, path: str | Path) -> Path:
    """Write the HTML report (charts embedded) to `path`; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    return path


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page."""
    e = html.escape
    t = report.totals
    rows = "".join(f"<tr><td>{e(w)}</td><td>{n}</td></tr>" for w, n in report.keywords)
    topics = "".join(f"<tr><td>{e(report.labels.get(tid, tid))}</td><td>{n}</td></tr>" for tid, n in report.topics)
    rising = "".join(f"<tr><td>{e(report.labels.get(r.topic, r.topic))}</td><td>{r.recent}</td>"
                     f"<td>{r.baseline:.1f}</td><td>{r.score:.1f}</td></tr>" for r in report.rising)
    alerts = "".join(f"<tr><td>{a.window_start:%Y-%m-%d %H:%M}</td><td>{e(a.rule)}</td><td>{a.value:.2f}</td>"
                     f"<td>{a.posts}</td><td>{e('、'.join(a.details.get('keywords', [])[:6]))}</td></tr>"
                     for a in report.alerts)
    examples = "".join(f"<tr><td>{p['negative']:.2f}</td><td>{p['time']:%m-%d %H:%M}</td><td>{e(p['source'])}</td>"
                       f"<td>{e(p['text'][:200])}</td></tr>" for p in report.examples)
    bad = "".join(f"<tr><td>{e(k)}</td><td>{v}</td></tr>" for k, v in sorted(report.rejects.items()))
    volume, share = _charts(report)
    period = f"{report.since:%Y-%m-%d %H:%M} – {report.until:%Y-%m-%d %H:%M} UTC"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>舆情 report / 舆情报告 · {e(period)}</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:2em;max-width:70em}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:left}}
.k{{font-size:1.6em;font-weight:600}}.grid{{display:flex;gap:3em}}img{{max-width:100%}}</style></head><body>
<h1>舆情 report / 舆情报告</h1><p>{e(period)}</p>
<div class="grid"><div><div class="k">{t.posts:,}</div>posts / 帖子</div>
<div><div class="k">{t.negative_share:.1%}</div>negative share / 负面占比</div>
<div><div class="k">{len(report.alerts)}</div>alerts / 告警</div>
<div><div class="k">{sum(report.rejects.values())}</div>malformed lines / 格式错误行</div></div>
<h2>Volume / 帖子量</h2><img alt="volume per window" src="{volume}">
<h2>Negative share / 负面占比</h2><img alt="negative share per window" src="{share}">
<h2>Alerts / 告警</h2><table><tr><th>window / 窗口</th><th>rule / 规则</th><th>value / 数值</th>
<th>posts / 帖子</th><th>keywords / 关键词</th></tr>{alerts}</table>
<h2>Top keywords / 热词</h2><table><tr><th>keyword / 关键词</th><th>count / 次数</th></tr>{rows}</table>
<h2>Topics / 话题</h2><table><tr><th>topic / 话题</th><th>posts / 帖子</th></tr>{topics}</table>
<h2>Rising topics / 上升话题</h2><table><tr><th>topic / 话题</th><th>last window / 最近窗口</th>
<th>mean before / 此前平均</th><th>z</th></tr>{rising}</table>
<h2>Most negative posts / 最负面的帖子</h2><table><tr><th>P(neg)</th><th>time / 时间</th><th>source / 来源</th>
<th>text / 内容</th></tr>{examples}</table>
<h2>Malformed input / 格式错误的输入</h2><table><tr><th>reason / 原因</th><th>lines / 行数</th></tr>{bad}</table>
<p>shendu opinion · generated / 生成于 {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p></body></html>
"""


def _charts(report: Report) -> tuple[str, str]:
    """Volume (stacked positive / negative bars) and negative share (line, alert windows shaded), as data URIs."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    starts = [s for s, _ in report.series]
    width = report.window / timedelta(days=1) * 0.9
    volume = Figure(figsize=(9, 3))
    ax = volume.subplots()
    negatives = [c.negatives for _, c in report.series]
    positives = [c.posts - c.negatives for _, c in report.series]
    ax.bar(starts, positives, width=width, color="#4c8bd6", label="positive", align="edge")
    ax.bar(starts, negatives, width=width, bottom=positives, color="#d9534f", label="negative", align="edge")
    ax.set_ylabel("posts per window")
    ax.legend(loc="upper left")
    share = Figure(figsize=(9, 3))
    bx = share.subplots()
    bx.plot(starts, [c.negative_share if c.posts else float("nan") for _, c in report.series], marker=".",
            color="#d9534f")
    for alert in report.alerts:
        bx.axvspan(alert.window_start, alert.window_end, color="#f0ad4e", alpha=0.3)
    bx.set_ylim(0, 1)
    bx.set_ylabel("negative share")
    for figure in (volume, share):
        figure.autofmt_xdate()
        figure.tight_layout()
    return _data_uri(volume), _data_uri(share)


def _data_uri(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
