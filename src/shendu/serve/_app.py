"""The REST server: a FastAPI app over one or more model packages, with dynamic micro-batching.

Endpoints: `POST /predict` (or `POST /models/{name}/predict`), `GET /models`, `GET /health`, OpenAPI docs at
`/docs`. Inputs: JSON arrays (`{"inputs": [...]}`), base64 images (`{"images": [...]}`), multipart uploads
(`files`) for image models; `{"texts": [...]}` for text models, tokenized in the batcher's worker with the
package's own pipeline (a batch is padded to its longest text, which changes no text's result). Every rejected
request gets a 4xx whose `detail` says what was expected and what was received.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import io
import ipaddress
import json
import re
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Mapping, Sequence

import numpy as np
import torch
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from shendu._registry import nearest
from shendu._version import __version__
from shendu.errors import BadInputError
from shendu.hub import Predictor, load_package
from shendu.serve._batcher import BACKENDS, Backend, BatcherClosed, MicroBatcher, default_threads, make_backend

MB = 1 << 20
JSON_KEYS = ("model", "top_k", "inputs", "images", "texts")
FORM_KEYS = ("model", "top_k", "files")
INPUT_KEYS = ("inputs", "images", "texts", "files")
TEXT_501 = ("model {name!r} is a text model ({arch}) whose package carries no tokenizer and vocabulary (it was "
            "made before packages stored them), so it cannot read texts; retrain it with this shendu, or call the "
            "model on token ids in Python")


class TextBackend:
    """Texts (a 1-D object array of str) → probabilities (N, K) float32: the package's `TextPipeline`, then the
    model under `inference_mode` — the same code path as `Predictor.predict(texts)`."""

    name = "torch"

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.forwards = 0

    def __call__(self, texts: np.ndarray) -> np.ndarray:
        self.forwards += 1
        with torch.inference_mode():
            logits = self.predictor.model(self.predictor.encode([str(t) for t in texts]))
            return torch.softmax(logits, dim=1).numpy()


# -- served models ------------------------------------------------------------------------------------
@dataclass
class ServedModel:
    """A package being served: its predictor, the backend that runs it and the batcher in front."""

    name: str
    predictor: Predictor
    modality: str
    batcher: MicroBatcher | None  # None for text packages without a tokenizer (answered 501)
    backend: Backend | TextBackend | None = None

    def info(self) -> dict[str, Any]:
        meta, spec = self.predictor.meta, self.predictor.meta["model"]
        info = {"name": self.name, "architecture": spec["name"], "modality": self.modality,
                "classes": self.predictor.classes, "num_classes": len(self.predictor.classes),
                "backend": self.backend.name if self.backend else None, "metrics": meta.get("metrics", {}),
                "dataset": (meta.get("dataset") or {}).get("name"),
                "run_id": (meta.get("provenance") or {}).get("run_id")}
        pipeline = self.predictor.text_pipeline
        if self.modality == "text" and pipeline is None:
            return {**info, "input": "none (501): this text package carries no tokenizer"}
        if self.modality == "text":
            return {**info, "tokenizer": pipeline.tokenizer.name, "vocab_size": pipeline.vocab_size,
                    "max_len": pipeline.max_len,
                    "input": f"JSON 'texts': a list of strings, tokenized with the package's {pipeline.tokenizer.name} "
                             f"tokenizer and vocabulary, at most {pipeline.max_len} tokens each (longer texts are cut)"}
        c, h, w = self.predictor.input_shape
        return {**info, "input_shape": [c, h, w],
                "input": f"JSON 'inputs' shaped (N, {c}, {h}, {w}) of uint8 pixels 0–255 or floats 0–1; "
                         f"or images (PNG/JPEG/BMP, resized to {w}×{h}) as base64 'images' or multipart 'files'"}


def _modality(predictor: Predictor) -> str:
    from shendu.models import MODELS

    return MODELS.meta(predictor.meta["model"]["name"]).get("modality", "image")


def model_name(spec: str | Path) -> str:
    """The URL name of a package: its directory name, or a hub name's last part (`user/mnist:v1` → `mnist:v1`)."""
    name = str(spec).rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^\w.:-]+", "-", name) or "model"


def parse_specs(specs: Sequence[str | Path]) -> dict[str, str | Path]:
    """`PACKAGE` or `NAME=PACKAGE` arguments → {name: package}; two packages may not share a name."""
    named: dict[str, str | Path] = {}
    for spec in specs:
        text = str(spec)
        name, sep, target = text.partition("=")
        if not sep or Path(text).exists():  # a path that exists wins, even with '=' in it
            name, target = model_name(text), text
        if not re.fullmatch(r"[\w.:-]+", name):
            raise BadInputError(f"model name {name!r} in {text!r} may only hold letters, digits and . _ : -")
        if name in named:
            raise BadInputError(f"two packages would be served as {name!r} ({named[name]} and {target}); "
                                f"name them explicitly: NAME=PACKAGE")
        named[name] = target
    if not named:
        raise BadInputError("expected at least one package to serve, received none")
    return named


def load_models(packages: Sequence[str | Path] | Mapping[str, str | Path | Predictor], *, backend: str = "torch",
                max_batch: int = 64, max_wait_ms: float = 5.0, threads: int | None = None) -> dict[str, ServedModel]:
    """Load every package (fail before binding a port), build its backend and batcher."""
    if backend not in BACKENDS:
        raise BadInputError(f"unknown backend {backend!r} (valid: {', '.join(BACKENDS)})")
    named = dict(packages) if isinstance(packages, Mapping) else parse_specs(packages)
    models = {}
    for name, target in named.items():
        predictor = target if isinstance(target, Predictor) else load_package(target)
        modality = _modality(predictor)
        if modality == "text" and predictor.text_pipeline is None:
            models[name] = ServedModel(name, predictor, modality, None)
            continue
        if modality == "text" and backend != "torch":
            raise BadInputError(f"package {target} is a text model; text models are served with --backend torch "
                                f"(received {backend!r}, which serves image models)")
        runner = TextBackend(predictor) if modality == "text" else make_backend(predictor, backend, threads)
        batcher = MicroBatcher(runner, max_batch=max_batch, max_wait_ms=max_wait_ms, name=name)
        models[name] = ServedModel(name, predictor, modality, batcher, runner)
    return models


# -- request parsing ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    """What one request may carry."""

    max_items: int = 256
    max_body_bytes: int = 8 * MB
    max_image_pixels: int = 4096 * 4096


def _fail(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def _check_keys(received: Sequence[str], valid: Sequence[str], where: str) -> None:
    unknown = [key for key in received if key not in valid]
    if unknown:
        close = nearest(unknown[0], list(valid))
        hint = f" — did you mean {close[0]!r}?" if close else ""
        raise _fail(422, f"unknown field {unknown[0]!r} in the {where}{hint} (valid: {', '.join(valid)})")


async def read_body(request: Request, limits: Limits) -> dict[str, Any]:
    """The request's fields from a JSON object or a multipart form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        try:
            form = await request.form(max_files=limits.max_items, max_fields=len(FORM_KEYS))
        except StarletteHTTPException as exc:  # Starlette says 400 for too many files; the limit is on items: 413
            if "Too many files" in str(exc.detail):
                raise _fail(413, f"expected at most {limits.max_items} files per request, received more; "
                                 "split the request (the server batches concurrent requests itself)") from None
            raise
        try:
            _check_keys(list(form.keys()), FORM_KEYS, "form")
        except HTTPException:
            await form.close()
            raise
        return {"model": form.get("model"), "top_k": form.get("top_k"), "files": form.getlist("files"),
                "_form": form}
    if content_type not in ("application/json", ""):
        raise _fail(415, f"unsupported content type {content_type!r}: send application/json ({{\"inputs\": …}}, "
                         "{\"images\": …} or {\"texts\": …}) or multipart/form-data with 'files'")
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(400, f"the body is not valid JSON ({exc}); expected an object such as "
                         "{\"inputs\": [[...]]}") from None
    if not isinstance(body, dict):
        raise _fail(422, f"expected a JSON object such as {{\"inputs\": [[...]]}}, received a {type(body).__name__}")
    _check_keys(list(body), JSON_KEYS, "JSON body")
    return body


def input_kind(body: Mapping[str, Any]) -> str:
    """Which of inputs / images / texts / files the request carries (exactly one)."""
    given = [key for key in INPUT_KEYS if body.get(key) not in (None, [])]
    if len(given) != 1:
        received = ", ".join(repr(k) for k in given) if given else "none (or only empty lists)"
        raise _fail(422, "expected exactly one of 'inputs' (arrays), 'images' (base64) or 'texts' in a JSON body, "
                         f"or 'files' in a multipart form; received {received}")
    return given[0]


def pixels_from_json(inputs: Any, shape: tuple[int, int, int], max_items: int) -> np.ndarray:
    """`inputs` (nested lists, N items) → float32 (N, C, H, W) in [0, 1]; ints are pixels 0–255."""
    c, h, w = shape
    expected = f"(N, {c}, {h}, {w})" + (f" or (N, {h}, {w})" if c == 1 else "")
    if not isinstance(inputs, list):
        raise _fail(422, f"expected 'inputs' to be a list of N images shaped {expected[1:]}, "
                         f"received a {type(inputs).__name__}")
    _check_count(len(inputs), max_items, "inputs")
    try:
        x = np.asarray(inputs)
    except (ValueError, TypeError):
        raise _fail(422, f"expected 'inputs' shaped {expected}, received ragged lists (items or rows of "
                         "different lengths)") from None
    if x.dtype.kind not in "iuf":
        raise _fail(422, f"expected 'inputs' to hold numbers, received {x.dtype.name} values "
                         f"(strings, booleans, nulls or integers beyond 64 bits)")
    received = tuple(x.shape)
    if c == 1 and x.ndim == 3:
        x = x[:, None]  # (N, H, W) → (N, 1, H, W)
    if x.shape[1:] != shape:
        raise _fail(422, f"expected 'inputs' shaped {expected}, received an array of shape {received}; "
                         f"resize the images to {w}×{h}, or send them as 'images' to have them resized")
    return _scale(x)


def _scale(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind in "iu":  # pixels: the same uint8 → /255 float32 arithmetic as Preprocessing
        low, high = int(x.min()), int(x.max())
        if low < 0 or high > 255:
            raise _fail(422, f"expected integer 'inputs' to be pixels 0–255, received values from {low} to {high}")
        return x.astype(np.uint8).astype(np.float32) / np.float32(255.0)
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise _fail(422, "expected float 'inputs' in [0, 1], received NaN or infinite values")
    low, high = float(x.min()), float(x.max())
    if low < 0 or high > 1:
        raise _fail(422, f"expected float 'inputs' scaled to [0, 1], received values from {low:g} to {high:g}; "
                         "send integers for 0–255 pixels")
    return x


def texts_from_json(texts: Any, max_items: int) -> np.ndarray:
    """`texts` → a 1-D object array of the strings (what the text backend and the batcher take)."""
    if not isinstance(texts, list):
        raise _fail(422, f"expected 'texts' to be a list of strings, received a {type(texts).__name__}")
    _check_count(len(texts), max_items, "texts")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            received = "an empty string" if isinstance(text, str) else f"{type(text).__name__} {text!r:.40}"
            raise _fail(422, f"expected texts[{i}] to be a non-empty string, received {received}")
    x = np.empty(len(texts), dtype=object)
    x[:] = texts
    return x


def _check_count(count: int, max_items: int, field: str) -> None:
    if count > max_items:
        raise _fail(413, f"expected at most {max_items} items per request, received {count} in {field!r}; "
                         "split the request (the server batches concurrent requests itself)")


def decode_images(predictor: Predictor, blobs: Sequence[tuple[str, bytes]], max_pixels: int) -> np.ndarray:
    """Encoded images → float32 (N, C, H, W) in [0, 1], resized like `Predictor.predict` does for files."""
    from PIL import Image, UnidentifiedImageError

    items = []
    for where, data in blobs:
        try:
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > max_pixels:
                raise _fail(413, f"{where} is {image.width}×{image.height} pixels, more than the limit of "
                                 f"{max_pixels:,}; send a smaller image")
            image.load()
        except UnidentifiedImageError:
            raise _fail(400, f"{where} is not an image file Pillow can read (received {len(data):,} bytes starting "
                             f"{data[:8]!r}); expected PNG, JPEG, BMP, GIF or WebP bytes") from None
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise _fail(400, f"{where} is a damaged or truncated image ({exc}); expected a complete PNG, JPEG, "
                             "BMP, GIF or WebP file") from None
        items.append(predictor._read_image(image).numpy())
    return np.stack(items).astype(np.float32) / np.float32(255.0)


def b64_blobs(images: Any, max_items: int) -> list[tuple[str, bytes]]:
    """`images`: base64 strings (optionally data URLs) → (where, bytes) pairs."""
    if not isinstance(images, list) or not all(isinstance(s, str) for s in images):
        raise _fail(422, "expected 'images' to be a list of base64-encoded image files (strings), "
                         f"received {type(images).__name__ if not isinstance(images, list) else 'other values'}")
    _check_count(len(images), max_items, "images")
    blobs = []
    for i, text in enumerate(images):
        payload = text.split(",", 1)[1] if text.startswith("data:") else text  # data:image/png;base64,…
        try:
            blobs.append((f"images[{i}]", base64.b64decode(payload, validate=True)))
        except (binascii.Error, ValueError):
            raise _fail(400, f"images[{i}] is not valid base64 (received {len(text)} characters starting "
                             f"{text[:16]!r}); encode the image file's bytes with base64") from None
    return blobs


async def file_blobs(files: Sequence[Any], max_items: int) -> list[tuple[str, bytes]]:
    """Multipart `files` uploads → (where, bytes) pairs."""
    _check_count(len(files), max_items, "files")
    blobs = []
    for i, upload in enumerate(files):
        if not isinstance(upload, UploadFile):
            raise _fail(422, f"expected files[{i}] to be a file upload, received a plain form field")
        blobs.append((f"files[{i}] ({upload.filename})", await upload.read()))
    return blobs


def parse_top_k(value: Any, num_classes: int) -> int:
    """`top_k` from the body, the form or the query string; default min(5, classes)."""
    if value is None or value == "":
        return min(5, num_classes)
    try:
        k = int(value) if not isinstance(value, (bool, float)) else None
    except (TypeError, ValueError):
        k = None
    if k is None or not 1 <= k <= num_classes:
        raise _fail(422, f"expected top_k to be an integer from 1 to {num_classes} (the number of classes), "
                         f"received {value!r}")
    return k


def prediction_rows(classes: Sequence[str], probs: np.ndarray, top_k: int) -> list[dict[str, Any]]:
    """Per item: the predicted label, index and probability, and the top-k classes by probability."""
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]  # ties: the lower index first, like argmax
    rows = []
    for p, idx in zip(probs, order):
        top = [{"label": classes[i], "index": int(i), "probability": float(p[i])} for i in idx]
        rows.append({**top[0], "probabilities": top})
    return rows


# -- app ----------------------------------------------------------------------------------------------
class Choice(BaseModel):
    label: str
    index: int
    probability: float


class Item(Choice):
    probabilities: list[Choice] = Field(description="the top_k classes, most probable first")


class PredictResponse(BaseModel):
    model: str
    backend: str
    predictions: list[Item]


class PredictRequest(BaseModel):
    """Exactly one of inputs / images / texts (or, multipart, `files`)."""

    model: str | None = Field(None, description="which model, when several are served")
    top_k: int | None = Field(None, description="how many classes to list per item (default 5)")
    inputs: list[Any] | None = Field(None, description="N images as nested lists shaped like the model's input: "
                                                       "uint8 pixels 0–255 (integers) or floats in [0, 1]")
    images: list[str] | None = Field(None, description="base64-encoded image files (PNG, JPEG, BMP, …)")
    texts: list[str] | None = Field(None, description="texts for text models, tokenized as in training")


FORM_SCHEMA = {"type": "object", "properties": {
    "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
    "model": {"type": "string"}, "top_k": {"type": "integer"}}, "required": ["files"]}


def create_app(packages: Sequence[str | Path] | Mapping[str, str | Path | Predictor], *, backend: str = "torch",
               max_batch: int = 64, max_wait_ms: float = 5.0, token: str | None = None,
               limits: Limits = Limits(), threads: int | None = None) -> FastAPI:
    """A FastAPI app serving `packages` (paths, hub names, `NAME=PACKAGE` strings, or {name: package}).

    Args:
        packages: what to serve; every package is loaded (and for onnxruntime exported) now.
        backend: "torch" (eager PyTorch) or "onnxruntime".
        max_batch: most items in one forward.
        max_wait_ms: longest a request waits for others to share its forward.
        token: when set, /predict and /models need `Authorization: Bearer <token>`.
        limits: items per request, body bytes, pixels per image.
        threads: intra-op threads of the forwards (None: leave PyTorch's and ONNX Runtime's defaults). PyTorch's
            setting is process-wide, so this sets it for the whole process.
    """
    if threads is not None:
        if threads < 1:
            raise BadInputError(f"expected threads ≥ 1, received {threads}")
        torch.set_num_threads(threads)
    models = load_models(packages, backend=backend, max_batch=max_batch, max_wait_ms=max_wait_ms, threads=threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for served in models.values():
            if served.batcher:
                served.batcher.start()
        yield
        for served in models.values():  # uvicorn has finished the in-flight requests; drain what is queued
            if served.batcher:
                await run_in_threadpool(served.batcher.close)

    app = FastAPI(title="shendu serve", version=__version__, lifespan=lifespan,
                  description="Classification with shendu model packages. Send `inputs` (arrays), `images` "
                              "(base64) or multipart `files` to an image model, `texts` to a text model, at "
                              "POST /predict.")
    app.state.models, app.state.limits, app.state.backend = models, limits, backend
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    _add_routes(app, models, limits, backend, [Depends(require_token(token))] if token else [])
    return app


def _add_routes(app: FastAPI, models: dict[str, ServedModel], limits: Limits, backend: str,
                auth: list[Any]) -> None:
    body_doc = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": PredictRequest.model_json_schema()},
        "multipart/form-data": {"schema": FORM_SCHEMA}}}}

    @app.get("/health", summary="liveness and batching counters (no token needed)")
    async def health() -> dict[str, Any]:
        stats = {name: {**m.batcher.stats, "waiting": m.batcher.waiting} if m.batcher else None
                 for name, m in models.items()}
        return {"status": "ok", "backend": backend, "models": stats}

    @app.get("/models", summary="served models: classes, input shape, metrics", dependencies=auth)
    async def list_models() -> list[dict[str, Any]]:
        return [m.info() for m in models.values()]

    @app.post("/predict", summary="classify items with the (only, or chosen) model", openapi_extra=body_doc,
              response_model=PredictResponse, dependencies=auth)
    async def predict(request: Request) -> Any:
        return await _predict(request, models, limits, None)

    @app.post("/models/{name}/predict", summary="classify items with the named model", openapi_extra=body_doc,
              response_model=PredictResponse, dependencies=auth)
    async def predict_named(name: str, request: Request) -> Any:
        return await _predict(request, models, limits, name)


def choose_model(models: Mapping[str, ServedModel], path_name: str | None, field: Any) -> ServedModel:
    """The model named in the URL path, else by the `model` field, else the only one served."""
    name = path_name or field
    if path_name and field and field != path_name:
        raise _fail(422, f"the URL names model {path_name!r} but the 'model' field says {field!r}; drop one")
    if name is None:
        if len(models) == 1:
            return next(iter(models.values()))
        raise _fail(422, f"several models are served ({', '.join(models)}); choose one with the 'model' field "
                         "or POST /models/{name}/predict")
    if not isinstance(name, str) or name not in models:
        close = nearest(str(name), list(models))
        hint = f" — did you mean {close[0]!r}?" if close else ""
        raise _fail(404, f"no model {name!r} is served{hint} (available: {', '.join(models)})")
    return models[name]


async def _predict(request: Request, models: Mapping[str, ServedModel], limits: Limits,
                   path_name: str | None) -> JSONResponse:
    body = await read_body(request, limits)
    try:
        served = choose_model(models, path_name, body.get("model") or request.query_params.get("model"))
        kind = input_kind(body)
        if served.batcher is None:
            raise _fail(501, TEXT_501.format(name=served.name, arch=served.predictor.meta["model"]["name"]))
        if (kind == "texts") != (served.modality == "text"):
            raise _fail(422, _wrong_kind(served, kind))
        top_k = parse_top_k(body.get("top_k", request.query_params.get("top_k")), len(served.predictor.classes))
        x = texts_from_json(body["texts"], limits.max_items) if kind == "texts" else \
            await _pixels(served, body, kind, limits)
        try:
            probs = await asyncio.wrap_future(served.batcher.submit(x))
        except BatcherClosed as exc:
            raise _fail(503, str(exc)) from None
        except Exception as exc:  # noqa: BLE001 — the client learns that the forward failed, and why
            raise _fail(500, f"inference failed in model {served.name!r}: {type(exc).__name__}: {exc}") from None
    finally:
        if "_form" in body:
            await body["_form"].close()
    rows = prediction_rows(served.predictor.classes, probs, top_k)
    return JSONResponse({"model": served.name, "backend": served.backend.name, "predictions": rows})


def _wrong_kind(served: ServedModel, kind: str) -> str:
    if kind == "texts":
        return (f"model {served.name!r} takes images, received 'texts'; send 'inputs' (arrays), 'images' (base64) "
                "or multipart 'files'")
    return f"model {served.name!r} is a text model, received {kind!r}; send {{\"texts\": [\"…\", …]}}"


async def _pixels(served: ServedModel, body: Mapping[str, Any], kind: str, limits: Limits) -> np.ndarray:
    if kind == "inputs":
        return pixels_from_json(body["inputs"], served.predictor.input_shape, limits.max_items)
    blobs = b64_blobs(body["images"], limits.max_items) if kind == "images" else \
        await file_blobs(body["files"], limits.max_items)
    return await run_in_threadpool(decode_images, served.predictor, blobs, limits.max_image_pixels)


# -- token and body size ------------------------------------------------------------------------------
def require_token(token: str) -> Callable[..., Any]:
    """A dependency checking `Authorization: Bearer <token>` (it also puts the bearer scheme into the docs)."""
    bearer = HTTPBearer(auto_error=False, description="the token printed by `shendu serve` at start-up")

    async def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if credentials is None:
            header = request.headers.get("authorization")
            received = "no Authorization header" if header is None else \
                f"an Authorization header of another scheme ({header.split(' ')[0][:16]!r})"
            raise HTTPException(401, f"this server needs a token: expected 'Authorization: Bearer <token>', "
                                     f"received {received}", headers={"WWW-Authenticate": "Bearer"})
        if not secrets.compare_digest(credentials.credentials.encode(), token.encode()):
            raise HTTPException(401, "wrong token in 'Authorization: Bearer …'; use the token printed by "
                                     "`shendu serve` at start-up (or its --token)",
                                headers={"WWW-Authenticate": "Bearer"})

    return check


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


class BodyLimit:
    """ASGI middleware: 413 for bodies over `max_bytes`, by Content-Length before reading anything, and by
    counting for streamed (chunked) bodies — nothing larger is ever parsed."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(send, int(declared), "")
        seen, started = 0, False

        async def counted_receive() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge(seen)
            return message

        async def tracked_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge as exc:
            if started:
                raise
            await self._reject(send, exc.size, "at least ")

    async def _reject(self, send: Callable, size: int, qualifier: str) -> None:
        detail = (f"request body is {qualifier}{size:,} bytes, more than the limit of {self.max_bytes:,} bytes "
                  f"({self.max_bytes / MB:.3g} MB); send fewer or smaller items per request, or start the server "
                  "with a larger --max-body-mb")
        payload = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


# -- running ------------------------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    """True for localhost / 127.x / ::1 — the only hosts where a token is optional."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname that might resolve to a public interface: treat as exposed


def resolve_token(host: str, token: str | None) -> tuple[str | None, bool]:
    """The token to enforce and whether it was generated: beyond loopback one is required."""
    if token:
        return token, False
    if is_loopback(host):
        return None, False
    return secrets.token_urlsafe(24), True


def serve(packages: Sequence[str | Path], *, backend: str = "torch", host: str = "127.0.0.1", port: int = 8000,
          max_batch: int = 64, max_wait_ms: float = 5.0, token: str | None = None, max_items: int = 256,
          max_body_mb: float = 8.0, threads: int | None = None, log_level: str = "info",
          echo: Callable[[str], None] = print) -> None:
    """Serve `packages` over HTTP until SIGINT/SIGTERM, then finish in-flight requests and stop.

    Args mirror `create_app`, except `threads`, which defaults to the usable cores minus one (`default_threads`);
    `echo` receives the start-up lines (URL, docs, a generated token).
    """
    import uvicorn

    if max_items < 1 or max_body_mb <= 0:
        raise BadInputError(f"expected max_items ≥ 1 and max_body_mb > 0, received {max_items} and {max_body_mb}")
    token, generated = resolve_token(host, token)
    limits = Limits(max_items=max_items, max_body_bytes=int(max_body_mb * MB))
    threads = threads or default_threads()
    app = create_app(packages, backend=backend, max_batch=max_batch, max_wait_ms=max_wait_ms, token=token,
                     limits=limits, threads=threads)
    shown = f"[{host}]" if ":" in host else host
    for served in app.state.models.values():
        echo(f"serving {served.name!r} ({served.predictor.meta['model']['name']}, {backend}) at "
             f"POST http://{shown}:{port}/models/{served.name}/predict")
    echo(f"micro-batching: up to {max_batch} items, {max_wait_ms:g} ms wait, {threads} intra-op thread(s); "
         f"docs at http://{shown}:{port}/docs")
    if generated:
        echo(f"token (bound beyond loopback, so required): {token}\n"
             f"  send it as 'Authorization: Bearer {token}' — set --token or SHENDU_SERVE_TOKEN to choose one")
    elif token:
        echo("token required: 'Authorization: Bearer <token>'")
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                            timeout_graceful_shutdown=30)
    uvicorn.Server(config).run()
