"""`shendu opinion serve`: posts in over HTTP, analysis in the background, summary and report out.

Endpoints:
- `POST /posts`: a JSON object, a JSON array of objects, or NDJSON (`Content-Type: application/x-ndjson`,
  one object per line). Answers what was stored, what was a duplicate and every malformed item with its
  index and reason; good items in the same request are stored regardless.
- `GET /health` (no token), `GET /summary?since=24h&window=1h` (the report as JSON), `GET /alerts?since=24h`,
  `GET /` (the HTML report of the last 24 hours).

With a `Monitor` the app analyses in a background thread while it runs (the database is the queue
between the request handlers and the analyser). The token and body-size limit are `shendu serve`'s.
"""
from __future__ import annotations

import json
import logging
import threading
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, AsyncIterator

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from shendu.errors import BadInputError
from shendu.opinion._alerts import parse_duration
from shendu.opinion._analyze import Monitor
from shendu.opinion._ingest import IngestReport
from shendu.opinion._posts import Line, Malformed, Post, RecordDefaults, Reject, post_from_record, read_jsonl
from shendu.opinion._report import build_report, parse_when, render_html
from shendu.opinion._store import OpinionStore
from shendu.serve._app import BodyLimit, require_token, resolve_token

log = logging.getLogger("shendu.opinion")
MB = 1 << 20
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines")


def parse_body(body: bytes, content_type: str, defaults: RecordDefaults) -> list[Post | Reject]:
    """The posts (and rejects, by item) of a request body.

    Raises:
        BadInputError: a JSON body that is not JSON, or neither an object nor an array.
    """
    if any(kind in content_type for kind in NDJSON_TYPES):
        lines, start = [], 0
        for number, data in enumerate(body.splitlines(keepends=True), 1):
            start += len(data)
            lines.append(Line(data, start, number))
        return [item for _, item in read_jsonl(lines, defaults) if item is not None]
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadInputError(f"request body is not UTF-8 (byte {exc.start}); send UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise BadInputError(f"request body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); send an "
                            "object, an array of objects, or NDJSON with Content-Type: application/x-ndjson") from None
    items = document if isinstance(document, list) else [document] if isinstance(document, dict) else None
    if items is None:
        raise BadInputError(f"request body is a JSON {type(document).__name__}; expected an object "
                            "{\"text\": …, \"time\": …, \"source\": …} or an array of them")
    parsed: list[Post | Reject] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise Malformed("not_object", f"a JSON {type(item).__name__}, expected an object with 'text'")
            parsed.append(post_from_record(item, defaults))
        except Malformed as exc:
            parsed.append(Reject(exc.reason, str(exc), f"item {index}", json.dumps(item, ensure_ascii=False)[:200]))
    return parsed


def store_parsed(store: OpinionStore, parsed: list[Post | Reject], origin: str) -> IngestReport:
    """Store a request's posts and rejects in one transaction."""
    report = IngestReport()
    posts = [p for p in parsed if isinstance(p, Post)]
    rejects = [(origin, r) for r in parsed if isinstance(r, Reject)]
    for _, reject in rejects:
        report.reject(origin, reject)
    report.read = len(parsed)
    report.stored = store.add_posts(posts, rejects)
    report.duplicates = len(posts) - report.stored
    return report


class _Analyser(threading.Thread):
    """Runs `Monitor.step` until stopped, sleeping `idle_s` when nothing waits."""

    def __init__(self, monitor: Monitor, idle_s: float) -> None:
        super().__init__(name="shendu-opinion-analyser", daemon=True)
        self.monitor, self.idle_s, self.stop = monitor, idle_s, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                done, _ = self.monitor.step()
            except Exception:  # noqa: BLE001 - a failed batch is logged and retried; serving goes on
                log.exception("analysis batch failed; retrying in %.0f s", self.idle_s)
                done = 0
            if not done:
                self.stop.wait(self.idle_s)


def create_app(store: OpinionStore, *, monitor: Monitor | None = None, token: str | None = None,
               max_body_mb: float = 8.0, idle_s: float = 1.0, source: str = "http") -> FastAPI:
    """The FastAPI app (see the module docstring).

    Args:
        store: where posts go.
        monitor: analyses in a background thread while the app runs; None to only ingest.
        token: when set, every endpoint but /health needs `Authorization: Bearer <token>`.
        max_body_mb: largest request body.
        idle_s: how long the analyser sleeps when nothing waits.
        source: source of posts without one.
    """
    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        worker = _Analyser(monitor, idle_s) if monitor is not None else None
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop.set()
                worker.join(timeout=30)

    app = FastAPI(title="shendu opinion (舆情)", lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=int(max_body_mb * MB))
    guard = [Depends(require_token(token))] if token else []

    @app.get("/health", summary="liveness and post counts (no token needed)")
    def health() -> dict[str, Any]:
        return {"status": "ok", "posts": store.count_posts()}

    @app.post("/posts", dependencies=guard, summary="ingest posts: a JSON object, an array of objects, or NDJSON")
    async def posts(request: Request) -> dict[str, Any]:
        body = await request.body()
        try:
            parsed = parse_body(body, request.headers.get("content-type", ""), RecordDefaults(source))
        except BadInputError as exc:
            raise HTTPException(400, str(exc)) from None
        report = await run_in_threadpool(store_parsed, store, parsed, source)
        rejects = [{"item": r.position, "reason": r.reason, "message": r.message}
                   for r in parsed if isinstance(r, Reject)]
        return {"stored": report.stored, "duplicates": report.duplicates, "rejected": report.rejected,
                "malformed": rejects}

    _reading_routes(app, store, guard)
    return app


def _period(since: str, until: str | None) -> tuple[datetime, datetime]:
    """[since, until) from query parameters, or a 400 that says what was wrong."""
    now = datetime.now(timezone.utc)
    try:
        end = parse_when(until, now=now, what="until")
        return parse_when(since, now=end, what="since"), end
    except BadInputError as exc:
        raise HTTPException(400, str(exc)) from None


def _reading_routes(app: FastAPI, store: OpinionStore, guard: list) -> None:
    """GET /summary, /alerts and / (the HTML report)."""

    @app.get("/summary", dependencies=guard, summary="the report as JSON")
    def summary(since: str = "24h", until: str | None = None, window: str | None = None) -> dict[str, Any]:
        start, end = _period(since, until)
        try:
            width = parse_duration(window, "window") if window else None
            return build_report(store, start, end, width).to_dict()
        except BadInputError as exc:
            raise HTTPException(400, str(exc)) from None

    @app.get("/alerts", dependencies=guard, summary="alerts whose window starts in the period")
    def alerts(since: str = "24h", until: str | None = None) -> list[dict[str, Any]]:
        return [a.payload() for a in store.alerts(*_period(since, until))]

    @app.get("/", dependencies=guard, response_class=HTMLResponse, summary="the HTML report of the last 24 hours")
    def report_page(since: str = "24h", until: str | None = None) -> str:
        return render_html(build_report(store, *_period(since, until)))


def serve(store: OpinionStore, *, monitor: Monitor | None, host: str = "127.0.0.1", port: int = 8765,
          token: str | None = None, max_body_mb: float = 8.0, echo: Any = print, log_level: str = "info") -> None:
    """Run the app with uvicorn until interrupted (a token is generated when bound beyond loopback)."""
    import uvicorn

    token, generated = resolve_token(host, token)
    app = create_app(store, monitor=monitor, token=token, max_body_mb=max_body_mb)
    echo(f"shendu opinion serving on http://{host}:{port}  (POST /posts, GET /summary, GET /alerts, GET /, /docs)")
    if generated:
        echo(f"token (bound beyond loopback, so required): {token}\n  send it as 'Authorization: Bearer {token}'")
    uvicorn.run(app, host=host, port=port, log_level=log_level)

