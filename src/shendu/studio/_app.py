"""`shendu studio`: the FastAPI app — server-rendered pages (Jinja2), the JSON API, the job queue.

Pages render on the server and work without JavaScript (forms post, links navigate); `static/studio.js`
adds what needs a browser: live charts (server-sent events), inline validation while typing, the digit
canvas. Charts are small SVG drawings made by that script, so the studio needs no CDN and no network.
"""
from __future__ import annotations

import asyncio
import functools
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Sequence

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.trustedhost import TrustedHostMiddleware
from fastapi_offline import FastAPIOffline

from shendu import _settings
from shendu._version import __version__
from shendu.errors import BadInputError, ShenduError
from shendu.serve._app import MB, BodyLimit, Limits, is_loopback, resolve_token
from shendu.studio import _forms, _i18n, _views
from shendu.studio._api import call, compare_data, load_saved_spec, router, run_json, specs_dir
from shendu.studio._jobs import JobQueue
from shendu.studio._security import same_origin, token_middleware
from shendu.track import open_store

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def create_app(*, workers: int = 1, token: str | None = None, db: str | None = None,
               max_upload_mb: float = 8.0, max_image_pixels: int = 4096 * 4096, sse_interval: float = 1.0,
               start_queue: bool = True, trusted_hosts: Sequence[str] = ()) -> FastAPI:
    """The studio app.

    Args:
        workers: training jobs that run at once (each in its own worker process).
        token: when set, every request must carry it (header, cookie, or ?token= once).
        db: the run database URL (default SHENDU_DB or SHENDU_HOME/shendu.db); the job queue lives there too.
        max_upload_mb: largest request body (uploads included).
        max_image_pixels: largest uploaded image, width × height, checked before decoding.
        sse_interval: seconds between live-chart updates.
        start_queue: start the job supervisor with the app (tests of pages alone may skip it).
        trusted_hosts: when given, requests whose Host header names another host are refused (`serve` passes the
            loopback names when the studio runs there without a token, against DNS rebinding).
    """
    if max_upload_mb <= 0 or max_image_pixels < 1:
        raise BadInputError(f"expected max_upload_mb > 0 and max_image_pixels ≥ 1, received {max_upload_mb} and "
                            f"{max_image_pixels}")
    store = open_store(db)
    queue = JobQueue(store, workers=workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_queue:
            queue.start()
        yield
        queue.close()

    # /docs from Swagger UI's files inside the fastapi-offline package: FastAPI's default page loads a CDN
    app = FastAPIOffline(title="shendu studio", version=__version__, lifespan=lifespan, redoc_url=None,
                  description="The studio's JSON API: datasets, models, net specs, training jobs, runs, "
                              "comparison and inference. Every page of the studio is built from these calls.")
    app.state.store, app.state.queue, app.state.token = store, queue, token
    app.state.home = _settings.home() / "studio"
    app.state.limits = Limits(max_items=1, max_body_bytes=int(max_upload_mb * MB), max_image_pixels=max_image_pixels)
    app.state.sse_interval, app.state.picture_lock = sse_interval, asyncio.Lock()
    app.add_middleware(BodyLimit, max_bytes=app.state.limits.max_body_bytes)
    app.middleware("http")(same_origin)
    if token:
        app.middleware("http")(token_middleware(token))
    if trusted_hosts:  # on loopback without a token: refuse other Host names (DNS rebinding)
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(trusted_hosts))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(router)
    _pages(app)
    return app


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    language = _i18n.pick(request.cookies.get(_i18n.COOKIE))
    return templates.TemplateResponse(request, template, {"w": _i18n.words(language), "lang": language,
                                                          "path": request.url.path, **context},
                                      status_code=status_code)


def _pages(app: FastAPI) -> None:
    for add in (_general_pages, _data_pages, _job_pages, _run_pages):
        add(app)


def _general_pages(app: FastAPI) -> None:
    @app.exception_handler(ShenduError)
    async def library_error(request: Request, exc: ShenduError) -> Response:
        from shendu.studio._api import http_error

        error = http_error(exc)
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": error.detail}, status_code=error.status_code)
        return render(request, "error.html", error.status_code, message=str(exc))

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/jobs", status_code=303)

    @app.get("/lang/{code}", include_in_schema=False)
    async def switch_language(code: str, next: str = "/") -> RedirectResponse:
        if code not in _i18n.LANGS:
            raise HTTPException(404, f"language {code!r}: expected one of {', '.join(_i18n.LANGS)}")
        target = next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/"  # on-site only
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(_i18n.COOKIE, code, max_age=365 * 24 * 3600, samesite="lax")
        return response


def _data_pages(app: FastAPI) -> None:
    @app.get("/datasets", response_class=HTMLResponse, include_in_schema=False)
    async def datasets_page(request: Request) -> HTMLResponse:
        return render(request, "datasets.html", rows=await call(_views.dataset_rows))

    @app.get("/datasets/{name}", response_class=HTMLResponse, include_in_schema=False)
    async def dataset_page(request: Request, name: str, split: str = Query("train", pattern="^(train|val|test)$")
                           ) -> HTMLResponse:
        return render(request, "dataset.html", d=await call(_views.dataset_preview, name, split))

    @app.get("/models", response_class=HTMLResponse, include_in_schema=False)
    async def models_page(request: Request) -> HTMLResponse:
        return render(request, "models.html", rows=await call(_views.model_rows))

    @app.get("/models/{name}", response_class=HTMLResponse, include_in_schema=False)
    async def model_page(request: Request, name: str) -> HTMLResponse:
        return render(request, "model.html", name=name, m=await call(_views.model_detail, name))

    @app.get("/spec", response_class=HTMLResponse, include_in_schema=False)
    async def spec_page(request: Request, name: str | None = None) -> HTMLResponse:
        folder = specs_dir(request)
        text = _default_spec_text()
        if name:
            await call(load_saved_spec, folder, name)
            text = (folder / f"{name}.yaml").read_text(encoding="utf-8")
        return render(request, "spec.html", text=text, saved=sorted(p.stem for p in folder.glob("*.yaml")),
                      check=await call(_views.check_spec, text, "1x8x8"))


def _job_pages(app: FastAPI) -> None:
    queue = app.state.queue

    @app.get("/jobs/new", response_class=HTMLResponse, include_in_schema=False)
    async def new_job_page(request: Request, spec: str | None = None) -> HTMLResponse:
        values = _forms.defaults()
        if spec:
            values["model.name"] = "net_spec"
        return _new_job(request, values, {}, spec or "")

    @app.post("/jobs/new", response_class=HTMLResponse, include_in_schema=False)
    async def submit_job_page(request: Request) -> Response:
        form = dict(await request.form())
        loader = functools.partial(load_saved_spec, specs_dir(request))
        config, errors = await call(_forms.validate, form, loader)
        if config is None:
            return _new_job(request, form, errors, str(form.get("spec") or ""), 422)
        job = await call(queue.submit, config.to_dict(), (str(form.get("name") or "").strip()[:200] or None))
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    def _new_job(request: Request, values: dict, errors: dict, spec: str, status: int = 200) -> HTMLResponse:
        return render(request, "new_job.html", status, fields=_forms.fields(), values=values, errors=errors,
                      specs=sorted(p.stem for p in specs_dir(request).glob("*.yaml")), spec=spec)

    @app.get("/jobs", response_class=HTMLResponse, include_in_schema=False)
    async def jobs_page(request: Request) -> HTMLResponse:
        return render(request, "jobs.html", jobs=await call(queue.list), workers=queue.workers)

    @app.get("/jobs/{job_id}", response_class=HTMLResponse, include_in_schema=False)
    async def job_page(request: Request, job_id: int) -> HTMLResponse:
        job = await call(queue.get, job_id)
        return render(request, "job.html", job=job, log=await call(queue.log, job_id, 8000))

    @app.post("/jobs/{job_id}/{action}", include_in_schema=False)
    async def job_action(job_id: int, action: str) -> RedirectResponse:
        if action not in ("stop", "resume"):
            raise HTTPException(404, f"unknown job action {action!r} (valid: stop, resume)")
        await call(queue.stop if action == "stop" else queue.resume, job_id)
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)


def _run_pages(app: FastAPI) -> None:
    store = app.state.store

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    async def runs_page(request: Request, filter: str | None = None) -> HTMLResponse:
        error, runs = None, []
        try:
            runs = await call(store.list_runs, 200, where=filter or None)
        except HTTPException as exc:
            error = exc.detail
        return render(request, "runs.html", runs=[run_json(r) for r in runs], filter=filter or "", error=error)

    @app.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    async def run_page(request: Request, run_id: str) -> HTMLResponse:
        record = await call(store.get_run, run_id)
        return render(request, "run.html", run=record, curves=await call(_views.curves, store, record.id))

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    async def compare_page(request: Request, ids: list[str] = Query([]), by: str = "model.name") -> HTMLResponse:
        data, error = None, None
        try:
            data = await call(compare_data, store, ids, by)
        except HTTPException as exc:
            error = exc.detail
        return render(request, "compare.html", data=data, ids=ids, by=by, error=error)

    @app.get("/playground", response_class=HTMLResponse, include_in_schema=False)
    async def playground_page(request: Request, run: str | None = None) -> HTMLResponse:
        runs = await call(store.list_runs, 100, "completed")
        runs = [r for r in runs if r.package]
        chosen = next((r for r in runs if run and r.id.startswith(run)), runs[0] if runs else None)
        modality = _modality(chosen.model) if chosen else "image"
        return render(request, "playground.html", runs=runs, chosen=chosen, modality=modality)


def _modality(model: str) -> str:
    from shendu.models import MODELS

    return str(MODELS.meta(model).get("modality", "image")) if model in MODELS else "image"


@functools.lru_cache(maxsize=1)
def _default_spec_text() -> str:
    import yaml

    from shendu.models.net_spec import LENET5_SPEC

    return yaml.safe_dump(LENET5_SPEC, sort_keys=False)


def serve(*, host: str = "127.0.0.1", port: int = 8765, workers: int = 1, token: str | None = None,
          max_upload_mb: float = 8.0, log_level: str = "warning", echo: Callable[[str], None] = print) -> None:
    """Run the studio until SIGINT/SIGTERM. Running training jobs keep going; a restarted studio adopts them."""
    import uvicorn

    token, generated = resolve_token(host, token)
    loopback = ("127.0.0.1", "localhost", "::1", "[::1]") if is_loopback(host) and not token else ()
    app = create_app(workers=workers, token=token, max_upload_mb=max_upload_mb, trusted_hosts=loopback)
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    echo(f"shendu studio at {address}  (API docs: http://{shown}:{port}/docs)")
    echo(f"深度工作室： {address}  （{workers} parallel training job(s) / 个并行训练任务）")
    if generated:
        echo(f"token (bound beyond loopback, so required) / 令牌（绑定到非本机地址，必须使用）: {token}")
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
