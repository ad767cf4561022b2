"""`shendu studio [--host 127.0.0.1] [--port 8765] [--workers N] [--token T]`: the browser workbench."""
from __future__ import annotations

import os
from typing import Optional

import typer

HELP = ("Open the browser studio: datasets, models, training jobs with live charts, runs, inference. / "
        "启动浏览器工作室：数据集、模型、带实时曲线的训练任务、运行记录、推理。")


def register(app: typer.Typer) -> None:
    @app.command(help=HELP)
    def studio(
        host: str = typer.Option("127.0.0.1", "--host", help="address to bind; beyond loopback a token is required "
                                 "/ 绑定地址；非本机地址需要令牌"),
        port: int = typer.Option(8765, "--port", min=1, max=65535, help="port / 端口"),
        workers: int = typer.Option(1, "--workers", min=1, help="training jobs at once / 同时运行的训练任务数"),
        token: Optional[str] = typer.Option(None, "--token", envvar="SHENDU_STUDIO_TOKEN",
                                            help="required on every request; generated when bound beyond loopback "
                                                 "/ 每个请求都需携带的令牌"),
        max_upload_mb: float = typer.Option(8.0, "--max-upload-mb", min=0.01, help="largest upload / 最大上传大小"),
    ) -> None:
        from shendu.studio import serve

        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        serve(host=host, port=port, workers=workers, token=token, max_upload_mb=max_upload_mb)
