"""Early stopping on any tracked metric: accuracy-like names are maximized, everything else minimized."""
from __future__ import annotations

from typing import Any

from shendu.config import EarlyStopConfig
from shendu.errors import BadInputError


class EarlyStopping:
    """`update(epoch, metrics)` returns True when training should stop."""

    def __init__(self, config: EarlyStopConfig) -> None:
        self.config = config
        self.maximize = "accuracy" in config.metric
        self.best: float | None = None
        self.best_epoch = 0
        self.bad_epochs = 0

    def update(self, epoch: int, metrics: dict[str, float]) -> bool:
        if self.config.patience == 0:
            return False
        if self.config.metric not in metrics:
            raise BadInputError(f"train.early_stop.metric is {self.config.metric!r}, but the epoch only tracks "
                                f"{sorted(metrics)}; pick one of those (val_* needs data.val_fraction > 0)")
        value = metrics[self.config.metric]
        delta = self.config.min_delta
        improved = self.best is None or (value > self.best + delta if self.maximize else value < self.best - delta)
        if improved:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.config.patience

    def note(self, epoch: int) -> str:
        patience = self.config.patience
        return (f"early stop after epoch {epoch}: {self.config.metric} did not improve for {patience} "
                f"epoch{'' if patience == 1 else 's'} (best {self.best:.4f} at epoch {self.best_epoch})")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state.get("best", self.best)
        self.best_epoch = state.get("best_epoch", self.best_epoch)
        self.bad_epochs = state.get("bad_epochs", self.bad_epochs)
