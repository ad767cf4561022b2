"""Time to load each registered dataset (train, val and test) from the offline mirror, cold and warm.

Run: `.venv/bin/python bench/bench_data_load.py [--repeats 5]`. Cold = the in-process decode cache is
cleared first (files still come from the OS page cache after the first repeat). Prints mean ± std.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import torch

from shendu.data import DATASETS, PartialDatasetWarning, dataset_info, load_dataset
from shendu.data import _api

MIRROR = Path(__file__).resolve().parents[2] / "shared" / "data"


def _load_all(name: str) -> float:
    start = time.perf_counter()
    for split in ("train", "val", "test"):
        load_dataset(name, split, progress=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("SHENDU_DATA_MIRROR", str(MIRROR))
    warnings.simplefilter("ignore", PartialDatasetWarning)
    print(f"# {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}, mirror {os.environ['SHENDU_DATA_MIRROR']}")
    for name in DATASETS.names():
        if dataset_info(name).files and not MIRROR.is_dir():
            print(f"{name:15s} skipped (no mirror)")
            continue
        cold, warm = [], []
        for _ in range(args.repeats):
            _api._decode.cache_clear()
            cold.append(_load_all(name))
            warm.append(_load_all(name))
        print(f"{name:15s} cold {statistics.mean(cold):.3f} ± {statistics.stdev(cold):.3f} s   "
              f"warm {statistics.mean(warm):.3f} ± {statistics.stdev(warm):.3f} s   (n={args.repeats})")


if __name__ == "__main__":
    main()
