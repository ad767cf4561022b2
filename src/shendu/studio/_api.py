"""The studio's JSON API (under /api, documented at /docs): everything the pages show and do.

The pages call the same functions (`_views`, `_forms`, the job queue), so the API mirrors them. Every
error is a 4xx whose `detail` says what was expected, what was received and what to do.
"""
from __future__ import annotations

import asyncio
import csv
import functools
import io
import json
import re
from pathlib import Path
from typing import Any, AsyncIterator

import numpy as np
from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from shendu.errors import BadInputError, RunNotFoundError, ShenduError, UnknownNameError
from shendu.studio import _forms, _views
from shendu.studio._jobs import FINISHED
from shendu.studio._security import form_text, safe_join

SPEC_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
MAX_TEXT = 2_000
MAX_SPEC = 100_000


def http_error(exc: Exception) -> HTTPException:
    """A library error as an HTTP error: unknown things 404, bad input 422, anything else 500."""
    if isinstance(exc, HTTPException):
        return exc
    if isinstance(exc, (RunNotFoundError, UnknownNameError)):
        return HTTPException(404, str(exc))
    if isinstance(exc, BadInputError):
        return HTTPException(422, str(exc))
    return HTTPException(500, f"{type(exc).__name__}: {exc}")


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run blocking library code in the thread pool, library errors turned into HTTP errors."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except (ShenduError, HTTPException) as exc:
        raise http_error(exc) from None


def specs_dir(request: Request) -> Path:
    path = request.app.state.home / "specs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_saved_spec(folder: Path, name: str) -> dict[str, Any]:
    """A saved net spec by name (only names matching SPEC_NAME, only inside the specs folder)."""
    if not SPEC_NAME.fullmatch(name):
        raise BadInputError(f"spec name: expected letters, digits, '_', '-' or '.', at most 64, received {name!r}")
    path = safe_join(folder, f"{name}.yaml", "spec")
    if not path.is_file():
        saved = ", ".join(p.stem for p in sorted(folder.glob("*.yaml"))) or "none yet"
        raise BadInputError(f"no saved spec {name!r} (saved: {saved}); save it in the net-spec editor first")
    return _views.parse_spec_text(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=8)
def _load_package(path: str, mtime: float) -> Any:
    from shendu.hub import load_package

    return load_package(path)


def package_of(store: Any, run_id: str) -> tuple[Any, Any]:
    """(run record, its loaded package) — a 409 when the run has none yet."""
    record = store.get_run(run_id)
    if not record.package or not Path(record.package).exists():
        raise HTTPException(409, f"run {record.id} has no model package (status {record.status}); wait for it to "
                                 f"complete, or pick a completed run / 该运行还没有模型包")
    return record, _load_package(record.package, Path(record.package).stat().st_mtime)


router = APIRouter(prefix="/api")


# -- datasets ---------------------------------------------------------------------------------------------
@router.get("/datasets", summary="registered datasets and whether their files are present")
async def api_datasets() -> list[dict[str, Any]]:
    return await call(_views.dataset_rows)


@router.get("/datasets/{name}", summary="samples of a split and the class balance of every split")
async def api_dataset(name: str, split: str = Query("train", pattern="^(train|val|test)$")) -> dict[str, Any]:
    return await call(_views.dataset_preview, name, split)


@router.post("/datasets/{name}/download", summary="download (or copy from the mirror) and verify the files")
async def api_download(name: str) -> dict[str, Any]:
    from shendu.data import download

    paths = await call(download, name, None, False)
    return {"name": name, "files": [str(p) for p in paths]}


@router.get("/datasets/{name}/files/{path:path}", summary="one file of a dataset (cache or mirror folder only)")
async def api_dataset_file(name: str, path: str) -> FileResponse:
    from shendu.data import dataset_info

    info = await call(dataset_info, name)
    for folder in _views.dataset_dirs(info):
        target = safe_join(folder, path, "file")
        if target.is_file():
            return FileResponse(target, filename=target.name)
    folders = ", ".join(map(str, _views.dataset_dirs(info)))
    raise HTTPException(404, f"no file {path!r} in the folders of {name} ({folders}); download the dataset first "
                             f"/ 文件不存在，请先下载数据集")


# -- models and specs -------------------------------------------------------------------------------------
@router.get("/models", summary="the model zoo: name, family, paper, parameters at the reference size")
async def api_models() -> list[dict[str, Any]]:
    return await call(_views.model_rows)


@router.get("/models/{name}", summary="a model's layer summary and graph (SVG)")
async def api_model(name: str) -> dict[str, Any]:
    return await call(_views.model_detail, name)


@router.post("/specs/check", summary="compile a net spec: parameters, layers and graph, or the error")
async def api_check_spec(text: str = Body(..., embed=True), input_shape: str = Body("1x28x28", embed=True),
                         num_classes: int = Body(10, embed=True, ge=1, le=100_000)) -> dict[str, Any]:
    form_text(text, "text", MAX_SPEC)
    return await call(_views.check_spec, text, input_shape, num_classes)


@router.get("/specs", summary="names of the saved net specs")
async def api_specs(request: Request) -> list[str]:
    return sorted(p.stem for p in specs_dir(request).glob("*.yaml"))


@router.get("/specs/{name}", summary="one saved net spec (its text)", response_class=PlainTextResponse)
async def api_spec(name: str, request: Request) -> str:
    folder = specs_dir(request)
    await call(load_saved_spec, folder, name)
    return safe_join(folder, f"{name}.yaml", "spec").read_text(encoding="utf-8")


@router.post("/specs", summary="save a net spec (it must compile) under a name")
async def api_save_spec(request: Request, name: str = Body(..., embed=True), text: str = Body(..., embed=True),
                        input_shape: str = Body("1x28x28", embed=True)) -> dict[str, Any]:
    form_text(text, "text", MAX_SPEC)
    if not SPEC_NAME.fullmatch(name):
        raise HTTPException(422, f"spec name: expected letters, digits, '_', '-' or '.' (at most 64, not starting "
                                 f"with '.'), received {name!r} / 名称只能包含字母、数字、_ - .")
    checked = await call(_views.check_spec, text, input_shape)
    if not checked["ok"]:
        raise HTTPException(422, f"the spec does not compile for input {input_shape}: {checked['error']}")
    path = safe_join(specs_dir(request), f"{name}.yaml", "spec")
    path.write_text(text, encoding="utf-8")
    return {"name": name, "params": checked["params"]}


# -- jobs -------------------------------------------------------------------------------------------------
@router.post("/config/check", summary="validate new-job form fields; errors by field")
async def api_check_config(request: Request, form: dict[str, Any] = Body(...)) -> dict[str, Any]:
    loader = functools.partial(load_saved_spec, specs_dir(request))
    config, errors = await call(_forms.validate, form, loader)
    return {"ok": config is not None, "errors": errors, "config": config.to_dict() if config else None}


@router.post("/jobs", summary="queue a training job (the same fields as the new-job form)", status_code=201)
async def api_submit(request: Request, form: dict[str, Any] = Body(...)) -> dict[str, Any]:
    loader = functools.partial(load_saved_spec, specs_dir(request))
    config, errors = await call(_forms.validate, form, loader)
    if config is None:
        raise HTTPException(422, {"message": "invalid job config / 任务配置无效", "errors": errors})
    name = form_text(form.get("name") or "", "name", 200).strip() or None
    job = await call(request.app.state.queue.submit, config.to_dict(), name)
    return job.to_json()


@router.get("/jobs", summary="the job queue, newest first")
async def api_jobs(request: Request) -> list[dict[str, Any]]:
    return [job.to_json() for job in await call(request.app.state.queue.list)]


@router.get("/jobs/{job_id}", summary="one job")
async def api_job(job_id: int, request: Request) -> dict[str, Any]:
    return (await call(request.app.state.queue.get, job_id)).to_json()


@router.post("/jobs/{job_id}/stop", summary="stop a queued or running job")
async def api_stop(job_id: int, request: Request) -> dict[str, Any]:
    return (await call(request.app.state.queue.stop, job_id)).to_json()


@router.post("/jobs/{job_id}/resume", summary="queue a stopped or failed job again (continues its run)")
async def api_resume(job_id: int, request: Request) -> dict[str, Any]:
    return (await call(request.app.state.queue.resume, job_id)).to_json()


@router.get("/jobs/{job_id}/log", summary="the end of the job's log", response_class=PlainTextResponse)
async def api_log(job_id: int, request: Request) -> str:
    return await call(request.app.state.queue.log, job_id)


@router.get("/jobs/{job_id}/events", summary="server-sent events: status and new per-epoch metrics")
async def api_events(job_id: int, request: Request) -> StreamingResponse:
    queue, store = request.app.state.queue, request.app.state.store
    await call(queue.get, job_id)  # 404-like error before the stream starts

    async def stream() -> AsyncIterator[str]:
        sent: dict[str, int] = {}
        last = None
        while not await request.is_disconnected():
            job = await run_in_threadpool(queue.get, job_id)
            if job.run_id:
                series = await run_in_threadpool(_views.curves, store, job.run_id)
                new = {name: {"epoch": s["epoch"][sent.get(name, 0):], "value": s["value"][sent.get(name, 0):]}
                       for name, s in series.items() if len(s["epoch"]) > sent.get(name, 0)}
                if new:
                    sent.update({name: len(s["epoch"]) for name, s in series.items()})
                    yield f"event: metrics\ndata: {json.dumps(new)}\n\n"
            state = job.to_json()
            state.pop("config")
            if state != last:
                last = state
                yield f"event: status\ndata: {json.dumps(state)}\n\n"
            if job.status in FINISHED:
                yield "event: end\ndata: {}\n\n"
                return
            await asyncio.sleep(request.app.state.sse_interval)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


# -- runs -------------------------------------------------------------------------------------------------
@router.get("/runs", summary="runs in the run database (filter language of `shendu runs list`)")
async def api_runs(request: Request, filter: str | None = None, limit: int = Query(200, ge=1, le=10_000)
                   ) -> list[dict[str, Any]]:
    records = await call(request.app.state.store.list_runs, limit, where=filter or None)
    return [run_json(r) for r in records]


def run_json(record: Any) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "status": record.status, "model": record.model,
            "dataset": record.dataset, "created_at": record.created_at.isoformat(), "tags": record.tags,
            "summary": record.summary, "package": record.package, "error": record.error}


@router.get("/runs/{run_id}", summary="one run: config, summary, curves")
async def api_run(run_id: str, request: Request) -> dict[str, Any]:
    store = request.app.state.store
    record = await call(store.get_run, run_id)
    return {**run_json(record), "config": record.config, "notes": record.notes,
            "curves": await call(_views.curves, store, record.id)}


@router.get("/runs/{run_id}/confusion", summary="confusion matrix of the run's package on its test split")
async def api_confusion(run_id: str, request: Request) -> dict[str, Any]:
    record, predictor = await call(package_of, request.app.state.store, run_id)
    return await call(_views.confusion, predictor, record.id)


@router.get("/runs/{run_id}/pictures/{kind}.png", summary="filters | features | gradcam | misclassified (PNG)")
async def api_picture(run_id: str, kind: str, request: Request) -> Response:
    record, predictor = await call(package_of, request.app.state.store, run_id)
    async with request.app.state.picture_lock:  # matplotlib and captum: one picture at a time
        data = await call(_views.picture, predictor, record.id, kind)
    return Response(data, media_type="image/png")


@router.get("/compare", summary="runs side by side and grouped: mean ± std of final values per group")
async def api_compare(request: Request, ids: list[str] = Query(...), by: str = "model.name") -> dict[str, Any]:
    return await call(compare_data, request.app.state.store, ids, by)


def compare_data(store: Any, ids: list[str], by: str) -> dict[str, Any]:
    if len(ids) < 2:
        raise BadInputError(f"compare needs two or more run ids, received {len(ids)}; tick them on the runs page")
    records = [store.get_run(i) for i in ids]
    where = " or ".join(f'id="{r.id}"' for r in records)
    groups = store.group_runs(by, where=where)
    comparison = store.compare_runs([r.id for r in records])
    return {**comparison.to_json(), "by": by, "groups": [g.to_json() for g in groups],
            "curves": {r.id: _views.curves(store, r.id) for r in records}}


@router.get("/compare.csv", summary="the selected runs as CSV (one row per run)")
async def api_compare_csv(request: Request, ids: list[str] = Query(...)) -> Response:
    from shendu.track._report import export_table

    records = [await call(request.app.state.store.get_run, i) for i in ids]
    columns, rows = export_table(records)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else json.dumps(row[c], ensure_ascii=False)
                         if isinstance(row.get(c), (list, dict)) else row.get(c) for c in columns])
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="shendu-runs.csv"'})


# -- inference --------------------------------------------------------------------------------------------
@router.post("/predict", summary="classify an image (multipart 'file' or JSON base64 'image') or a 'text' "
                                 "with a run's package: top-k and Grad-CAM")
async def api_predict(request: Request) -> dict[str, Any]:
    body = await _predict_body(request)
    run_id = body.get("run")
    if not isinstance(run_id, str) or not run_id:
        raise HTTPException(422, "expected 'run': the id of a completed run whose package classifies / 需要运行编号")
    record, predictor = await call(package_of, request.app.state.store, run_id)
    top_k = _top_k(body.get("top_k"), len(predictor.classes))
    if predictor.modality == "text":
        return {"run": record.id, **await call(_predict_text, predictor, body.get("text"), top_k)}
    chw = await _image(request, predictor, body)
    async with request.app.state.picture_lock:  # Grad-CAM hooks the shared model: one explanation at a time
        return {"run": record.id, **await call(_views.predict_with_cam, predictor, chw, top_k)}


async def _predict_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=4)
        return {"run": form.get("run"), "top_k": form.get("top_k"), "file": form.get("file"),
                "text": form.get("text")}
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"the body is not valid JSON ({exc}); expected {{\"run\": …, \"image\": "
                                 f"\"<base64>\"}} or multipart with 'run' and 'file'") from None
    if not isinstance(body, dict):
        raise HTTPException(422, f"expected a JSON object, received {type(body).__name__}")
    return body


def _top_k(value: Any, classes: int) -> int:
    from shendu.serve._app import parse_top_k

    return parse_top_k(value, classes)


async def _image(request: Request, predictor: Any, body: dict[str, Any]) -> np.ndarray:
    from starlette.datastructures import UploadFile

    from shendu.serve._app import b64_blobs, decode_images

    upload, b64 = body.get("file"), body.get("image")
    if isinstance(upload, UploadFile):
        blobs = [(f"file ({upload.filename})", await upload.read())]
    elif isinstance(b64, str):
        blobs = b64_blobs([b64], 1)
    else:
        raise HTTPException(422, "expected an image: multipart 'file', or JSON 'image' as base64 (a data URL is "
                                 "fine); received neither / 需要一张图片")
    limits = request.app.state.limits
    x = await run_in_threadpool(decode_images, predictor, blobs, limits.max_image_pixels)
    return np.rint(x[0] * 255.0).astype(np.uint8)  # back to the raw pixels Predictor and Grad-CAM take


def _predict_text(predictor: Any, text: Any, top_k: int) -> dict[str, Any]:
    from shendu.serve._app import prediction_rows

    text = form_text(text, "text", MAX_TEXT).strip()
    if not text:
        raise HTTPException(422, "expected a sentence in 'text', received an empty string / 请输入句子")
    try:
        probs = predictor.predict([text]).probabilities
    except (ShenduError, TypeError, ValueError) as exc:
        raise HTTPException(501, f"this text package cannot classify raw sentences yet ({exc}); it needs the "
                                 "tokenizer in the package / 该文本模型包还不能直接对句子分类") from None
    return {**prediction_rows(predictor.classes, probs, top_k)[0], "gradcam": None}
