"""The run database at scale: `runs list`, filtered lists and group-bys over 10,000 runs × 100 epochs on SQLite.

Run: `.venv/bin/python bench/bench_runs.py [--runs 10000] [--epochs 100] [--repeats 5] [--quick] [--keep DIR]`

The database is made in a throw-away SHENDU_HOME: the schema through `RunStore` (Alembic, every index of
revision 0003), then bulk inserts with SQLAlchemy Core `executemany` — runs with a realistic resolved config
(`ExperimentConfig().to_dict()`, ~1.3 kB of JSON), 4 metrics per epoch (train/val loss and accuracy: 4,000,000
metric rows at the defaults), their `run_summary` rows and some tags, exactly what `RunStore.log_metrics`
would have left. Then each query is timed through the library call the CLI makes (`RunStore.list_runs`,
`RunStore.group_runs`, each including its `reap_stale` check), plus the whole `shendu runs list` command
in-process (table rendering included, output discarded): one untimed warm-up call, then `--repeats` timed
calls, mean ± std. Target (issue 5): < 1 s each.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import math
import random
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import _common as c

MODELS = ("resnet20", "resnet56", "lenet5", "mlp", "vgg11", "mobilenet_v2", "densenet121", "textcnn")
DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")
LRS = (0.1, 0.05, 0.01, 0.003)
METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
FILTERED = "model.name=resnet20 and val_accuracy>0.9"  # the example: a config key and a metric
COLUMNS_ONLY = "status=completed and model=resnet20 and tag=baseline"  # all SQL, all indexed


def build(store: Any, runs: int, epochs: int, seed: int) -> None:
    """Fill the store's database by bulk inserts (not RunStore.log_metrics per row: that would take hours)."""
    from sqlalchemy import insert

    from shendu.config import ExperimentConfig
    from shendu.track._schema import Metric, Run, RunSummary, RunTag

    rng, base = random.Random(seed), ExperimentConfig().to_dict()
    start, batch = datetime(2026, 1, 1, tzinfo=timezone.utc), 200
    for first in range(0, runs, batch):
        rows: dict[Any, list[dict[str, Any]]] = {Run: [], Metric: [], RunSummary: [], RunTag: []}
        for i in range(first, min(first + batch, runs)):
            _one_run(rows, i, base, rng, start + timedelta(minutes=i), epochs)
        with store._writer.begin() as connection:
            for table, values in rows.items():
                if values:
                    connection.execute(insert(table.__table__), values)
        if first % 2000 == 0:
            print(f"  … {first + batch:,} / {runs:,} runs", flush=True)


def _one_run(rows: dict[Any, list[dict[str, Any]]], i: int, base: dict[str, Any], rng: random.Random,
             created: datetime, epochs: int) -> None:
    from shendu.track._schema import Metric, Run, RunSummary, RunTag

    model, dataset, lr = MODELS[i % len(MODELS)], DATASETS[(i // 8) % len(DATASETS)], LRS[(i // 32) % len(LRS)]
    config = copy.deepcopy(base)
    config["model"]["name"], config["data"]["name"], config["optim"]["lr"] = model, dataset, lr
    config["train"]["seed"], config["train"]["epochs"] = i % 5, epochs
    tags = ["baseline"] if i % 10 == 0 else (["ablation", "bn"] if i % 10 == 1 else [])
    config["track"]["tags"] = tags
    run_id = f"{created:%Y%m%d-%H%M%S}-{i:06x}"
    rows[Run].append({
        "id": run_id, "name": None, "status": "failed" if i % 13 == 0 else "completed", "config": config,
        "seed": i % 5, "model": model, "dataset": dataset, "code_version": "0.1.0+bench", "host": "bench",
        "pid": 1, "proc_start": None, "hardware": {"cpu_count": 2}, "created_at": created, "started_at": created,
        "ended_at": created + timedelta(minutes=5), "heartbeat_at": created + timedelta(minutes=5), "error": None,
        "notes": [], "package": None, "summary": {}})
    ceiling, summary = rng.uniform(0.7, 0.99), {}
    for epoch in range(1, epochs + 1):
        progress = 1 - 0.97 ** epoch
        values = {"train_loss": 2.3 * (1 - progress) + rng.uniform(0, 0.05),
                  "train_accuracy": min(1.0, ceiling * progress + rng.uniform(0, 0.02)),
                  "val_loss": 2.3 * (1 - progress) + rng.uniform(0, 0.1),
                  "val_accuracy": ceiling * progress + rng.uniform(-0.01, 0.01)}
        for name, value in values.items():
            rows[Metric].append({"run_id": run_id, "name": name, "value": value, "epoch": epoch, "step": None,
                                 "created_at": created})
            best = summary.get(name, {}).get("best", value)
            best = max(best, value) if "accuracy" in name else min(best, value)
            summary[name] = {"final": value, "best": best}
    rows[Run][-1]["summary"] = summary
    rows[RunSummary].extend({"run_id": run_id, "metric": m, **v} for m, v in summary.items())
    rows[RunTag].extend({"run_id": run_id, "tag": tag} for tag in tags)


def contenders(store: Any) -> dict[str, Callable[[], dict[str, float]]]:
    from shendu.cli import main

    def timed(call: Callable[[], Any]) -> Callable[[], dict[str, float]]:
        def run() -> dict[str, float]:
            begin = time.perf_counter()
            result = call()
            seconds = time.perf_counter() - begin
            return {"s": seconds, "rows": float(len(result)) if isinstance(result, list) else math.nan}
        return run

    def cli_list() -> int:
        with contextlib.redirect_stdout(io.StringIO()):
            return main(["runs", "list", "--limit", "50"])

    return {
        "runs list (50 newest)": timed(lambda: store.list_runs(limit=50)),
        "runs list --status failed": timed(lambda: store.list_runs(limit=50, status="failed")),
        f"runs list --filter '{COLUMNS_ONLY}'": timed(lambda: store.list_runs(limit=50, where=COLUMNS_ONLY)),
        f"runs list --filter '{FILTERED}'": timed(lambda: store.list_runs(limit=50, where=FILTERED)),
        "runs list --sort -val_accuracy.best": timed(lambda: store.list_runs(limit=50, sort="-val_accuracy.best")),
        "runs list --group-by model.name": timed(lambda: store.group_runs("model.name")),
        "runs list --group-by optim.lr --filter dataset=cifar10":
            timed(lambda: store.group_runs("optim.lr", where="dataset=cifar10")),
        "shendu runs list (whole CLI, in-process)": timed(cli_list),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="1,000 runs × 20 epochs, 3 repeats")
    parser.add_argument("--keep", type=Path, default=None, help="SHENDU_HOME to build in (kept, reused if built)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.epochs, args.repeats = 1_000, 20, 3
    home = c.setup_env(str(args.keep) if args.keep else None)
    import os

    os.environ["SHENDU_LANG"] = "en"
    from shendu.track import RunStore

    c.print_machine()
    db = home / "shendu.db"
    store = RunStore(f"sqlite:///{db}")
    if not store.list_runs(limit=1):
        begin = time.perf_counter()
        build(store, args.runs, args.epochs, args.seed)
        print(f"# built in {time.perf_counter() - begin:.0f} s")
    with sqlite3.connect(db) as raw:
        counts = [raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("runs", "metrics", "run_summary")]
    print(f"# {db}: {db.stat().st_size / 1e6:,.0f} MB · {counts[0]:,} runs · {counts[1]:,} metric rows · "
          f"{counts[2]:,} summary rows · SQLite {sqlite3.sqlite_version} · {args.repeats} timed repeats after "
          "one warm-up call, interleaved")
    calls = contenders(store)
    for call in calls.values():
        call()  # warm-up: imports, statement cache, OS page cache
    results = c.interleaved(calls, args.repeats, log=lambda line: None)
    rows = [[name, measured["s"].fmt(1, 1000.0),
             "—" if math.isnan(measured["rows"].mean) else f"{measured['rows'].mean:,.0f}",
             "yes" if measured["s"].mean < 1.0 else "NO"] for name, measured in results.items()]
    c.print_table(f"Run database, SQLite, {counts[0]:,} runs × {args.epochs} epochs (ms, mean ± std, "
                  f"n={args.repeats})", ["query (library call the CLI makes)", "ms", "rows / groups", "< 1 s"], rows)


if __name__ == "__main__":
    main()
