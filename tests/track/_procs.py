"""Child processes for the run store tests (run as a script, not collected by pytest).

    python _procs.py sleeper URL                       create a run, print its id, sleep
    python _procs.py writer URL RUN_ID INDEX N GO_FILE  wait for GO_FILE, then log N metric rows
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from shendu.track import open_store


def sleeper(url: str) -> None:
    store = open_store(url)
    run_id = store.create_run(config={"who": "sleeper"}, seed=0, model="mlp", dataset="mnist")
    print(run_id, flush=True)
    time.sleep(120)


def writer(url: str, run_id: str, index: int, rows: int, go_file: Path) -> None:
    store = open_store(url)
    deadline = time.monotonic() + 60
    while not go_file.exists():  # start all writers at once, for the most contention
        if time.monotonic() > deadline:
            raise SystemExit("the go file never appeared")
        time.sleep(0.005)
    for i in range(rows):
        store.log_metrics(run_id, {f"w{index}_loss": float(loss_value(i))}, step=i)


def loss_value(i: int) -> int:
    """A scrambled sequence, so the last value differs from the smallest one."""
    return (i * 37) % 200


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "sleeper":
        sleeper(args[0])
    elif command == "writer":
        writer(args[0], args[1], int(args[2]), int(args[3]), Path(args[4]))
    else:
        raise SystemExit(f"unknown command {command!r} (expected sleeper or writer)")
