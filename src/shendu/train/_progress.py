"""Progress display: a rich bar over one epoch's steps, on stderr so `--json` output stays clean."""
from __future__ import annotations

from typing import Callable

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class EpochBar:
    """`with EpochBar(...) as advance: advance(step, loss)` — refreshes about 50 times per epoch, not every step
    (reading the loss is a device sync on a GPU)."""

    def __init__(self, console: Console, steps: int, label: str, enabled: bool) -> None:
        self.enabled, self.steps, self.label = enabled, steps, label
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=console, transient=True, disable=not enabled)

    def __enter__(self) -> Callable[[int, torch.Tensor], None]:
        self.progress.__enter__()
        self.task = self.progress.add_task(self.label, total=self.steps, loss="…")
        every = max(1, self.steps // 50)

        def advance(step: int, loss: torch.Tensor) -> None:
            if self.enabled and (step % every == 0 or step == self.steps - 1):
                self.progress.update(self.task, completed=step + 1, loss=f"{loss.item():.4f}")

        return advance

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)
