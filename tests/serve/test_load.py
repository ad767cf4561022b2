"""`shendu serve` as a real process on loopback: a bounded load test (zero errors, right answers, batched),
limits and token over real sockets, and a graceful shutdown that answers the requests in flight.

Each server is a subprocess running the CLI (`python -m shendu serve …` once the command is registered in
`shendu.cli`, else the same `register()` on a bare typer app) on a free port; every test stops by itself.
"""
from __future__ import annotations

import base64
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from shendu.hub import load_package, save_package
from shendu.models import create_model
from shendu.train._preprocess import Preprocessing

TOKEN = "load-test-token"
SHIM = ("import sys, typer; from shendu.cli import serve; app = typer.Typer(); app.callback()(lambda: None); "
        "serve.register(app); app(sys.argv[1:], prog_name='shendu')")


def serve_command() -> list[str]:
    """`python -m shendu serve` when the command is registered, else the bare typer app with the same command."""
    import typer.main

    from shendu.cli import app

    if "serve" in typer.main.get_command(app).commands:
        return [sys.executable, "-m", "shendu", "serve"]
    return [sys.executable, "-c", SHIM, "serve"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `shendu serve` subprocess; output goes to a file (a full pipe would stall the server)."""

    def __init__(self, args: list[str], home: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "SHENDU_HOME": str(home), "SHENDU_LANG": "en", "PYTHONUNBUFFERED": "1"}
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([*serve_command(), *args, "--port", str(self.port)], env=env,
                                         stdout=out, stderr=subprocess.STDOUT)
        self._wait_ready(timeout=120)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"server not ready after {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def make_package(path: Path) -> Path:
    torch.manual_seed(0)
    model = create_model("lenet5", num_classes=10, in_channels=1, input_size=28)
    return save_package(path, model, model_name="lenet5", model_args={}, num_classes=10, in_channels=1,
                        input_size=28, preprocessing=Preprocessing((0.5,), (0.25,), (1, 28, 28)),
                        classes=[str(i) for i in range(10)], metrics={}, config={})


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_package(tmp_path_factory.mktemp("load_pkg") / "digits")


@pytest.fixture(scope="module")
def server(package: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("load_server")
    srv = Server([f"digits={package}", "--max-batch", "32", "--max-wait-ms", "5", "--token", TOKEN,
                  "--max-body-mb", "1", "--log-level", "warning"], root / "home", root / "server.log")
    yield srv
    srv.stop()


def png_b64(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_load_300_requests_at_concurrency_16_without_errors(server, package):
    """300 requests from 16 threads, mixing JSON arrays, base64 PNGs and multipart uploads: every answer is 200
    and names the label `Predictor.predict` gives for that request's image; the server batched them."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (300, 28, 28), dtype=np.uint8)
    expected = load_package(package).predict(images[:, None]).labels
    headers = {"Authorization": f"Bearer {TOKEN}"}
    labels: list[str | None] = [None] * 300
    errors: list[str] = []

    def request(client: httpx.Client, i: int) -> httpx.Response:
        if i % 3 == 0:
            return client.post("/predict", json={"inputs": images[i][None].tolist()})
        if i % 3 == 1:
            return client.post("/predict", json={"images": [png_b64(images[i])]})
        buffer = io.BytesIO()
        Image.fromarray(images[i]).save(buffer, format="PNG")
        return client.post("/models/digits/predict", files=[("files", (f"{i}.png", buffer.getvalue(), "image/png"))])

    def worker(start: int) -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            for i in range(start, 300, 16):
                try:
                    r = request(client, i)
                    if r.status_code == 200:
                        labels[i] = r.json()["predictions"][0]["label"]
                    else:
                        errors.append(f"{i}: {r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    errors.append(f"{i}: {type(exc).__name__} {exc}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == [] and labels == expected
    stats = httpx.get(f"{server.url}/health").json()["models"]["digits"]
    assert stats["requests"] == 300 and stats["items"] == 300 and stats["waiting"] == 0
    assert stats["forwards"] < 300, stats  # concurrent requests shared forwards


def test_real_socket_limits_and_token(server):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = b'{"inputs": [' + b"0, " * 600_000 + b"0]}"  # ≈ 1.8 MB > --max-body-mb 1
    r = httpx.post(f"{server.url}/predict", content=body, headers={**headers, "content-type": "application/json"})
    assert r.status_code == 413 and "more than the limit of 1,048,576 bytes (1 MB)" in r.json()["detail"]
    r = httpx.post(f"{server.url}/predict", json={"inputs": [[[0] * 28] * 28]})
    assert r.status_code == 401 and "received no Authorization header" in r.json()["detail"]
    r = httpx.get(f"{server.url}/models", headers=headers)
    assert r.status_code == 200 and r.json()[0]["name"] == "digits"


def test_sigterm_finishes_requests_in_flight(package, tmp_path):
    """Three requests are waiting for their batch (3 s window) when SIGTERM arrives: new connections are refused,
    the three are answered 200, then the process stops by itself."""
    srv = Server([f"digits={package}", "--max-batch", "64", "--max-wait-ms", "3000"], tmp_path / "home",
                 tmp_path / "server.log")
    try:
        results: list[int] = []
        x = {"inputs": [[[0] * 28] * 28]}
        threads = [threading.Thread(target=lambda: results.append(
            httpx.post(f"{srv.url}/predict", json=x, timeout=60).status_code)) for _ in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while httpx.get(f"{srv.url}/health").json()["models"]["digits"]["waiting"] < 3:
            assert time.monotonic() < deadline, "requests never reached the server"
            time.sleep(0.02)
        srv.proc.send_signal(signal.SIGTERM)
        refused = False
        while not refused and any(t.is_alive() for t in threads):
            try:
                httpx.get(f"{srv.url}/health", timeout=1)
                time.sleep(0.05)
            except httpx.TransportError:
                refused = True
        for t in threads:
            t.join(timeout=60)
        code = srv.proc.wait(timeout=60)
    finally:
        srv.stop()
    assert results == [200, 200, 200]
    assert refused, "the server still accepted connections while draining"
    assert code in (0, -signal.SIGTERM), srv.output()  # uvicorn re-raises the signal after a clean shutdown
    assert "Application shutdown complete" in srv.output()
