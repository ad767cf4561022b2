"""Fixtures of the studio tests: the app in-process (TestClient), runs with model packages, and the studio as a
real server in a subprocess on a free loopback port (for restarts, tokens and the browser)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from shendu.hub import save_package
from shendu.models import create_model
from shendu.track import open_store
from shendu.train._preprocess import Preprocessing

TestClient = pytest.importorskip("fastapi.testclient").TestClient


def make_run(home: Path, *, seed: int = 0, metrics: dict[str, float] | None = None, name: str | None = None,
             model: str = "lenet5") -> str:
    """A completed run with a (randomly initialized) LeNet-5 package for 8×8 grey digits."""
    store = open_store()
    config = {"data": {"name": "digits"}, "model": {"name": model}, "train": {"seed": seed}}
    run_id = store.create_run(config=config, seed=seed, model=model, dataset="digits", name=name)
    for epoch in (1, 2):
        store.log_metrics(run_id, {k: v * epoch / 2 for k, v in (metrics or {"val_loss": 1.0}).items()}, epoch=epoch)
    torch.manual_seed(seed)
    net = create_model(model, num_classes=10, in_channels=1, input_size=8)
    path = save_package(home / "packages" / run_id, net, model_name=model, model_args={}, num_classes=10,
                        in_channels=1, input_size=8, preprocessing=Preprocessing((0.5,), (0.25,), (1, 8, 8)),
                        classes=[str(i) for i in range(10)], metrics={}, config=config, run_id=run_id)
    store.set_package(run_id, path)
    store.finish(run_id, "completed")
    return run_id


@pytest.fixture
def client(shendu_home: Path) -> Iterator[TestClient]:
    from shendu.studio import create_app

    with TestClient(create_app(start_queue=False, max_upload_mb=1.0, max_image_pixels=512 * 512)) as c:
        yield c


# -- the studio as a server -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Studio:
    """`shendu studio` in a subprocess; `stop()` ends it (SIGKILL with `hard`, as a crash would)."""

    def __init__(self, home: Path, *args: str, port: int | None = None, host: str = "127.0.0.1",
                 token: str | None = None) -> None:
        self.port, self.host, self.token = port or free_port(), host, token
        self.log = home / f"studio-{self.port}-{time.monotonic_ns()}.log"
        env = {**os.environ, "SHENDU_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "shendu.cli", "studio", "--host", host, "--port", str(self.port), *args]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.base = f"http://127.0.0.1:{self.port}"
        self._wait_up()

    def _wait_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the studio exited with {self.proc.returncode}:\n{self.output()}")
            try:
                self.get("/api/jobs")
                return
            except urllib.error.HTTPError:
                return  # it answers (perhaps 401): it is up
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the studio did not answer within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def request(self, path: str, data: dict | None = None, token: str | None = None) -> tuple[int, object]:
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, method="POST" if body is not None else "GET",
                                         headers={"Content-Type": "application/json"} if body else {})
        if token or self.token:
            request.add_header("Authorization", f"Bearer {token or self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:  # 4xx/5xx: the status and the JSON detail
            return exc.code, json.loads(exc.read() or b"null")

    def get(self, path: str) -> object:
        status, value = self.request(path)
        if status == 401:
            raise urllib.error.HTTPError(self.base + path, 401, "unauthorized", None, None)  # type: ignore[arg-type]
        return value

    def stop(self, hard: bool = False) -> None:
        if self.proc.poll() is None:
            self.proc.kill() if hard else self.proc.terminate()
            self.proc.wait(timeout=30)


def wait_for(condition, timeout: float, what: str, every: float = 0.5):  # noqa: ANN001, ANN201
    """Poll `condition()` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


FAST_JOB = {"data.name": "digits", "model.name": "lenet5", "optim.lr": "0.01", "train.batch_size": "32",
            "extra": "track.tensorboard=false"}
