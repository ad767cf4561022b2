"""Dynamic micro-batching and the backends it runs.

Concurrent requests are queued; one worker thread per served model takes the oldest request, keeps
collecting until `max_batch` items are queued or the OLDEST request has waited `max_wait_ms`, runs ONE
forward on the concatenation and hands each request its own rows back through a future.

The wait is measured from when the oldest request arrived, not from when the worker picked it up:
requests that queued up while the previous forward ran have already waited and go at once, so under
load the batch size follows the load without adding latency, and a lone request waits at most
`max_wait_ms`. A request with more items than `max_batch` is never split: it runs in a forward of its own.

Backends take float32 pixels scaled to [0, 1], shaped (N, C, H, W), and return class probabilities
(N, K) float32. Both standardize with the package's own preprocessing (the same code as
`Predictor.predict`), then run the network: `TorchBackend` in eager PyTorch under `inference_mode`,
`OnnxBackend` through ONNX Runtime on a graph exported from the same package (cached by weight hash).
"""
from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch

from shendu import _settings
from shendu.errors import BadInputError, ShenduError
from shendu.hub import Predictor

BACKENDS = ("torch", "onnxruntime")


class Backend(Protocol):
    """Probabilities (N, K) float32 for pixels (N, C, H, W) float32 in [0, 1]; `forwards` counts calls."""

    name: str
    forwards: int

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


class TorchBackend:
    """Eager PyTorch: the package's preprocessing, the model under `inference_mode`, softmax."""

    name = "torch"

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.forwards = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.forwards += 1
        with torch.inference_mode():
            logits = self.predictor.model(self.predictor.preprocessing(torch.from_numpy(x)))
            return torch.softmax(logits, dim=1).numpy()


class OnnxBackend:
    """ONNX Runtime on the package's graph, exported once into SHENDU_HOME/cache/onnx/ and reused.

    The graph takes the preprocessed input (see `shendu.hub._export.export_onnx`); standardization runs
    here with the package's preprocessing, as in the torch backend.
    """

    name = "onnxruntime"

    def __init__(self, predictor: Predictor, onnx_path: str | Path | None = None, threads: int | None = None) -> None:
        try:
            from shendu.hub._export import OnnxRunner, export_onnx
        except ImportError as exc:
            raise ShenduError(f"the onnxruntime backend needs shendu.hub._export ({exc}); "
                              "use --backend torch") from None
        self.predictor = predictor
        self.forwards = 0
        path = Path(onnx_path) if onnx_path else onnx_cache_path(predictor)
        if not path.is_file():
            export_onnx(predictor, path)  # atomic: a half-written file never appears under the cached name
        self.onnx_path = path
        self.runner = OnnxRunner(path, threads=threads)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.forwards += 1
        with torch.inference_mode():
            inputs = self.predictor.preprocessing(torch.from_numpy(x)).numpy()
        logits = torch.from_numpy(np.ascontiguousarray(self.runner(inputs), dtype=np.float32))
        return torch.softmax(logits, dim=1).numpy()


def default_threads() -> int:
    """Intra-op threads for a server's forwards: the usable cores minus one, at least 1. The spare core runs the
    event loop (HTTP, JSON, images); without it the forward's thread team competes with the event loop and
    stalls at every barrier — on 2 cores, that made PyTorch forwards several times slower under load."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def onnx_cache_path(predictor: Predictor) -> Path:
    """SHENDU_HOME/cache/onnx/<run id or package name>-<weights sha256[:12]>.onnx: retrained weights
    under the same name get a new file instead of a stale graph."""
    digest = (predictor.meta.get("weights") or {}).get("sha256")  # recorded by save_package; else hash here
    if not digest:
        hasher = hashlib.sha256()
        with open(predictor.path / "model.safetensors", "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                hasher.update(block)
        digest = hasher.hexdigest()
    name = (predictor.meta.get("provenance") or {}).get("run_id") or predictor.path.name
    return _settings.subdir("cache") / "onnx" / f"{name}-{digest[:12]}.onnx"


def make_backend(predictor: Predictor, kind: str = "torch", threads: int | None = None) -> Backend:
    """The backend called `kind` ("torch" or "onnxruntime") for a loaded package; `threads` sets ONNX Runtime's
    intra-op threads (PyTorch's are process-wide: `torch.set_num_threads`)."""
    if kind == "torch":
        return TorchBackend(predictor)
    if kind == "onnxruntime":
        return OnnxBackend(predictor, threads=threads)
    raise BadInputError(f"unknown backend {kind!r} (valid: {', '.join(BACKENDS)})")


class BatcherClosed(ShenduError):
    """The batcher is shutting down and takes no new requests."""


@dataclass
class _Job:
    x: np.ndarray
    future: Future
    arrived: float = field(default_factory=time.monotonic)


_STOP = object()


class MicroBatcher:
    """Queue requests, run them in batches of up to `max_batch` items on one worker thread.

    Args:
        run: the forward: (N, ...) array → (N, ...) array, row i of the output belonging to row i of the input.
        max_batch: most items in one forward (a single larger request still runs, alone).
        max_wait_ms: longest the oldest queued request waits for company before its batch runs.
        name: names the worker thread (several models are served by several batchers).
    """

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], *, max_batch: int = 64, max_wait_ms: float = 5.0,
                 name: str = "model") -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise BadInputError(f"expected max_batch ≥ 1 and max_wait_ms ≥ 0, received {max_batch} and {max_wait_ms}")
        self.run, self.max_batch, self.max_wait = run, max_batch, max_wait_ms / 1000
        self.name = name
        self.stats = {"requests": 0, "items": 0, "forwards": 0, "largest_batch": 0}
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._waiting = 0  # submitted, not answered yet

    @property
    def waiting(self) -> int:
        """Requests queued or in the running forward (what a graceful shutdown still has to answer)."""
        return self._waiting

    def start(self) -> None:
        """Start the worker (again, after `close`). `submit` starts it too."""
        with self._lock:
            self._closed = False
            self._start_locked()

    def _start_locked(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name=f"shendu-batcher-{self.name}", daemon=True)
            self._thread.start()

    def submit(self, x: np.ndarray) -> Future:
        """Queue a request of `len(x)` items; the future resolves to its rows of the output."""
        future: Future = Future()
        with self._lock:  # no request can slip in behind the stop marker
            if self._closed:
                raise BatcherClosed(f"model {self.name!r} is shutting down and takes no new requests")
            self._start_locked()
            self._waiting += 1
            self._queue.put(_Job(x, future))
        return future

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop taking requests, finish every queued one, then stop the worker."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None and thread.is_alive():
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    def _work(self) -> None:
        carry: _Job | None = None
        while True:
            first = carry if carry is not None else self._queue.get()
            if first is _STOP:
                return
            jobs, carry, stop = self._collect(first)
            try:
                self._forward([job for job in jobs if job.future.set_running_or_notify_cancel()])
            finally:
                with self._lock:
                    self._waiting -= len(jobs)
            if stop:
                return

    def _collect(self, first: _Job) -> tuple[list[_Job], _Job | None, bool]:
        """The batch that starts with `first`, the request that did not fit (next batch), and whether
        the stop marker was reached (everything before it is in this batch)."""
        jobs, items = [first], len(first.x)
        deadline = first.arrived + self.max_wait
        while items < self.max_batch:
            remaining = deadline - time.monotonic()
            try:  # past the deadline, still take what is already queued (it costs no waiting)
                job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return jobs, None, True
            if items + len(job.x) > self.max_batch:
                return jobs, job, False
            jobs.append(job)
            items += len(job.x)
        return jobs, None, False

    def _forward(self, jobs: list[_Job]) -> None:
        if not jobs:  # every request of this batch was cancelled (clients went away)
            return
        x = jobs[0].x if len(jobs) == 1 else np.concatenate([job.x for job in jobs])
        try:
            out = self.run(x)
        except Exception as exc:  # noqa: BLE001 — every waiting request gets the error, the worker lives on
            for job in jobs:
                job.future.set_exception(exc)
            return
        self.stats["requests"] += len(jobs)
        self.stats["items"] += len(x)
        self.stats["forwards"] += 1
        self.stats["largest_batch"] = max(self.stats["largest_batch"], len(x))
        start = 0
        for job in jobs:
            job.future.set_result(out[start:start + len(job.x)])
            start += len(job.x)
