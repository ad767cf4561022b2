"""`shendu predict PACKAGE FILES...` classifies image files; `--text "…"` / `--text-file F` classify texts
with a text package (tokenized by the package's own pipeline)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from shendu.cli._common import console, print_json
from shendu.errors import BadInputError
from shendu.i18n import both, t


def register(app: typer.Typer) -> None:
    @app.command(help=both("predict.help"))
    def predict(
        package: Path = typer.Argument(..., help="model package directory / 模型包目录"),
        files: Optional[list[Path]] = typer.Argument(None, help="image files / 图像文件"),
        text: Optional[list[str]] = typer.Option(None, "--text", help=both("predict.text_help")),
        text_file: Optional[Path] = typer.Option(None, "--text-file", help=both("predict.text_file_help")),
        json_out: bool = typer.Option(False, "--json", help=both("json_help")),
    ) -> None:
        from shendu.hub import load_package

        texts = list(text or []) + (read_lines(text_file) if text_file else [])
        if files and texts:
            raise BadInputError("give image files or texts (--text / --text-file), not both in one call")
        if not files and not texts:
            raise BadInputError(t("predict.nothing"))
        key, items = ("text", texts) if texts else ("file", [str(f) for f in files or []])
        result = load_package(package).predict(items)
        rows = [{key: item, **row} for item, row in zip(items, result.to_json())]
        if json_out:
            print_json({"predictions": rows})
            return
        table = Table()
        for column in (f"col.{key}", "col.label", "col.prob"):
            table.add_column(t(column), overflow="fold")
        for row in rows:
            shown = row[key] if len(row[key]) <= 60 else row[key][:59] + "…"
            table.add_row(shown, row["label"], f"{row['probability']:.3f}")
        console.print(table)


def read_lines(path: Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file (a BOM is ignored)."""
    try:
        content = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInputError(f"--text-file: no file at {path} (expected a UTF-8 file, one text per line)") from None
    except UnicodeDecodeError as exc:
        raise BadInputError(f"--text-file {path}: not valid UTF-8 at byte {exc.start} (GBK? re-save it as UTF-8)") \
            from None
    lines = [line.strip() for line in content.splitlines() if line.strip()]
    if not lines:
        raise BadInputError(f"--text-file {path} holds no text (expected one text per line)")
    return lines
