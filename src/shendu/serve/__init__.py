"""Serve model packages over HTTP: a FastAPI app with dynamic micro-batching (`shendu serve`).

    from shendu.serve import create_app, serve
    app = create_app(["runs/…/package"], backend="torch", max_batch=64, max_wait_ms=5)  # any ASGI server
    serve(["mnist=~/.shendu/packages/RUN"], host="127.0.0.1", port=8000)                 # uvicorn, blocking
"""
from shendu.serve._app import Limits, ServedModel, create_app, serve
from shendu.serve._batcher import MicroBatcher, OnnxBackend, TorchBackend, default_threads, make_backend

__all__ = ["Limits", "MicroBatcher", "OnnxBackend", "ServedModel", "TorchBackend", "create_app", "default_threads",
           "make_backend", "serve"]
