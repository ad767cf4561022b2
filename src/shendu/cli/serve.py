"""`shendu serve PACKAGE...`: serve model packages over HTTP (FastAPI + uvicorn, dynamic micro-batching)."""
from __future__ import annotations

import typer

from shendu.cli._common import console

HELP = ("Serve model packages over HTTP: POST /predict, GET /models, GET /health, docs at /docs. Concurrent "
        "requests share forwards (micro-batching). Beyond loopback a token is required (generated if not given). "
        "/ 通过 HTTP 提供模型服务：POST /predict、GET /models、GET /health，文档见 /docs；并发请求合批推理；"
        "绑定非回环地址时必须使用令牌（未提供则自动生成）。")


def register(app: typer.Typer) -> None:
    @app.command(help=HELP)
    def serve(
        packages: list[str] = typer.Argument(..., help="package directories or hub names, optionally NAME=PACKAGE "
                                                       "/ 模型包目录或模型库名称，可写作 名称=模型包"),
        backend: str = typer.Option("torch", "--backend", help="torch or onnxruntime / 推理后端"),
        host: str = typer.Option("127.0.0.1", "--host", help="address to bind / 监听地址"),
        port: int = typer.Option(8000, "--port", help="port / 端口"),
        max_batch: int = typer.Option(64, "--max-batch", help="most items per forward / 每次前向的最多样本数"),
        max_wait_ms: float = typer.Option(5.0, "--max-wait-ms",
                                          help="longest wait for a batch to fill / 合批的最长等待（毫秒）"),
        token: str = typer.Option(None, "--token", envvar="SHENDU_SERVE_TOKEN",
                                  help="bearer token (required beyond loopback; generated if absent) "
                                       "/ 访问令牌（非回环地址必需；缺省时自动生成）"),
        max_items: int = typer.Option(256, "--max-items", help="most items per request / 每个请求的最多样本数"),
        max_body_mb: float = typer.Option(8.0, "--max-body-mb", help="largest request body / 请求体上限（MB）"),
        threads: int = typer.Option(None, "--threads", help="intra-op threads per forward (default: cores − 1) "
                                                             "/ 前向计算线程数（默认：核数 − 1）"),
        log_level: str = typer.Option("info", "--log-level", help="uvicorn log level / 日志级别"),
    ) -> None:
        from shendu.serve import serve as run

        run(packages, backend=backend, host=host, port=port, max_batch=max_batch, max_wait_ms=max_wait_ms,
            token=token, max_items=max_items, max_body_mb=max_body_mb, threads=threads, log_level=log_level,
            echo=lambda line: console.print(line, markup=False))
