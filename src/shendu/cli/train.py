"""`shendu train CONFIG [--set k=v]... [--resume RUN] [--nproc N] [--cv K] [--json]`."""
from __future__ import annotations

import os
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
        nproc: int = typer.Option(1, "--nproc", min=1, help=both("train.nproc_help")),
        nnodes: int = typer.Option(1, "--nnodes", min=1, help="nodes (torchrun) / 节点数"),
        rdzv_endpoint: Optional[str] = typer.Option(None, "--rdzv-endpoint", help="HOST:PORT (torchrun)"),
        node_rank: Optional[int] = typer.Option(None, "--node-rank", help="this node's rank / 本节点序号"),
        cv: Optional[int] = typer.Option(None, "--cv", min=2, help=both("train.cv_help")),
    ) -> None:
        from shendu.config import ExperimentConfig
        from shendu.train import Trainer
        from shendu.train._launch import launch, under_torchrun

        if config is None and resume is None:
            raise typer.BadParameter("give a CONFIG file or --resume RUN / 请提供配置文件或 --resume RUN")
        if cv is not None:  # k-fold cross-validation: one shendu.sweep.run_cv call (cli/sweep.py)
            if resume or nproc > 1 or nnodes > 1:
                raise typer.BadParameter("--cv trains its folds in this process; drop --resume / --nproc / --nnodes")
            from shendu.cli.sweep import train_cv

            return train_cv(config, set_, cv, json_out)
        if (nproc > 1 or nnodes > 1) and not under_torchrun():
            if config is not None:
                ExperimentConfig.load(config, set_)  # fail fast, before starting N processes
            args = ["train"] + ([str(config)] if config else []) + [a for kv in set_ for a in ("--set", kv)]
            args += (["--resume", resume] if resume else []) + (["--json"] if json_out else [])
            raise typer.Exit(launch(args, nproc, nnodes, rdzv_endpoint, node_rank))
        quiet = os.environ.get("RANK", "0") != "0"  # under torchrun only rank 0 reports
        trainer = None
        try:
            from shendu.generative import generative_trainer  # configs with a `generative:` section

            trainer = generative_trainer(config, set_, resume, progress=not json_out)
            if trainer is None and resume:
                trainer = Trainer.resume(resume, progress=not json_out)
            elif trainer is None:
                trainer = Trainer(ExperimentConfig.load(config, set_), progress=not json_out)
            result = trainer.fit()
            if quiet:
                return
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
