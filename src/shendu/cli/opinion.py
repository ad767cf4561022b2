"""`shendu opinion ingest|analyze|watch|serve|report|train`: the 舆情 (public-opinion) monitor.

Each command opens the run database (`--db`, else SHENDU_DB, else SHENDU_HOME/shendu.db) and makes one
library call in `shendu.opinion`; see docs/opinion.md.
"""
from __future__ import annotations

import sys
import threading
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any, List, Optional

import typer

from shendu.cli._common import console, err_console, print_json
from shendu.errors import BadInputError

HELP = ("The 舆情 (public-opinion) monitor: ingest posts, analyse sentiment / keywords / topics, alert, report. / "
        "舆情监测：导入帖子，分析情感、关键词和话题，告警并生成报告。")
JSON_HELP = "Print the result as one JSON object on the last line. / 以一行 JSON 输出结果（最后一行）。"
DB_HELP = "Run database URL (default SHENDU_DB, else SHENDU_HOME/shendu.db). / 运行数据库 URL。"
SCORER_HELP = ("Sentiment model: default (built by `shendu opinion train`), baseline, or a package / model directory. "
               "/ 情感模型：default、baseline，或模型包目录。")
RULES_HELP = ("Alert rules (YAML/JSON); default: negative share > 40% with ≥ 50 posts in 10 minutes. / "
              "告警规则文件；默认：10 分钟内至少 50 条且负面占比超过 40%。")
WEBHOOK_HELP = "POST each alert as JSON to this URL (failures are logged). / 把每条告警以 JSON POST 到该网址。"
FORMAT_HELP = "auto (by extension), jsonl or csv. / 输入格式：auto（按扩展名）、jsonl 或 csv。"
WORKERS_HELP = ("Extra processes for jieba segmentation (default: cores − 1; 0 = none). / "
                "jieba 分词的额外进程数（默认：核数 − 1；0 表示不用）。")
TZ_HELP = "Timezone of times written without one, e.g. Asia/Shanghai (default UTC). / 无时区时间的时区。"

app = typer.Typer(no_args_is_help=True, help=HELP)


def _zone(name: Optional[str]) -> tzinfo:
    if not name:
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInputError(f"unknown timezone {name!r} (expected an IANA name such as Asia/Shanghai or UTC)") from None


def _monitor(store: Any, scorer: Optional[str], rules: Optional[Path], webhook: Optional[str], batch: int,
             negative_class: Optional[str] = None, workers: Optional[int] = None) -> Any:
    from shendu.opinion import Monitor, Notifier, load_rules, load_scorer
    from shendu.opinion._watch import log_to_file

    log_to_file()
    return Monitor(store, load_scorer(scorer, negative_class), rules=load_rules(rules), notifier=Notifier(webhook),
                   batch_size=batch, workers=workers)


def _store(db: Optional[str]) -> Any:
    from shendu.opinion import OpinionStore

    return OpinionStore(db)


@app.command(help="Store posts from JSONL/CSV files or stdin (-); idempotent. / 从 JSONL/CSV 文件或标准输入（-）导入帖子（可重复导入）。")
def ingest(
    paths: List[str] = typer.Argument(..., help="files, or - for stdin / 文件，或 - 表示标准输入"),
    fmt: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    source: Optional[str] = typer.Option(None, "--source", help="source of posts without one (default: file name, "
                                         "stdin) / 帖子缺省来源"),
    tz: Optional[str] = typer.Option(None, "--tz", help=TZ_HELP),
    analyze_now: bool = typer.Option(False, "--analyze", help="analyse right after storing / 导入后立即分析"),
    scorer: Optional[str] = typer.Option(None, "--scorer", help=SCORER_HELP),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    from shendu.opinion import IngestReport, ingest_file, ingest_stream

    store, zone, total = _store(db), _zone(tz), IngestReport()
    for path in paths:
        if path == "-":
            kind = "jsonl" if fmt == "auto" else fmt
            total.add(ingest_stream(store, sys.stdin.buffer, kind, source=source or "stdin", tz=zone))
        else:
            total.add(ingest_file(store, path, fmt, source=source, tz=zone))
    result: dict[str, Any] = total.to_dict()
    if analyze_now:
        summary = _monitor(store, scorer, None, None, 1000).run(progress=not json_out)
        result.update(analysed=summary.analysed, alerts=len(summary.alerts))
    if json_out:
        print_json(result)
        return
    console.print(total.summary(), markup=False)
    for example in total.examples:
        err_console.print(f"  malformed / 格式错误: {example}", markup=False)
    if analyze_now:
        console.print(f"analysed / 已分析 {result['analysed']:,} · alerts / 告警 {result['alerts']}", markup=False)


@app.command(help="Analyse every stored post not analysed yet; raise alerts. / 分析所有未分析的帖子并告警。")
def analyze(
    scorer: Optional[str] = typer.Option(None, "--scorer", help=SCORER_HELP),
    negative_class: Optional[str] = typer.Option(None, "--negative-class", help="the package class meaning negative "
                                                 "/ 模型包中表示负面的类别"),
    rules: Optional[Path] = typer.Option(None, "--rules", help=RULES_HELP),
    webhook: Optional[str] = typer.Option(None, "--webhook", help=WEBHOOK_HELP),
    batch: int = typer.Option(1000, "--batch", min=1, help="posts per batch / 每批帖子数"),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, help=WORKERS_HELP),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    monitor = _monitor(_store(db), scorer, rules, webhook, batch, negative_class, workers)
    summary = monitor.run(progress=not json_out)
    if json_out:
        print_json({"analysed": summary.analysed, "seconds": round(summary.seconds, 3),
                    "posts_per_second": round(summary.rate, 1), "alerts": [a.payload() for a in summary.alerts]})
        return
    console.print(f"analysed / 已分析 {summary.analysed:,} posts in {summary.seconds:.1f} s "
                  f"({summary.rate:,.0f}/s) · alerts / 告警 {len(summary.alerts)}", markup=False)
    for alert in summary.alerts:
        console.print(f"  {alert.message}", markup=False)


@app.command(help="Follow a directory of growing JSONL/CSV files: ingest and analyse until stopped. / "
                  "跟踪目录中不断追加的文件：持续导入并分析，直到停止。")
def watch(
    directory: Path = typer.Argument(..., help="directory to follow / 要跟踪的目录"),
    fmt: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    source: Optional[str] = typer.Option(None, "--source", help="source of posts without one / 帖子缺省来源"),
    tz: Optional[str] = typer.Option(None, "--tz", help=TZ_HELP),
    interval: float = typer.Option(1.0, "--interval", min=0.05, help="seconds between polls / 轮询间隔（秒）"),
    once: bool = typer.Option(False, "--once", help="one round, then exit / 只执行一轮"),
    no_analyze: bool = typer.Option(False, "--no-analyze", help="only ingest / 只导入不分析"),
    scorer: Optional[str] = typer.Option(None, "--scorer", help=SCORER_HELP),
    rules: Optional[Path] = typer.Option(None, "--rules", help=RULES_HELP),
    webhook: Optional[str] = typer.Option(None, "--webhook", help=WEBHOOK_HELP),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, help=WORKERS_HELP),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    from shendu.opinion import DirectoryFollower
    from shendu.opinion._watch import watch as run_watch

    store = _store(db)
    follower = DirectoryFollower(store, directory, fmt=fmt, source=source, tz=_zone(tz))
    monitor = None if no_analyze else _monitor(store, scorer, rules, webhook, 1000, workers=workers)
    stop = threading.Event()
    if not json_out and not once:
        console.print(f"watching / 正在跟踪 {directory} (Ctrl-C to stop / 按 Ctrl-C 停止)", markup=False)
    try:
        summary = run_watch(follower, monitor, stop=stop, interval_s=interval, once=once,
                            echo=None if json_out else lambda line: console.print(line, markup=False))
    except KeyboardInterrupt:
        stop.set()
        raise
    if json_out:
        print_json({**summary.ingest.to_dict(), "analysed": summary.analysed, "alerts": len(summary.alerts),
                    "polls": summary.polls})


@app.command(help="HTTP ingest (POST /posts) with analysis in the background, summary and HTML report. / "
                  "HTTP 导入（POST /posts），后台分析，提供摘要和 HTML 报告。")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind / 监听地址"),
    port: int = typer.Option(8765, "--port", help="port / 端口"),
    token: Optional[str] = typer.Option(None, "--token", envvar="SHENDU_SERVE_TOKEN",
                                        help="bearer token (required beyond loopback; generated if absent) / 访问令牌"),
    no_analyze: bool = typer.Option(False, "--no-analyze", help="only ingest / 只导入不分析"),
    scorer: Optional[str] = typer.Option(None, "--scorer", help=SCORER_HELP),
    rules: Optional[Path] = typer.Option(None, "--rules", help=RULES_HELP),
    webhook: Optional[str] = typer.Option(None, "--webhook", help=WEBHOOK_HELP),
    max_body_mb: float = typer.Option(8.0, "--max-body-mb", help="largest request body / 请求体上限（MB）"),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level / 日志级别"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    from shendu.opinion._http import serve as run_server

    store = _store(db)
    monitor = None if no_analyze else _monitor(store, scorer, rules, webhook, 1000)
    run_server(store, monitor=monitor, host=host, port=port, token=token, max_body_mb=max_body_mb,
               log_level=log_level, echo=lambda line: console.print(line, markup=False))


@app.command(help="Summarize a period (bilingual) and write an HTML report with charts. / "
                  "汇总一段时间（中英双语）并生成带图表的 HTML 报告。")
def report(
    since: str = typer.Option("24h", "--since", help="duration back from --until (24h, 7d) or a time / 起始：时长或时间"),
    until: Optional[str] = typer.Option(None, "--until", help="end: a time, default now / 结束时间，默认现在"),
    window: Optional[str] = typer.Option(None, "--window", help="row width, e.g. 10m, 1h (default: ~48 rows) / "
                                         "统计窗口，例如 10m、1h"),
    html: Optional[Path] = typer.Option(None, "--html", help="HTML file (default SHENDU_HOME/reports/opinion-<time>"
                                        ".html) / HTML 报告文件"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    from shendu import _settings
    from shendu.opinion import build_report, parse_duration, parse_when, summary_text, write_html

    now = datetime.now(timezone.utc)
    end = parse_when(until, now=now, what="--until")
    start = parse_when(since, now=end, what="--since")
    result = build_report(_store(db), start, end, parse_duration(window, "--window") if window else None)
    path = write_html(result, html or _settings.subdir("reports") / f"opinion-{now:%Y%m%d-%H%M%S}.html")
    if json_out:
        print_json({**result.to_dict(), "html": str(path)})
        return
    console.print(summary_text(result), markup=False)
    console.print(f"HTML report / HTML 报告: {path}", markup=False)


@app.command(help="Build the default Chinese sentiment models into SHENDU_HOME from the mirror's corpora "
                  "(de-duplicated). / 用镜像中的语料（去重后）训练默认中文情感模型，保存到 SHENDU_HOME。")
def train(
    lodo: List[str] = typer.Option([], "--lodo", help="also test leave-one-domain-out on this product category, e.g. "
                                   "水果 (repeatable) / 额外做留一领域评估的商品类别（可重复）"),
    seed: int = typer.Option(0, "--seed", help="split seed / 划分随机种子"),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    from shendu.opinion._train import train_default

    echo = (lambda _line: None) if json_out else (lambda line: err_console.print(line, markup=False))
    result = train_default(seed=seed, lodo=lodo, progress=not json_out, echo=echo)
    if json_out:
        print_json(result.to_dict())
        return
    console.print(f"baseline / 基线模型: {result.baseline}  test accuracy / 测试准确率 "
                  f"{result.metrics['test_accuracy']:.2%}", markup=False)
    if result.package:
        console.print(f"default package / 默认模型包: {result.package}  test accuracy / 测试准确率 "
                      f"{result.metrics['package_test_accuracy']:.2%}", markup=False)
    for category, figures in result.lodo.items():
        console.print(f"leave-one-domain-out / 留一领域 {category}: " + ", ".join(
            f"{k} {v:.2%}" for k, v in figures.items() if k.endswith("accuracy")), markup=False)
    for note in result.notes:
        console.print(note, markup=False)
