"""`shendu eval PACKAGE --data NAME --split test [--json]`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from shendu.cli._common import console, print_json
from shendu.i18n import both, t


def register(app: typer.Typer) -> None:
    @app.command("eval", help=both("eval.help"))
    def eval_(
        package: Path = typer.Argument(..., help="model package directory / 模型包目录"),
        data: Optional[str] = typer.Option(None, "--data", help="dataset (default: the package's) / 数据集"),
        split: str = typer.Option("test", "--split", help="train | val | test"),
        mirror: Optional[str] = typer.Option(None, "--mirror", help="dataset mirror dir or URL / 数据镜像"),
        json_out: bool = typer.Option(False, "--json", help=both("json_help")),
    ) -> None:
        from shendu.data import load_dataset
        from shendu.hub import load_package

        predictor = load_package(package)
        cfg = predictor.meta.get("config", {}).get("data", {})
        name = data or cfg.get("name")
        dataset = load_dataset(name, split, val_fraction=cfg.get("val_fraction", 0.1), seed=cfg.get("split_seed", 0),
                               mirror=mirror, progress=not json_out)
        metrics = predictor.evaluate(dataset.x, dataset.y, prefix=split)
        if json_out:
            print_json({"run_id": predictor.meta["provenance"].get("run_id"), "status": "completed",
                        "metrics": metrics, "package": str(predictor.path.resolve())})
            return
        table = Table(title=f"{package} · {name}/{split} ({len(dataset)})")
        table.add_column(t("col.metric"))
        table.add_column("value")
        for key, value in metrics.items():
            table.add_row(key, f"{value:.4f}")
        console.print(table)
