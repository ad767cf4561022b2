"""`shendu data list | info NAME | download NAME`."""
from __future__ import annotations

from dataclasses import asdict
from typing import Optional

import typer
from rich.table import Table

from shendu.cli._common import console, print_json
from shendu.i18n import both, t

app = typer.Typer(no_args_is_help=True)


@app.command("list", help=both("data.list_help"))
def list_(json_out: bool = typer.Option(False, "--json", help=both("json_help"))) -> None:
    from shendu.data import list_datasets

    infos = list_datasets()
    if json_out:
        print_json({"datasets": [_info_row(i) for i in infos]})
        return
    table = Table()
    for key in ("col.name", "col.modality", "col.classes", "col.shape", "col.source"):
        table.add_column(t(key))
    for info in infos:
        table.add_row(info.name, info.modality, str(info.num_classes), "×".join(map(str, info.input_shape)),
                      info.source)
    console.print(table)


@app.command(help=both("data.info_help"))
def info(name: str, json_out: bool = typer.Option(False, "--json", help=both("json_help"))) -> None:
    from shendu.data import dataset_info

    information = dataset_info(name)
    row = asdict(information)
    if json_out:
        print_json(row)
        return
    console.print(f"[bold]{information.name}[/] — {information.title}")
    for key in ("modality", "input_shape", "official_splits", "sizes", "source", "license", "citation", "mirror_dir"):
        console.print(f"  {key}: {row[key]}")
    console.print(f"  classes ({information.num_classes}): {', '.join(information.classes)}")
    for remote in information.files:
        digest = f"sha256 {remote.sha256}" if remote.sha256 else f"md5 {remote.md5}"
        console.print(f"  file {remote.filename}  {digest}\n       {' | '.join(remote.urls)}")


@app.command(help=both("data.download_help"))
def download(
    name: str,
    mirror: Optional[str] = typer.Option(None, "--mirror", help="mirror directory or URL / 数据镜像目录或网址"),
    json_out: bool = typer.Option(False, "--json", help=both("json_help")),
) -> None:
    from shendu.data import download as fetch

    paths = fetch(name, mirror=mirror, progress=not json_out)
    if json_out:
        print_json({"dataset": name, "files": [str(p) for p in paths]})
        return
    where = paths[0].parent if paths else "(built in / 内置)"
    console.print(t("data.downloaded", name=name, count=len(paths), path=where))


def _info_row(info) -> dict:
    return {"name": info.name, "modality": info.modality, "classes": info.num_classes,
            "input_shape": list(info.input_shape), "source": info.source}
