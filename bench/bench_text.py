"""Text classification reproductions (issue 10 "Targets"), each next to its TF-IDF + logistic-regression baseline.

Run: `.venv/bin/python bench/bench_text.py [--tasks mr,chnsenticorp-textcnn,chnsenticorp-bilstm,thucnews]
      [--seeds 0,1,2] [--cv 10] [--threads 1] [--set KEY=VALUE ...]`

Each task is one of the example configs, trained with `shendu.train` exactly as `shendu train CONFIG` would
(the baseline is part of every text run: same tokens, same split, C picked on val). Per seed it prints test
accuracy, the baseline's, validation accuracy, epochs and wall seconds; over seeds mean ± std (n). With
`--cv K` the task runs as stratified K-fold cross-validation over train+val (`shendu.sweep.run_cv`, the
`shendu train --cv K` path): each fold's held-out val accuracy is the CV estimate (Kim 2014 reports MR as
a 10-fold CV mean); the baseline's fold-val accuracy is a little optimistic (its C is picked on that fold).

| task | config | target |
|---|---|---|
| mr | examples/mr-textcnn-rand.yaml | Kim (2014) CNN-rand 76.1% (10-fold CV); baseline ~77.7% |
| chnsenticorp-textcnn | examples/chnsenticorp-textcnn.yaml | ≥ 92% test (PaddleNLP TextCNN 91.07 on its split) |
| chnsenticorp-bilstm | examples/chnsenticorp-bilstm.yaml | ≥ 92% test (PaddleNLP BiLSTM 89.83 on its split) |
| thucnews | examples/thucnews-textcnn.yaml | report accuracy (train = mirror dev, test = test) |
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass

import _common as c

TASKS = {
    "mr": ("mr-textcnn-rand.yaml", "76.1% (Kim 2014, 10-fold CV)"),
    "chnsenticorp-textcnn": ("chnsenticorp-textcnn.yaml", "≥ 92% test"),
    "chnsenticorp-bilstm": ("chnsenticorp-bilstm.yaml", "≥ 92% test"),
    "thucnews": ("thucnews-textcnn.yaml", "report (dev → test)"),
}


@dataclass
class Row:
    task: str
    seed: str
    accuracy: float  # test accuracy, or the CV mean of fold-val accuracy
    baseline: float
    val: float
    epochs: int
    seconds: float
    spread: str = ""  # "± std" for a cross-validation


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, of: {', '.join(TASKS)}")
    parser.add_argument("--seeds", default="0", help="train.seed values, comma-separated (the split stays seed 0)")
    parser.add_argument("--cv", type=int, default=0, help="K-fold cross-validation instead of one split")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads; 1 on a shared machine")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="KEY=VALUE for every task")
    args = parser.parse_args()
    unknown = [t for t in args.tasks.split(",") if t not in TASKS]
    if unknown:
        parser.error(f"unknown task {unknown[0]!r} (valid: {', '.join(TASKS)})")
    return args


def allow_text_cv() -> None:
    """`run_cv` pools train + val with `ArrayDataset(torch.cat(x))`, which holds images only, and without the
    text options (data.train_split, data.path). Until shendu/sweep/_cv.py pools with
    `shendu.data.concat_datasets` and those options, this swaps in a pool that does."""
    from shendu.data import concat_datasets, load_dataset
    from shendu.sweep import _cv

    def pool(config):  # type: ignore[no-untyped-def]
        d = config.data
        kwargs = dict(val_fraction=d.val_fraction, seed=d.split_seed, mirror=d.mirror, download=d.download,
                      progress=False, train_split=d.train_split, path=d.path, test_path=d.test_path,
                      text_column=d.text_column, label_column=d.label_column)
        parts = [load_dataset(d.name, split, **kwargs) for split in ("train", "val")[:1 + (d.val_fraction > 0)]]
        return concat_datasets(parts, "train")

    _cv._pool = pool


def run_task(task: str, seed: int, cv: int, overrides: list[str]) -> Row:
    import shendu
    from shendu.config import ExperimentConfig

    config = ExperimentConfig.load(c.REPO / "examples" / TASKS[task][0], [f"train.seed={seed}", *overrides])
    config.track.tensorboard = False
    start = time.perf_counter()
    if cv:
        from shendu.sweep import run_cv

        allow_text_cv()
        result = run_cv(config, cv, progress=False)
        m = result.metrics
        return Row(task, str(seed), m["val_accuracy_mean"], m["baseline_val_accuracy_mean"], m["val_accuracy_mean"],
                   config.train.epochs, time.perf_counter() - start,
                   f"± {m['val_accuracy_std'] * 100:.2f} (baseline ± {m['baseline_val_accuracy_std'] * 100:.2f}; "
                   f"held-out test {m['test_accuracy_mean'] * 100:.2f} vs baseline "
                   f"{m['baseline_test_accuracy_mean'] * 100:.2f})")
    result = shendu.train(config, progress=False)
    m = result.metrics
    return Row(task, str(seed), m["test_accuracy"], m["baseline_test_accuracy"], m.get("val_accuracy", float("nan")),
               config.train.epochs, time.perf_counter() - start)


def summarize(rows: list[Row]) -> list[Row]:
    """Per task: the rows, then mean ± std over seeds when there are several."""
    out: list[Row] = []
    for task in dict.fromkeys(r.task for r in rows):
        mine = [r for r in rows if r.task == task]
        out += mine
        if len(mine) > 1:
            acc, base = [r.accuracy for r in mine], [r.baseline for r in mine]
            out.append(Row(task, f"mean (n={len(mine)})", statistics.fmean(acc), statistics.fmean(base),
                           statistics.fmean(r.val for r in mine), mine[0].epochs,
                           statistics.fmean(r.seconds for r in mine),
                           f"± {statistics.stdev(acc) * 100:.2f} (baseline ± {statistics.stdev(base) * 100:.2f})"))
    return out


def main() -> None:
    args = parse_args()
    home = c.setup_env()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    c.print_machine()
    print(f"SHENDU_HOME={home}  load before: {c.load_average()}", flush=True)
    rows = []
    for task in args.tasks.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            row = run_task(task, seed, args.cv, args.overrides)
            rows.append(row)
            print(json.dumps(row.__dict__), flush=True)
    print(f"load after: {c.load_average()}")
    what = f"{args.cv}-fold CV mean of fold-val accuracy" if args.cv else "test accuracy"
    c.print_table(f"Text classification, {what} (%), next to TF-IDF + logistic regression on the same split",
                  ("task", "seed", "model", "baseline", "Δ", "val", "epochs", "wall s", "target"),
                  [(r.task, r.seed, f"{r.accuracy * 100:.2f} {r.spread}".strip(), f"{r.baseline * 100:.2f}",
                    f"{(r.accuracy - r.baseline) * 100:+.2f}", f"{r.val * 100:.2f}", str(r.epochs), f"{r.seconds:.0f}",
                    TASKS[r.task][1]) for r in summarize(rows)])


if __name__ == "__main__":
    sys.exit(main())
