"""Overhead: shendu's `Trainer.fit()` vs a hand-written PyTorch loop and a DataLoader(TensorDataset) loop.

Run: `.venv/bin/python bench/bench_overhead.py [--quick] [--repeats 3] [--jobs lenet,resnet]`

Jobs (SGD lr 0.05 momentum 0.9, batch 128, every training image, no validation split):
  lenet   LeNet-5 (the paper's tanh / average pooling) on MNIST, 2 epochs over 60,000 images —
          the reference job of issue 4;
  resnet  ResNet-20 on the CIFAR-10 mirror (3×32×32, the 4,000 images of the partial mirror), 1 epoch.

Contenders, all on the same preprocessed in-memory tensors, the same model builder and seed:
  shendu fit fp32       `Trainer(config).fit()` with train.precision=fp32, channels_last=off;
  shendu fit fast       train.precision=auto, train.channels_last=auto (detected: bf16 where the CPU has it);
  hand-written fp32     randperm + tensor indexing, forward / backward / step — the same shuffle as shendu,
                        so its fp32 accuracy must equal shendu's fp32 accuracy (a check that the jobs match);
  DataLoader fp32       the same step fed by DataLoader(TensorDataset(x, y), batch_size, shuffle=True).

Measured: training seconds (the epochs only: for shendu, the `Loop.epoch` calls inside the unmodified fit(),
timed by wrapping the method — data loading, test evaluation, checkpoints and run-store writes excluded) →
samples/s; for shendu also the whole fit() wall time; test accuracy of every run. Ratios are per-repeat
(paired) throughput ratios, mean ± std. Targets (issue 4): shendu fp32 ≥ 1.0× hand-written, ≥ 1.2× DataLoader;
shendu fast ≥ 1.3× hand-written fp32 at equal accuracy (±0.1 pt).
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any, Callable

import _common as c

SGD = {"lr": 0.05, "momentum": 0.9}
BATCH = 128


@dataclass(frozen=True)
class Job:
    key: str
    title: str
    dataset: str
    model: str
    model_args: dict[str, Any]
    epochs: int
    limit: int | None  # train on the first `limit` images (None: all)


def jobs(quick: bool) -> dict[str, Job]:
    return {
        "lenet": Job("lenet", "LeNet-5 / MNIST", "mnist", "lenet5", {}, 2, 12_800 if quick else None),
        "resnet": Job("resnet", "ResNet-20 / CIFAR-10 (partial mirror)", "cifar10", "resnet20", {}, 1,
                      1_024 if quick else None),
    }


def shendu_run(job: Job, seed: int, fast: bool) -> Callable[[], dict[str, float]]:
    config = c.shendu_config(job.dataset, job.model, job.model_args, epochs=job.epochs, batch_size=BATCH,
                             seed=seed, precision="auto" if fast else "fp32",
                             channels_last="auto" if fast else "off", **SGD)
    return lambda: c.run_shendu_fit(config, limit=job.limit)


def hand_run(job: Job, data: c.Tensors, seed: int) -> Callable[[], dict[str, float]]:
    import torch

    def run() -> dict[str, float]:
        model = c.build_model(job.model, data, seed, job.model_args)
        optimizer = torch.optim.SGD(model.parameters(), **SGD)
        start = time.perf_counter()
        for epoch in range(1, job.epochs + 1):
            c.hand_epoch(model, optimizer, data.x_train, data.y_train, BATCH, seed, epoch)
        seconds = time.perf_counter() - start
        return {"train_s": seconds, "acc": c.accuracy(model, data.x_test, data.y_test)}

    return run


def dataloader_run(job: Job, data: c.Tensors, seed: int) -> Callable[[], dict[str, float]]:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    def run() -> dict[str, float]:
        model = c.build_model(job.model, data, seed, job.model_args)
        optimizer = torch.optim.SGD(model.parameters(), **SGD)
        loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=BATCH, shuffle=True,
                            generator=torch.Generator().manual_seed(seed))
        start = time.perf_counter()
        for _ in range(job.epochs):
            c.dataloader_epoch(model, optimizer, loader)
        seconds = time.perf_counter() - start
        return {"train_s": seconds, "acc": c.accuracy(model, data.x_test, data.y_test)}

    return run


def warm_up(job: Job, data: c.Tensors, seed: int) -> None:
    """One short run of every path (oneDNN kernels, autocast, the run database) before anything is timed."""
    import torch

    small = Job(job.key, job.title, job.dataset, job.model, job.model_args, 1, 2 * BATCH)
    for fast in (False, True):
        shendu_run(small, seed, fast)()
    model = c.build_model(job.model, data, seed, job.model_args)
    optimizer = torch.optim.SGD(model.parameters(), **SGD)
    for bf16 in (False, True):
        c.hand_epoch(model, optimizer, data.x_train[:2 * BATCH], data.y_train[:2 * BATCH], BATCH, seed, 1, bf16)


def bench_job(job: Job, repeats: int, seed: int) -> dict[str, dict[str, c.Samples]]:
    data = c.load_tensors(job.dataset, job.limit)
    print(f"\n## {job.title}: {data.x_train.shape[0]:,} training images {tuple(data.input_shape)}, "
          f"{job.epochs} epoch(s), batch {BATCH}, SGD lr {SGD['lr']} momentum {SGD['momentum']}, "
          f"{data.x_test.shape[0]:,} test images")
    warm_up(job, data, seed)
    contenders = {
        "shendu fit fp32": shendu_run(job, seed, fast=False),
        "hand-written fp32": hand_run(job, data, seed),
        "DataLoader fp32": dataloader_run(job, data, seed),
        "shendu fit fast (auto/auto)": shendu_run(job, seed, fast=True),
    }
    results = c.interleaved(contenders, repeats)
    c.add_throughput(results, data.x_train.shape[0] * job.epochs)
    report(job, results)
    return results


def report(job: Job, results: dict[str, dict[str, c.Samples]]) -> None:
    hand_acc = results["hand-written fp32"]["acc"].mean
    n = len(results["hand-written fp32"]["acc"].values)
    rows = []
    for name, m in results.items():
        fit = m["fit_s"].fmt(2) if "fit_s" in m else "-"
        rows.append([name, c.resolved(m), m["train_s"].fmt(2), f"{min(m['train_s'].values):.2f}",
                     m["samples_s"].fmt(0), fit, m["acc"].fmt(2, 100), f"{100 * (m['acc'].mean - hand_acc):+.2f}"])
    c.print_table(f"{job.title} — training throughput (mean ± std, n={n})",
                  ["contender", "resolved", "train s", "best s", "samples/s", "fit() wall s", "test acc %", "Δacc pt"],
                  rows)
    tput = {name: m["samples_s"] for name, m in results.items()}
    checks = [("shendu fp32 / hand-written fp32", "shendu fit fp32", "hand-written fp32", 1.0),
              ("shendu fp32 / DataLoader fp32", "shendu fit fp32", "DataLoader fp32", 1.2),
              ("shendu fast / hand-written fp32", "shendu fit fast (auto/auto)", "hand-written fp32", 1.3),
              ("hand-written fp32 / DataLoader fp32", "hand-written fp32", "DataLoader fp32", None)]
    rows = []
    for label, a, b, target in checks:
        r = c.paired_ratio(tput[a], tput[b])
        verdict = "-"
        if target is not None:  # "within noise": the target lies inside mean ± std
            verdict = "meets" if r.mean >= target else ("within noise" if r.mean + r.std >= target else "below")
        rows.append([label, r.fmt(2) + "×", f"≥ {target}×" if target else "-", verdict])
    c.print_table(f"{job.title} — throughput ratios (paired per repeat)", ["ratio", "measured", "target", ""], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_common_args(parser, "12,800 MNIST / 1,024 CIFAR images, 2 repeats")
    parser.add_argument("--jobs", default="lenet,resnet", help="comma-separated: lenet, resnet")
    args = parser.parse_args()
    repeats = c.start(args)["repeats"]
    table = jobs(args.quick)
    for key in args.jobs.split(","):
        bench_job(table[key.strip()], repeats, args.seed)
    print(f"\n# load average at the end: {c.load_average()}")


if __name__ == "__main__":
    main()
