"""Fixtures for the dataset tests: a loopback HTTP server (no internet at test time) and a closed port."""
from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


class LoopbackServer:
    """Serves a folder on 127.0.0.1 and records every requested path."""

    def __init__(self, root: Path, handler: type[SimpleHTTPRequestHandler] | None = None) -> None:
        self.requests: list[str] = []
        requests = self.requests

        class Handler(handler or SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve() -> Iterator[Callable[..., LoopbackServer]]:
    """`serve(folder)` starts a loopback server for `folder`; all are stopped after the test."""
    servers: list[LoopbackServer] = []

    def start(root: Path, handler: type[SimpleHTTPRequestHandler] | None = None) -> LoopbackServer:
        servers.append(LoopbackServer(root, handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused, instantly)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def no_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHENDU_DATA_MIRROR", raising=False)
