"""`shendu sweep CONFIG --space SPACE.yaml --trials N --workers W [--study NAME] [--storage URL] [--cv K]
[--metric M] [--direction D] [--no-prune] [--set k=v]... [--json]`, and the tables of `train --cv K`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich import box
from rich.table import Table

from shendu.cli._common import console, err_console, print_json
from shendu.i18n import both, t


def register(app: typer.Typer) -> None:
    @app.command(help=both("sweep.help"))
    def sweep(
        config: Path = typer.Argument(..., help="experiment YAML / 实验配置文件"),
        space: Path = typer.Option(..., "--space", help=both("sweep.space_help")),
        trials: int = typer.Option(20, "--trials", min=1, help=both("sweep.trials_help")),
        workers: int = typer.Option(1, "--workers", min=1, help=both("sweep.workers_help")),
        study: Optional[str] = typer.Option(None, "--study", help=both("sweep.study_help")),
        storage: Optional[str] = typer.Option(None, "--storage", help=both("sweep.storage_help")),
        cv: Optional[int] = typer.Option(None, "--cv", min=2, help=both("train.cv_help")),
        metric: str = typer.Option("val_accuracy", "--metric", help=both("sweep.metric_help")),
        direction: str = typer.Option("maximize", "--direction", help="maximize | minimize"),
        prune: bool = typer.Option(True, "--prune/--no-prune", help=both("sweep.prune_help")),
        set_: list[str] = typer.Option([], "--set", help=both("train.set_help")),
        json_out: bool = typer.Option(False, "--json", help=both("json_help")),
    ) -> None:
        from shendu.config import ExperimentConfig
        from shendu.sweep import SearchSpace
        from shendu.sweep import sweep as run_sweep

        result = run_sweep(ExperimentConfig.load(config, set_), SearchSpace.load(space), trials=trials,
                           workers=workers, study=study, storage=storage, metric=metric, direction=direction,
                           cv=cv, prune=prune, progress=not json_out)
        if json_out:
            print_json(result.to_json())
        else:
            show_sweep(result)
        if result.best is None:  # no trial completed: every one failed or was pruned
            err_console.print(t("sweep.none", study=result.study))
            raise typer.Exit(1)


def show_sweep(result: Any) -> None:
    """The study's trials, then the best one."""
    table = Table(title=f"{result.study} · {result.metric} ({result.direction}) · {result.storage}",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column(t("col.trial"), justify="right")
    table.add_column(t("col.state"))
    table.add_column(result.metric, justify="right")
    table.add_column(t("col.run"), no_wrap=True)  # ids are copied from here: never fold them
    keys = list(dict.fromkeys(key for row in result.trials for key in row.params))
    short = [key.rpartition(".")[2] for key in keys]
    for key, name in zip(keys, short):  # "lr" rather than "optim.lr" when that is unambiguous
        table.add_column(name if short.count(name) == 1 else key, justify="right")
    for row in result.trials:
        value = "" if row.value is None else f"{row.value:.4f}"
        table.add_row(str(row.number), row.state.lower(), value, row.run_id or "",
                      *(_shown(row.params.get(key)) for key in keys))
    console.print(table)
    best = result.best
    if best is not None:
        params = ", ".join(f"{k}={_shown(v)}" for k, v in best.params.items())
        console.print(t("sweep.best", trial=best.number, metric=result.metric, value=best.value, params=params,
                        run_id=best.run_id))


def show_cv(result: Any) -> None:
    """Mean ± std of each metric over the folds, and where the runs are."""
    table = Table(title=t("cv.title", k=result.k, run_id=result.run_id))
    for key in ("col.metric", "col.mean", "col.std"):
        table.add_column(t(key), justify="left" if key == "col.metric" else "right")
    for name in sorted(n.removesuffix("_mean") for n in result.metrics if n.endswith("_mean")):
        mean, std = result.mean_std(name)
        table.add_row(name, f"{mean:.4f}", f"± {std:.4f}")
    console.print(table)
    console.print(t("cv.done", run_id=result.run_id, folds=", ".join(f.run_id for f in result.folds)))


def _shown(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def train_cv(config: Path, overrides: list[str], k: int, json_out: bool) -> None:
    """`shendu train CONFIG --cv K`: a stratified k-fold cross-validation (one library call), then its table."""
    from shendu.config import ExperimentConfig
    from shendu.errors import ShenduError
    from shendu.sweep import run_cv

    try:
        result = run_cv(ExperimentConfig.load(config, overrides), k, progress=not json_out)
    except ShenduError as exc:
        if not json_out:
            raise
        err_console.print(f"error: {exc}")
        print_json({"run_id": None, "status": "failed", "metrics": {}, "package": None, "error": str(exc)})
        raise typer.Exit(exc.exit_code) from None
    if json_out:
        print_json(result.to_json())
    else:
        show_cv(result)
