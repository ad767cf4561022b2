"""The Trainer with the three hooks a sweep and a cross-validation need, added by subclassing so the
Trainer itself stays as it is:

- `on_epoch(epoch, metrics)` after each epoch is logged; a truthy return stops the run (pruning);
- `link`: the sweep (Optuna study, trial) and k-fold group (parent run, fold) the run belongs to;
- `fold`: a fold's own train / val data in place of the configured split (the test split is kept).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from shendu.config import ExperimentConfig
from shendu.data import ArrayDataset
from shendu.errors import ShenduError
from shendu.track import RunStore
from shendu.train import Trainer
from shendu.train._trainer import _Data

# Returns False/None to go on, True or a reason (str) to stop the run.
EpochHook = Callable[[int, dict[str, float]], "bool | str | None"]


class RunStopped(ShenduError):
    """A hook asked to stop the run (a sweep's pruner); the run is recorded failed with this reason."""


@dataclass(frozen=True)
class RunLink:
    """Where a run belongs: sweep = Optuna study name, trial = its number; parent = k-fold group run, fold 1..K."""

    sweep: str | None = None
    trial: int | None = None
    parent: str | None = None
    fold: int | None = None


@dataclass(frozen=True)
class FoldData:
    """One fold of a cross-validation: the samples to train on and the held-out ones to validate on."""

    train: ArrayDataset
    val: ArrayDataset


class HookedTrainer(Trainer):
    """A `Trainer` with an epoch hook, run links and fold data (see the module docstring).

    Args:
        config: the experiment config.
        store: the run database (default: the config's).
        progress: show progress.
        on_epoch: called with (epoch, metrics) after each epoch is logged and checkpointed.
        link: recorded on the run right after it is created.
        fold: train / val data replacing the configured split.
    """

    def __init__(self, config: ExperimentConfig | dict | str | Path, store: RunStore | None = None,
                 progress: bool = True, *, on_epoch: EpochHook | None = None, link: RunLink | None = None,
                 fold: FoldData | None = None) -> None:
        super().__init__(config, store=store, progress=progress)
        self.on_epoch, self.link, self.fold = on_epoch, link, fold

    def _load_data(self) -> _Data:
        data = super()._load_data()  # keeps the model / modality checks and the untouched test split
        if self.fold is None:
            return data
        return _Data(self.fold.train, self.fold.val, data.test)

    def _start_run(self, data: _Data) -> str:
        run_id = super()._start_run(data)
        if self.store is not None and self.link is not None:
            self.store.link(run_id, **asdict(self.link))
        return run_id

    def _end_epoch(self, run_id: str, epoch: int, metrics: dict[str, float], *args: Any, **kwargs: Any) -> None:
        super()._end_epoch(run_id, epoch, metrics, *args, **kwargs)
        if self.on_epoch is None:
            return
        verdict = self.on_epoch(epoch, dict(metrics))
        if verdict:
            raise RunStopped(verdict if isinstance(verdict, str) else f"stopped by on_epoch after epoch {epoch}")
