"""`shendu train CONFIG [--set k=v]... [--resume RUN] [--json]`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from shendu.cli._common import console, err_console, print_json
from shendu.errors import ShenduError
from shendu.i18n import both, t


def register(app: typer.Typer) -> None:
    @app.command(help=both("train.help"))
    def train(
        config: Optional[Path] = typer.Argument(None, help="experiment YAML / 实验配置文件"),
        set_: list[str] = typer.Option([], "--set", help=both("train.set_help")),
        resume: Optional[str] = typer.Option(None, "--resume", help=both("train.resume_help")),
        json_out: bool = typer.Option(False, "--json", help=both("json_help")),
    ) -> None:
        from shendu.config import ExperimentConfig
        from shendu.train import Trainer

        if config is None and resume is None:
            raise typer.BadParameter("give a CONFIG file or --resume RUN / 请提供配置文件或 --resume RUN")
        trainer = None
        try:
            if resume:
                trainer = Trainer.resume(resume, progress=not json_out)
            else:
                trainer = Trainer(ExperimentConfig.load(config, set_), progress=not json_out)
            result = trainer.fit()
        except ShenduError as exc:
            run_id = getattr(trainer, "last_run_id", None)
            if json_out:
                err_console.print(f"error: {exc}")
                print_json({"run_id": run_id, "status": "failed", "metrics": {}, "package": None, "error": str(exc)})
                raise typer.Exit(exc.exit_code)
            if run_id:
                err_console.print(t("train.failed", run_id=run_id, error=""))
            raise
        if json_out:
            print_json(result.to_json())
        else:
            console.print(t("train.done", run_id=result.run_id, package=result.package))
