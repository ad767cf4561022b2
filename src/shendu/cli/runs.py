"""`shendu runs list | show RUN`."""
from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any, Optional

import typer
from rich.table import Table

from shendu.cli._common import console, print_json
from shendu.i18n import both, t

app = typer.Typer(no_args_is_help=True)


def _record(run: Any) -> dict[str, Any]:
    return asdict(run) if is_dataclass(run) else run.model_dump(mode="json")


@app.command("list", help=both("runs.list_help"))
def list_(
    limit: int = typer.Option(20, "--limit", min=1),
    status: Optional[str] = typer.Option(None, "--status", help="running | completed | failed"),
    json_out: bool = typer.Option(False, "--json", help=both("json_help")),
) -> None:
    from shendu.track import open_store

    runs = open_store().list_runs(limit=limit, status=status)
    if json_out:
        print_json({"runs": [_record(r) for r in runs]})
        return
    if not runs:
        console.print(t("runs.none"))
        return
    table = Table()
    table.add_column(t("col.run"), no_wrap=True)  # ids are copied from here: never fold them
    for key in ("col.status", "col.model", "col.data", "col.started"):
        table.add_column(t(key))
    table.add_column("test_acc")
    for run in runs:
        acc = (run.summary or {}).get("test_accuracy", {}).get("final")
        table.add_row(run.id, _status(run.status), run.model, run.dataset, f"{run.created_at:%m-%d %H:%M}",
                      f"{acc:.4f}" if acc is not None else "")
    console.print(table)


@app.command(help=both("runs.show_help"))
def show(run_id: str, json_out: bool = typer.Option(False, "--json", help=both("json_help"))) -> None:
    from shendu.track import open_store

    run = open_store().get_run(run_id)
    if json_out:
        print_json(_record(run))
        return
    console.print(f"[bold]{run.id}[/]  {_status(run.status)}  {run.model} · {run.dataset} · seed {run.seed}")
    console.print(f"  host {run.host} · code {run.code_version} · started {run.started_at} · ended {run.ended_at}")
    if run.error:
        console.print(f"  [red]error:[/] {run.error}")
    for note in run.notes or []:
        console.print(f"  note: {note}")
    if run.package:
        console.print(f"  package: {run.package}")
    table = Table()
    for key in ("col.metric", "col.final", "col.best"):
        table.add_column(t(key))
    for name, values in sorted((run.summary or {}).items()):
        table.add_row(name, f"{values['final']:.4f}", f"{values['best']:.4f}")
    console.print(table)


def _status(status: str) -> str:
    colour = {"completed": "green", "failed": "red", "running": "yellow"}.get(status, "white")
    return f"[{colour}]{status}[/]"
