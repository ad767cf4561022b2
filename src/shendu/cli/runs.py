"""`shendu runs list [--filter EXPR] [--group-by KEY] [--sort KEY] | show RUN | compare RUN RUN... |
export --csv F|--json F | delete RUN... [--yes] [--files] | tag RUN TAG... | untag RUN TAG... | note RUN TEXT`.

Each command is one call on the run store (`RunStore.list_runs`, `group_runs`, `compare_runs`, `export_runs`,
`delete_runs`, `tag`, `untag`, `add_notes`); the filter language is documented in docs/runs.md.
"""
from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any, Optional

import typer
from rich.table import Table

from shendu.cli._common import console, err_console, print_json
from shendu.i18n import both, t

app = typer.Typer(no_args_is_help=True)
_RUNS_ARG = "run ids or unique prefixes / 运行 id 或唯一前缀"


def _record(run: Any) -> dict[str, Any]:
    return asdict(run) if is_dataclass(run) else run.model_dump(mode="json")


@app.command("list", help=both("runs.list_help"))
def list_(
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help=both("runs.limit_help")),
    status: Optional[str] = typer.Option(None, "--status", help="running | completed | failed"),
    filter_: Optional[str] = typer.Option(None, "--filter", help=both("runs.filter_help")),
    group_by: Optional[str] = typer.Option(None, "--group-by", help=both("runs.group_by_help")),
    sort: Optional[str] = typer.Option(None, "--sort", help=both("runs.sort_help")),
    metric: list[str] = typer.Option([], "--metric", help=both("runs.metric_help")),
    json_out: bool = typer.Option(False, "--json", help=both("json_help")),
) -> None:
    from shendu.track import open_store

    if group_by:
        groups = open_store().group_runs(group_by, where=filter_, sort=sort, limit=limit, metrics=metric or None,
                                         status=status)
        if json_out:
            print_json({"group_by": group_by, "groups": [g.to_json() for g in groups]})
        else:
            _show_groups(group_by, groups)
        return
    runs = open_store().list_runs(limit=limit or 20, status=status, where=filter_, sort=sort)
    if json_out:
        print_json({"runs": [_record(r) for r in runs]})
    elif not runs:
        console.print(t("runs.no_match") if filter_ or status else t("runs.none"))
    else:
        _show_runs(runs, metric or _sorted_metric(sort) or ["test_accuracy"])


def _sorted_metric(sort: str | None) -> list[str]:
    """Sorting by a metric shows it (`-val_accuracy.best` → val_accuracy.best)."""
    from shendu.track._query import parse_sort

    if not sort:
        return []
    key = parse_sort(sort).field
    return [str(key)] if key.kind == "metric" else []


def _show_runs(runs: list[Any], metrics: list[str]) -> None:
    table = Table()
    table.add_column(t("col.run"), no_wrap=True)  # ids are copied from here: never fold them
    for key in ("col.status", "col.model", "col.data", "col.started"):
        table.add_column(t(key), no_wrap=key in ("col.status", "col.started"))  # "completed", "11-25 13:51" whole
    tagged = any(run.tags for run in runs)
    if tagged:
        table.add_column(t("col.tags"))
    for name in metrics:
        table.add_column(name, justify="right", no_wrap=True)
    for run in runs:
        cells = [run.id, _status(run.status), run.model, run.dataset, f"{run.created_at:%m-%d %H:%M}"]
        cells += [", ".join(run.tags)] if tagged else []
        table.add_row(*cells, *(_metric_cell(run.summary, name) for name in metrics))
    console.print(table)


def _metric_cell(summary: dict[str, dict[str, float]] | None, name: str) -> str:
    base, _, which = name.partition(".")
    value = (summary or {}).get(base, {}).get(which or "final")
    return "" if value is None else f"{value:.4f}"


def _show_groups(key: str, groups: list[Any]) -> None:
    if not groups:
        console.print(t("runs.no_match"))
        return
    names = list(dict.fromkeys(name for group in groups for name in group.metrics))
    table = Table(title=f"--group-by {key} · {t('col.mean')} ± {t('col.std')} (final)")
    table.add_column(key, no_wrap=True)
    table.add_column(t("col.count"), justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for group in groups:
        cells = []
        for name in names:
            stats = group.metrics.get(name)
            cells.append("" if stats is None else f"{stats.mean:.4f} ± {stats.std:.4f}" if stats.std is not None
                         else f"{stats.mean:.4f} (n=1)")
        table.add_row("—" if group.key is None else str(group.key), str(group.count), *cells)
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
    if run.tags:
        console.print(f"  {t('col.tags')}: {', '.join(run.tags)}")
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


@app.command(help=both("runs.compare_help"))
def compare(
    run_ids: list[str] = typer.Argument(..., help=_RUNS_ARG),
    json_out: bool = typer.Option(False, "--json", help=both("json_help")),
) -> None:
    from shendu.track import open_store

    result = open_store().compare_runs(run_ids)
    if json_out:
        print_json(result.to_json())
        return
    heads = [f"{r.id}\n{r.status} · {r.model} · {r.dataset}" for r in result.runs]
    config = Table(title="config")
    config.add_column(t("col.key"))
    for head in heads:
        config.add_column(head, no_wrap=True)
    for key, values in result.config.items():
        config.add_row(key, *("—" if v is None else str(v) for v in values))
    console.print(config)
    metrics = Table(title=f"{t('col.final')} ({t('col.best')})")
    metrics.add_column(t("col.metric"))
    for head in heads:
        metrics.add_column(head, justify="right", no_wrap=True)
    for name, values in result.metrics.items():
        metrics.add_row(name, *("—" if v is None else f"{v['final']:.4f} ({v['best']:.4f})" for v in values))
    console.print(metrics)


@app.command(help=both("runs.export_help"))
def export(
    csv: Optional[str] = typer.Option(None, "--csv", help=both("runs.csv_help")),
    json_file: Optional[str] = typer.Option(None, "--json", help=both("runs.json_file_help")),
    filter_: Optional[str] = typer.Option(None, "--filter", help=both("runs.filter_help")),
    sort: Optional[str] = typer.Option(None, "--sort", help=both("runs.sort_help")),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="at most this many runs (default: all)"),
) -> None:
    from shendu.errors import BadInputError
    from shendu.track import open_store

    if (csv is None) == (json_file is None):
        raise BadInputError(t("runs.export_format"))
    fmt, path = ("csv", csv) if csv is not None else ("json", json_file)
    result = open_store().export_runs(path, fmt, where=filter_, sort=sort, limit=limit)
    shown = t("runs.exported", runs=result.runs, columns=result.columns, path=result.path)
    (err_console if result.path == "-" else console).print(shown)


@app.command(help=both("runs.delete_help"))
def delete(
    run_ids: list[str] = typer.Argument(..., help=_RUNS_ARG),
    yes: bool = typer.Option(False, "--yes", "-y", help=both("runs.yes_help")),
    files: bool = typer.Option(False, "--files", help=both("runs.files_help")),
    json_out: bool = typer.Option(False, "--json", help=both("json_help")),
) -> None:
    from shendu.track import open_store

    store = open_store()
    plan = store.delete_runs(run_ids, files=files, dry_run=True)
    if not json_out:
        table = Table()
        for key in ("col.run", "col.status", "col.metrics", "col.artifacts", "col.files"):
            table.add_column(t(key), no_wrap=key == "col.run")
        for entry in plan:
            table.add_row(entry["id"], _status(entry["status"]), str(entry["metrics"]), str(entry["artifacts"]),
                          "\n".join(entry["files"]))
        console.print(table)
    # The question goes to stderr: stdout stays the table and, with --json, ends with the JSON line.
    if not yes and not typer.confirm(t("runs.delete_confirm", count=len(plan)), default=False, err=True):
        err_console.print(t("runs.delete_aborted"))
        raise typer.Exit(1)
    deleted = store.delete_runs([entry["id"] for entry in plan], files=files)
    if json_out:
        print_json({"deleted": deleted})
    else:
        console.print(t("runs.deleted", count=len(deleted)))


@app.command(help=both("runs.tag_help"))
def tag(
    run_id: str = typer.Argument(..., help="run id or unique prefix / 运行 id 或唯一前缀"),
    tags: list[str] = typer.Argument(..., help="tags / 标签"),
    json_out: bool = typer.Option(False, "--json", help=both("json_help")),
) -> None:
    _tags(run_id, tags, json_out, add=True)


@app.command(help=both("runs.untag_help"))
def untag(
    run_id: str = typer.Argument(..., help="run id or unique prefix / 运行 id 或唯一前缀"),
    tags: list[str] = typer.Argument(..., help="tags / 标签"),
    json_out: bool = typer.Option(False, "--json", help=both("json_help")),
) -> None:
    _tags(run_id, tags, json_out, add=False)


def _tags(run_id: str, tags: list[str], json_out: bool, *, add: bool) -> None:
    from shendu.track import open_store

    store = open_store()
    full = store.get_run(run_id).id
    now = store.tag(full, tags) if add else store.untag(full, tags)
    if json_out:
        print_json({"run_id": full, "tags": now})
    else:
        console.print(t("runs.tags_now", run_id=full, tags=", ".join(now) or "—"))


@app.command(help=both("runs.note_help"))
def note(
    run_id: str = typer.Argument(..., help="run id or unique prefix / 运行 id 或唯一前缀"),
    text: str = typer.Argument(..., help="the note / 备注内容"),
    json_out: bool = typer.Option(False, "--json", help=both("json_help")),
) -> None:
    from shendu.track import open_store

    store = open_store()
    full = store.get_run(run_id).id
    notes = store.add_notes(full, [text])
    if json_out:
        print_json({"run_id": full, "notes": notes})
    else:
        console.print(t("runs.noted", run_id=full, count=len(notes)))


def _status(status: str) -> str:
    colour = {"completed": "green", "failed": "red", "running": "yellow"}.get(status, "white")
    return f"[{colour}]{status}[/]"
