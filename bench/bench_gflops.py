"""Achieved training GFLOP/s of shendu (LeNet-5 / MNIST, ResNet-20 / CIFAR-10) vs the machine's GEMM GFLOP/s.

Run: `.venv/bin/python bench/bench_gflops.py [--quick] [--repeats 3]`

FLOPs per training sample: `torch.utils.flop_counter.FlopCounterMode` over one forward + cross-entropy +
backward of a batch of 128 (train mode), divided by 128. It counts the matmul / convolution work (forward,
grad-input and grad-weight) — the FLOPs that matter; element-wise ops, pooling, BN and the optimizer are free
in this count, so achieved GFLOP/s is a lower bound of what the machine does.
Achieved GFLOP/s = FLOPs per sample × samples trained / seconds of the training epochs inside `Trainer.fit()`
(same timing as bench_overhead.py), at fp32 (train.precision=fp32, channels_last=off) and with shendu's fast
settings (precision=auto, channels_last=auto → bf16 where the CPU has it).
Reference: torch.mm of two 2048×2048 matrices (2·2048³ FLOPs), best of 10, fp32 and bf16 — the practical peak
of these cores through oneDNN/MKL. All contenders are interleaved across repeats in this one process.
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import _common as c

BATCH = 128
GEMM_N = 2048
JOBS = [  # (title, dataset, model, epochs, images with --quick)
    ("LeNet-5 / MNIST", "mnist", "lenet5", 1, 12_800),
    ("ResNet-20 / CIFAR-10", "cifar10", "resnet20", 1, 1_024),
]


def flops_per_sample(model_name: str, data: c.Tensors) -> float:
    """Forward + backward FLOPs of one training sample, counted on a batch of BATCH."""
    import torch
    from torch.nn import functional as F
    from torch.utils.flop_counter import FlopCounterMode

    model = c.build_model(model_name, data, seed=0)
    model.train()
    xb, yb = data.x_train[:BATCH], data.y_train[:BATCH]
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(xb), yb).backward()
    return counter.get_total_flops() / xb.shape[0]


def gemm(dtype_name: str, repeats: int = 10) -> Callable[[], dict[str, float]]:
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    a = torch.randn(GEMM_N, GEMM_N).to(dtype)
    b = torch.randn(GEMM_N, GEMM_N).to(dtype)

    def run() -> dict[str, float]:
        torch.mm(a, b)  # warm-up (oneDNN picks and caches its kernel)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
        return {"gflops": 2 * GEMM_N ** 3 / best / 1e9}

    return run


def shendu_train(dataset: str, model: str, epochs: int, limit: int | None, fast: bool, seed: int,
                 flops: float) -> Callable[[], dict[str, float]]:
    config = c.shendu_config(dataset, model, {}, epochs=epochs, batch_size=BATCH, lr=0.05, momentum=0.9, seed=seed,
                             precision="auto" if fast else "fp32", channels_last="auto" if fast else "off")

    def run() -> dict[str, float]:
        measured = c.run_shendu_fit(config, limit=limit)
        measured["gflops"] = flops * measured["samples"] / measured["train_s"] / 1e9
        measured["mflop_per_sample"] = flops / 1e6
        return measured

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_common_args(parser, "12,800 MNIST / 1,024 CIFAR images, 2 repeats")
    args = parser.parse_args()
    info = c.start(args)
    repeats = info["repeats"]
    contenders: dict[str, Callable[[], dict[str, float]]] = {"GEMM fp32": gemm("fp32")}
    if info["bf16"]:
        contenders["GEMM bf16"] = gemm("bf16")
    for title, dataset, model, epochs, quick_limit in JOBS:
        limit = quick_limit if args.quick else None
        flops = flops_per_sample(model, c.load_tensors(dataset, limit))
        for fast in (False, True):
            name = f"{title} {'fast' if fast else 'fp32'}"
            contenders[name] = shendu_train(dataset, model, epochs, limit, fast, args.seed, flops)
            shendu_train(dataset, model, 1, 2 * BATCH, fast, args.seed, flops)()  # warm-up, not timed
    results = c.interleaved(contenders, repeats)
    report(results, repeats)
    print(f"\n# load average at the end: {c.load_average()}")


def report(results: dict[str, dict[str, c.Samples]], n: int) -> None:
    peak = {"fp32": results["GEMM fp32"]["gflops"].mean,
            "bf16": results["GEMM bf16"]["gflops"].mean if "GEMM bf16" in results else None}
    rows = []
    for name, m in results.items():
        if name.startswith("GEMM"):
            rows.append([name, "-", "-", "-", m["gflops"].fmt(1), f"{max(m['gflops'].values):.1f}", "100%"])
            continue
        dtype = "bf16" if m["bf16"].mean == 1 else "fp32"
        ref = peak[dtype] or peak["fp32"]
        rows.append([name, c.resolved(m), f"{m['mflop_per_sample'].mean:.2f}",
                     m["train_s"].fmt(2), m["gflops"].fmt(1),
                     f"{max(m['gflops'].values):.1f}", f"{100 * m['gflops'].mean / ref:.1f}% of GEMM {dtype}"])
    c.print_table(f"training GFLOP/s vs GEMM {GEMM_N}×{GEMM_N} (mean ± std, n={n})",
                  ["contender", "resolved", "MFLOP/sample (fwd+bwd)", "train s", "GFLOP/s", "best", "of peak"], rows)


if __name__ == "__main__":
    main()
