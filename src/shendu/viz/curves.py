"""Training curves from the run store: loss and accuracy per epoch, train against validation, for one
run or several on the same axes."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from shendu.errors import BadInputError
from shendu.track import RunStore, open_store
from shendu.viz._plot import Picture, finish, new_figure, style

PANELS = ("loss", "accuracy")
STYLES = {"train": "-", "val": "--", "test": "*"}


def run_curves(run_ids: Sequence[str], store: RunStore | str | None = None) -> list[dict[str, Any]]:
    """Every per-epoch metric of each run, as logged in the run store.

    Args:
        run_ids: run ids or unambiguous prefixes.
        store: a `RunStore`, a database URL, or None for the default store.

    Returns:
        One dict per run: run_id, name, model, dataset, status and `metrics`, mapping each metric
        name to {"epoch": [...], "value": [...]} in logging order.
    """
    if not run_ids:
        raise BadInputError("training curves need at least one run id (see: shendu runs list)")
    store = store if isinstance(store, RunStore) else open_store(store)
    runs = []
    for run_id in run_ids:
        record = store.get_run(run_id)
        metrics: dict[str, dict[str, list]] = {}
        for row in store.metric_history(record.id):
            if row["epoch"] is None:
                continue
            series = metrics.setdefault(row["name"], {"epoch": [], "value": []})
            series["epoch"].append(int(row["epoch"]))
            series["value"].append(float(row["value"]))
        runs.append({"run_id": record.id, "name": record.name, "model": record.model, "dataset": record.dataset,
                     "status": record.status, "metrics": metrics})
    return runs


def plot_curves(run_ids: Sequence[str] | str, path: str | Path | None = None, *,
                store: RunStore | str | None = None) -> Picture:
    """Loss and accuracy per epoch of one or more runs: train solid, validation dashed, test a star.

    Args:
        run_ids: one run id or several (prefixes work); each run gets its own colour.
        path: write the figure here (.png, .svg or .pdf).
        store: a `RunStore`, a database URL, or None for the default store.

    Returns:
        A Picture whose data is {"runs": run_curves(...)}.
    """
    from matplotlib.ticker import MaxNLocator

    runs = run_curves([run_ids] if isinstance(run_ids, str) else list(run_ids), store)
    last_epoch = max((max(m["epoch"]) for r in runs for m in r["metrics"].values()), default=1)
    with style():
        figure = new_figure(10, 3.8)
        axes = figure.subplots(1, len(PANELS), squeeze=False)[0]
        colors = [f"C{i % 10}" for i in range(len(runs))]
        for ax, panel in zip(axes, PANELS):
            for run, color in zip(runs, colors):
                _draw_run(ax, run, panel, color)
            ax.set_xlim(0.5, last_epoch + 0.5)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
            ax.set(xlabel="epoch", ylabel=panel)
            ax.grid(alpha=0.3)
        axes[-1].legend(handles=_legend(runs, colors), fontsize=7, loc="best")
        title = runs[0]["run_id"] if len(runs) == 1 else f"{len(runs)} runs"
        figure.suptitle(f"training curves · {title}")
    return finish({"runs": runs}, [figure], path)


def _legend(runs: list[dict[str, Any]], colors: list[str]) -> list[Any]:
    """Colour = run, line style = split: one entry per run and one per split, not one per pair."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=color, label=run["name"] or run["run_id"]) for run, color in zip(runs, colors)]
    if len(runs) == 1:
        handles = []
    return handles + [Line2D([], [], color="gray", linestyle="-", label="train"),
                      Line2D([], [], color="gray", linestyle="--", label="val"),
                      Line2D([], [], color="gray", linestyle="", marker="*", markersize=9, label="test")]


def _draw_run(ax: Any, run: dict[str, Any], panel: str, color: str) -> None:
    for split, line in STYLES.items():
        series = run["metrics"].get(f"{split}_{panel}")
        if not series:
            continue
        if split == "test":  # logged once, at the last epoch
            ax.plot(series["epoch"], series["value"], line, color=color, markersize=9)
        else:
            ax.plot(series["epoch"], series["value"], line, color=color, marker=".")
