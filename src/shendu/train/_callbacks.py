"""Trainer callbacks: the extension point built-in features (TensorBoard files, sweep pruning) use the
same way a user's plugin would.

    class PrintBest(Callback):
        def on_epoch_end(self, trainer, run_id, epoch, metrics, loop):
            print(epoch, metrics["val_accuracy"])

    shendu.Trainer(config, callbacks=[PrintBest()]).fit()

Callbacks run on rank 0 only (metrics are already reduced over DDP ranks). A callback registered in
`CALLBACKS` can be switched on by name from a config: `track.callbacks: [name, …]`.
"""
from __future__ import annotations

from typing import Any

from shendu._registry import Registry


class Callback:
    """Override what you need; every hook is optional."""

    def on_run_start(self, trainer: Any, run_id: str, data: Any) -> None:
        """After the run record exists and the data is loaded."""

    def on_epoch_end(self, trainer: Any, run_id: str, epoch: int, metrics: dict[str, float], loop: Any) -> None:
        """After an epoch's metrics are logged and its checkpoint is written."""

    def on_run_end(self, trainer: Any, run_id: str, metrics: dict[str, float], error: BaseException | None) -> None:
        """At the end of the run: final metrics on success, or the exception that stopped it."""


CALLBACKS: Registry[type[Callback]] = Registry("callback")
