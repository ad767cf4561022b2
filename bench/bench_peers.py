"""Peers: the LeNet-5 / MNIST reference job in shendu, a hand-written loop, PyTorch Lightning and Keras 3 (torch).

Run: `.venv/bin/python bench/bench_peers.py [--quick] [--repeats 3]`
Peers come from the `bench` extra (`pip install -e '.[bench]'`: lightning, keras); a peer that does not import
is skipped with the reason printed.

The job: LeNet-5 (tanh, average pooling, 28×28 padded to 32 in C1), SGD lr 0.05 momentum 0.9, batch 128,
2 epochs over the 60,000 MNIST training images (no validation split), test accuracy on the 10,000 test images.
Every contender gets the same standardized float tensors (shendu's Preprocessing), in memory.
  shendu fit fp32      `Trainer(config).fit()`, training epochs timed inside fit (see bench_overhead.py);
  shendu fit fast      train.precision=auto, channels_last=auto (extra row: shendu's recommended settings);
  hand-written fp32    randperm + index loop (bench/_common.py hand_epoch);
  Lightning fp32       LightningModule around the same torch LeNet-5, Trainer(enable_progress_bar=False,
                       logger=False, enable_checkpointing=False), DataLoader(TensorDataset, shuffle=True);
  Keras fp32           Keras 3, KERAS_BACKEND=torch, a Sequential LeNet-5 (default channels-last layout),
                       SGD(0.05, momentum 0.9), from-logits sparse cross-entropy, metrics=["accuracy"], model.fit.
Measured: seconds of the training epochs (Lightning: on_train_epoch_start→end callbacks; Keras: on_epoch_begin→end)
→ samples/s, the whole fit call's wall seconds, test accuracy. Ratios are per-repeat (paired) throughput ratios.
"""
from __future__ import annotations

import argparse
import logging
import os
import time
import warnings
from typing import Any, Callable

os.environ["KERAS_BACKEND"] = "torch"  # before any keras import: this machine's ~/.keras/keras.json says tensorflow

import _common as c  # noqa: E402

SGD = {"lr": 0.05, "momentum": 0.9}
BATCH, EPOCHS = 128, 2


def shendu_run(seed: int, fast: bool, limit: int | None) -> Callable[[], dict[str, float]]:
    config = c.shendu_config("mnist", "lenet5", {}, epochs=EPOCHS, batch_size=BATCH, seed=seed,
                             precision="auto" if fast else "fp32", channels_last="auto" if fast else "off", **SGD)
    return lambda: c.run_shendu_fit(config, limit=limit)


def hand_run(data: c.Tensors, seed: int) -> Callable[[], dict[str, float]]:
    import torch

    def run() -> dict[str, float]:
        model = c.build_model("lenet5", data, seed)
        optimizer = torch.optim.SGD(model.parameters(), **SGD)
        start = time.perf_counter()
        for epoch in range(1, EPOCHS + 1):
            c.hand_epoch(model, optimizer, data.x_train, data.y_train, BATCH, seed, epoch)
        seconds = time.perf_counter() - start
        return {"train_s": seconds, "fit_s": seconds, "acc": c.accuracy(model, data.x_test, data.y_test)}

    return run


def lightning_run(data: c.Tensors, seed: int) -> Callable[[], dict[str, float]]:
    import lightning as L
    import torch
    from torch.nn import functional as F
    from torch.utils.data import DataLoader, TensorDataset

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)  # "GPU available: False, …" banners

    class LitLeNet(L.LightningModule):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def training_step(self, batch, batch_idx):
            xb, yb = batch
            return F.cross_entropy(self.net(xb), yb)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), **SGD)

    class EpochTimer(L.Callback):
        def __init__(self) -> None:
            self.seconds = 0.0

        def on_train_epoch_start(self, trainer, module) -> None:
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module) -> None:
            self.seconds += time.perf_counter() - self.start

    def run() -> dict[str, float]:
        module = LitLeNet(c.build_model("lenet5", data, seed))
        loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=BATCH, shuffle=True,
                            generator=torch.Generator().manual_seed(seed))
        timer = EpochTimer()
        start = time.perf_counter()
        trainer = L.Trainer(max_epochs=EPOCHS, accelerator="cpu", devices=1, enable_progress_bar=False, logger=False,
                            enable_checkpointing=False, enable_model_summary=False, callbacks=[timer])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "does not have many workers" — in-memory tensors need none
            trainer.fit(module, loader)
        wall = time.perf_counter() - start
        return {"train_s": timer.seconds, "fit_s": wall, "acc": c.accuracy(module.net, data.x_test, data.y_test)}

    return run


def keras_run(data: c.Tensors, seed: int) -> Callable[[], dict[str, float]]:
    import keras

    x_train = data.x_train.permute(0, 2, 3, 1).numpy()  # (N, H, W, C): Keras' default layout
    y_train = data.y_train.numpy()
    x_test, y_test = data.x_test.permute(0, 2, 3, 1).numpy(), data.y_test.numpy()

    class EpochTimer(keras.callbacks.Callback):
        seconds = 0.0

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.seconds += time.perf_counter() - self.start

    def run() -> dict[str, float]:
        keras.utils.set_random_seed(seed)
        model = keras_lenet(keras, x_train.shape[1:], data.num_classes)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=SGD["lr"], momentum=SGD["momentum"]),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        timer = EpochTimer()
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=BATCH, epochs=EPOCHS, shuffle=True, verbose=0, callbacks=[timer])
        wall = time.perf_counter() - start
        _, acc = model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
        return {"train_s": timer.seconds, "fit_s": wall, "acc": float(acc)}

    return run


def keras_lenet(keras: Any, input_shape: tuple[int, ...], num_classes: int) -> Any:
    """LeNet-5 as the torch model: pad 28→32, conv5-tanh-avgpool ×2, 120-84-classes (61,706 parameters)."""
    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.ZeroPadding2D(2),
        layers.Conv2D(6, 5, activation="tanh"), layers.AveragePooling2D(2),
        layers.Conv2D(16, 5, activation="tanh"), layers.AveragePooling2D(2),
        layers.Flatten(),
        layers.Dense(120, activation="tanh"), layers.Dense(84, activation="tanh"), layers.Dense(num_classes),
    ])


def peers(data: c.Tensors, seed: int) -> dict[str, Callable[[], dict[str, float]]]:
    """The peer contenders that import here; the others are reported and skipped."""
    found = {}
    for name, build in (("Lightning fp32", lightning_run), ("Keras 3 (torch) fp32", keras_run)):
        try:
            found[name] = build(data, seed)
        except ImportError as exc:
            print(f"  skipped {name}: {exc} (install the bench extra: pip install -e '.[bench]')")
    return found


def warm_up(contenders: dict[str, Callable[[], dict[str, float]]], seed: int) -> None:
    """One short run of each library (first-call costs: oneDNN kernels, imports, the run database)."""
    small = c.load_tensors("mnist", limit=4 * BATCH)
    shendu_run(seed, False, 4 * BATCH)()
    shendu_run(seed, True, 4 * BATCH)()
    hand_run(small, seed)()
    for name, build in (("Lightning fp32", lightning_run), ("Keras 3 (torch) fp32", keras_run)):
        if name in contenders:
            build(small, seed)()


def report(results: dict[str, dict[str, c.Samples]], n: int) -> None:
    hand = results["hand-written fp32"]
    rows = [[name, m["train_s"].fmt(2), f"{min(m['train_s'].values):.2f}", m["samples_s"].fmt(0),
             m["fit_s"].fmt(2), m["acc"].fmt(2, 100), f"{100 * (m['acc'].mean - hand['acc'].mean):+.2f}"]
            for name, m in results.items()]
    c.print_table(f"LeNet-5 / MNIST, SGD, batch {BATCH}, {EPOCHS} epochs (mean ± std, n={n})",
                  ["contender", "train s", "best s", "samples/s", "fit wall s", "test acc %", "Δacc pt"], rows)
    rows = []
    for other in results:
        if other != "shendu fit fp32":
            r = c.paired_ratio(results["shendu fit fp32"]["samples_s"], results[other]["samples_s"])
            rows.append([f"shendu fp32 / {other}", r.fmt(2) + "×"])
    for peer in results:
        if peer not in ("shendu fit fp32", "hand-written fp32", "shendu fit fast (auto/auto)"):
            r = c.paired_ratio(results[peer]["samples_s"], hand["samples_s"])
            rows.append([f"{peer} / hand-written fp32", r.fmt(2) + "×"])
    c.print_table("throughput ratios (paired per repeat; > 1 = the first is faster)", ["ratio", "measured"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_common_args(parser, "12,800 training images, 2 repeats")
    args = parser.parse_args()
    repeats = c.start(args)["repeats"]
    limit = 12_800 if args.quick else None
    data = c.load_tensors("mnist", limit)
    contenders = {"shendu fit fp32": shendu_run(args.seed, False, limit),
                  "hand-written fp32": hand_run(data, args.seed)}
    contenders.update(peers(data, args.seed))
    contenders["shendu fit fast (auto/auto)"] = shendu_run(args.seed, True, limit)
    warm_up(contenders, args.seed)
    results = c.interleaved(contenders, repeats)
    c.add_throughput(results, data.x_train.shape[0] * EPOCHS)
    report(results, repeats)
    print(f"\n# load average at the end: {c.load_average()}")


if __name__ == "__main__":
    main()
