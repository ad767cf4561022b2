"""`shendu predict PACKAGE FILES...`: classify image files."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from shendu.cli._common import console, print_json
from shendu.i18n import both, t


def register(app: typer.Typer) -> None:
    @app.command(help=both("predict.help"))
    def predict(
        package: Path = typer.Argument(..., help="model package directory / 模型包目录"),
        files: list[Path] = typer.Argument(..., help="image files / 图像文件"),
        json_out: bool = typer.Option(False, "--json", help=both("json_help")),
    ) -> None:
        from shendu.hub import load_package

        result = load_package(package).predict([str(f) for f in files])
        rows = [{"file": str(f), **row} for f, row in zip(files, result.to_json())]
        if json_out:
            print_json({"predictions": rows})
            return
        table = Table()
        for key in ("col.file", "col.label", "col.prob"):
            table.add_column(t(key))
        for row in rows:
            table.add_row(row["file"], row["label"], f"{row['probability']:.3f}")
        console.print(table)
