"""Shared helpers for the training benchmarks: environment, machine record, timing statistics, tables,
the shared MNIST / CIFAR tensors, a hand-written reference loop and the shendu contenders.

Every benchmark runs all of its contenders in ONE process, interleaved across repeats (run 1: A B C,
run 2: B C A, …), so slow drift of the machine's load spreads over all of them instead of hitting one.
Claims are `mean ± std (n=…)` with the machine line printed above the table (STYLE.md item 11).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = REPO.parent / "shared" / "data"


def setup_env(home: str | None = None) -> Path:
    """Point shendu at the offline data mirror and a throw-away SHENDU_HOME (runs, packages, database).

    Call before importing shendu. Returns the SHENDU_HOME used; it is left for inspection.
    """
    if "SHENDU_DATA_MIRROR" not in os.environ and DEFAULT_MIRROR.is_dir():
        os.environ["SHENDU_DATA_MIRROR"] = str(DEFAULT_MIRROR)
    path = Path(home) if home else Path(tempfile.mkdtemp(prefix="shendu-bench-"))
    os.environ["SHENDU_HOME"] = str(path)
    os.environ.pop("SHENDU_DB", None)  # the bench database lives in its own SHENDU_HOME
    sys.path.insert(0, str(REPO / "src"))  # run from a checkout even without `pip install -e .`
    return path


def add_common_args(parser: argparse.ArgumentParser, quick_help: str, quick_repeats: int = 2) -> None:
    """--quick, --repeats, --seed and --threads, the same in every benchmark."""
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"timed repeats per contender (default 3, quick {quick_repeats})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: torch's choice, one per core); 1 is far steadier "
                             "on a machine shared with other jobs, but it is not the 2-core number")
    parser.set_defaults(quick_repeats=quick_repeats)


def start(args: argparse.Namespace) -> dict[str, Any]:
    """Environment, thread count and the machine line; returns machine_info() plus repeats and home."""
    home = setup_env()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # for child processes (time-to-accuracy)
        import torch

        torch.set_num_threads(args.threads)
    info = print_machine()
    info["repeats"] = args.repeats or (args.quick_repeats if args.quick else 3)
    info["home"] = home
    print(f"# SHENDU_HOME={home} (throw-away) · repeats {info['repeats']}, interleaved"
          f"{' · QUICK' if args.quick else ''}")
    return info


# -- machine -----------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The vector/matrix units that decide fp32 vs bf16 speed (AVX-512, AVX512-BF16, AMX)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
                have = set(line.split(":", 1)[1].split())
                return [f for f in wanted if f in have]
    except OSError:
        pass
    return []


def machine_info() -> dict[str, Any]:
    """What a benchmark number depends on; printed above every table and copied into bench/README.md."""
    import torch

    try:  # native bf16 units (AVX512-BF16 or AMX); plain AVX-512 only emulates bf16, slower than fp32
        bf16 = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        bf16 = False
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(), "flags": " ".join(cpu_flags()) or "-",
        "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "python": platform.python_version(), "bf16": bf16,
        "loadavg": load_average(),
    }


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def print_machine(info: dict[str, Any] | None = None) -> dict[str, Any]:
    info = info or machine_info()
    print(f"# {info['date']} · {info['cpu']} ({info['flags']}) · {info['cores']} cores, "
          f"{info['torch_threads']} torch threads · torch {info['torch']} · Python {info['python']} · "
          f"bf16 units: {'yes' if info['bf16'] else 'no'} · load average {info['loadavg']} (1/5/15 min)")
    return info


# -- statistics ----------------------------------------------------------------------------------------
@dataclass
class Samples:
    """Repeated measurements of one quantity."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(float(value))

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    def fmt(self, digits: int = 1, scale: float = 1.0) -> str:
        if not self.values:
            return "-"
        return f"{self.mean * scale:,.{digits}f} ± {self.std * scale:,.{digits}f}"


def paired_ratio(a: Samples, b: Samples) -> Samples:
    """a[i]/b[i] per repeat: both were measured back to back in repeat i, so slow load drift cancels."""
    return Samples([x / y for x, y in zip(a.values, b.values) if y])


def add_throughput(results: dict[str, dict[str, Samples]], samples: int) -> None:
    """samples/s from each run's training seconds; shendu's own sample count must agree (same job)."""
    for name, measured in results.items():
        counted = measured.pop("samples", None)
        if counted is not None and any(v != samples for v in counted.values):
            raise RuntimeError(f"{name} trained {counted.values} samples, expected {samples}: the jobs differ")
        measured["samples_s"] = Samples([samples / s for s in measured["train_s"].values])


def interleaved(contenders: dict[str, Callable[[], dict[str, float]]], repeats: int,
                log: Callable[[str], None] = print) -> dict[str, dict[str, Samples]]:
    """Run each contender `repeats` times, rotating the order every repeat; each call returns measurements.

    Returns {contender: {measurement: Samples}}.
    """
    names = list(contenders)
    results: dict[str, dict[str, Samples]] = {name: {} for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            measured = contenders[name]()
            for key, value in measured.items():
                results[name].setdefault(key, Samples()).add(value)
            shown = ", ".join(f"{k}={v:.4g}" for k, v in measured.items())
            log(f"  repeat {r + 1}/{repeats} {name:<28s} {shown}   (load {load_average()})")
    return results


# -- tables ----------------------------------------------------------------------------------------------
def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A rich table when rich is importable (it is a shendu dependency), else plain aligned text."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
        print(f"\n{title}")
        for row in (header, *rows):
            print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))
        return
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*[str(x) for x in row])
    Console(width=160).print(table)


# -- data -------------------------------------------------------------------------------------------------
@dataclass
class Tensors:
    """Preprocessed, in-memory float tensors (shendu's own Preprocessing), shared by every contender."""

    name: str
    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])


def load_tensors(name: str, limit: int | None = None) -> Tensors:
    """Train (val_fraction 0: every training image) and test splits, standardized as shendu does."""
    from shendu.data import PartialDatasetWarning, load_dataset
    from shendu.train import Preprocessing

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PartialDatasetWarning)  # the CIFAR-10 mirror is partial (4,000 / 1,000)
        train = load_dataset(name, "train", val_fraction=0.0, progress=False)
        test = load_dataset(name, "test", val_fraction=0.0, progress=False)
    x, y = (train.x[:limit], train.y[:limit]) if limit else (train.x, train.y)
    prep = Preprocessing.fit(x)  # fitted on the images trained on, as Trainer does
    return Tensors(name, prep(x), y, prep(test.x), test.y, train.info.num_classes)


# -- the hand-written reference loop -------------------------------------------------------------------
def build_model(name: str, data: Tensors, seed: int, args: dict[str, Any] | None = None):
    """The model every contender trains: shendu's registered builder, seeded exactly like Trainer._build_loop."""
    import torch

    from shendu.models import create_model

    torch.manual_seed(seed)
    channels, side, _ = data.input_shape
    return create_model(name, num_classes=data.num_classes, in_channels=channels, input_size=side, **(args or {}))


def epoch_order(n: int, seed: int, epoch: int):
    """The same shuffle shendu's Loop.epoch uses, so fp32 hand-written and shendu runs see identical batches."""
    import torch

    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def hand_epoch(model, optimizer, x, y, batch_size: int, seed: int, epoch: int, bf16: bool = False) -> None:
    """What a user writes by hand: shuffle by randperm, index the tensors, forward, backward, step."""
    import torch
    from torch.nn import functional as F

    model.train()
    order = epoch_order(x.shape[0], seed, epoch)
    for start in range(0, x.shape[0], batch_size):
        index = order[start:start + batch_size]
        xb, yb = x[index], y[index]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(xb).float(), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def dataloader_epoch(model, optimizer, loader) -> None:
    """The same step fed by torch.utils.data.DataLoader(TensorDataset(x, y), shuffle=True)."""
    from torch.nn import functional as F

    model.train()
    for xb, yb in loader:
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def accuracy(model, x, y, batch_size: int = 1024, bf16: bool = False) -> float:
    """Top-1 accuracy in eval mode, batched (an independent check of shendu's `evaluate`)."""
    import torch

    model.eval()
    correct = 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, x.shape[0], batch_size):
            correct += int((model(x[start:start + batch_size]).argmax(1) == y[start:start + batch_size]).sum())
    return correct / x.shape[0]


# -- shendu ------------------------------------------------------------------------------------------------
class EpochTimes(list):
    """Seconds per `Loop.epoch` call, samples trained, and the last Loop seen (resolved precision, memory format)."""

    loop: Any = None
    samples: int = 0


@contextlib.contextmanager
def timed_epochs() -> Iterator["EpochTimes"]:
    """Record the wall time of every `Loop.epoch` call made inside the block (e.g. by `Trainer.fit()`).

    The training epochs alone — no data loading, validation, test evaluation, checkpoints or store writes —
    timed on the unmodified fit path; the patch is on the class and is removed on exit.
    """
    from shendu.train._loop import Loop

    original = Loop.epoch
    durations = EpochTimes()

    def epoch(self, x, *args, **kwargs):
        durations.loop = self
        durations.samples += x.shape[0]
        start = time.perf_counter()
        try:
            return original(self, x, *args, **kwargs)
        finally:
            durations.append(time.perf_counter() - start)

    Loop.epoch = epoch
    try:
        yield durations
    finally:
        Loop.epoch = original


def shendu_config(dataset: str, model: str, model_args: dict[str, Any], *, epochs: int, batch_size: int,
                  lr: float, momentum: float, seed: int, precision: str = "fp32", channels_last: str = "off",
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The experiment dict for one benchmark job (all training images, no validation split)."""
    config = {
        "data": {"name": dataset, "val_fraction": 0.0},
        "model": {"name": model, "args": dict(model_args)},
        "optim": {"name": "sgd", "lr": lr, "momentum": momentum},
        "train": {"epochs": epochs, "batch_size": batch_size, "seed": seed, "device": "cpu",
                  "precision": precision, "channels_last": channels_last},
    }
    for section, values in (extra or {}).items():
        config.setdefault(section, {}).update(values)
    return config


def run_shendu_fit(config: dict[str, Any], limit: int | None = None) -> dict[str, float]:
    """`Trainer(config).fit()`: the epochs' training seconds, the whole fit() wall seconds, test accuracy.

    `limit` trains on the first `limit` images only (--quick), by trimming the loaded split.
    """
    from shendu.data import PartialDatasetWarning
    from shendu.train import Trainer

    trainer = Trainer(config, progress=False)
    if limit:
        trainer._load_data = _limited(trainer._load_data, limit)  # type: ignore[method-assign]
    with warnings.catch_warnings(), timed_epochs() as epochs:
        warnings.simplefilter("ignore", PartialDatasetWarning)
        start = time.perf_counter()
        result = trainer.fit()
        wall = time.perf_counter() - start
    loop = epochs.loop
    return {"train_s": sum(epochs), "fit_s": wall, "acc": result.metrics.get("test_accuracy", math.nan),
            "samples": epochs.samples,
            "bf16": float(loop.precision.name == "bf16"), "channels_last": float(loop.channels_last)}


def resolved(measured: dict[str, Samples]) -> str:
    """What shendu's fast settings resolved to over the repeats: "bf16, NHWC" ("mixed" when runs disagreed)."""
    if "bf16" not in measured:
        return "-"

    def pick(key: str, yes: str, no: str) -> str:
        values = set(measured[key].values)
        return "mixed" if len(values) > 1 else (yes if values == {1.0} else no)

    return f"{pick('bf16', 'bf16', 'fp32')}, {pick('channels_last', 'NHWC', 'NCHW')}"


def _limited(load: Callable[[], Any], limit: int) -> Callable[[], Any]:
    def load_limited():
        data = load()
        t = data.train
        data.train = dataclasses.replace(t, x=t.x[:limit], y=t.y[:limit],
                                         index=t.index[:limit] if t.index is not None else None)
        return data

    return load_limited
