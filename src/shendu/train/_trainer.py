"""The Trainer: minibatch SGD/Adam over in-memory tensors, per-epoch validation and checkpoints,
resume after a crash, a clear stop on NaN/Inf loss, and a model package at the end.

Batches are gathered by indexing the preprocessed tensors with a shuffled index (no per-sample
Python, no DataLoader workers): for datasets that fit in memory this is the fastest path on CPU.
"""
from __future__ import annotations

import math
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch.nn import functional as F

from shendu import _settings
from shendu.config import ExperimentConfig
from shendu.data import ArrayDataset, load_dataset
from shendu.errors import BadInputError, TrainingDivergedError
from shendu.i18n import t
from shendu.models import create_model
from shendu.track import RunStore, open_store
from shendu.train._checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from shendu.train._metrics import MetricSums, evaluate
from shendu.train._preprocess import Preprocessing


@dataclass
class TrainResult:
    """What `train()` returns; `to_json()` is the CLI's `--json` line."""

    run_id: str
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    package: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status, "metrics": self.metrics, "package": self.package}


@dataclass
class _Data:
    train: ArrayDataset
    val: ArrayDataset | None
    test: ArrayDataset


def resolve_device(name: str) -> torch.device:
    """"auto" → the first CUDA device when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BadInputError(f"train.device is {name!r} but no CUDA device is visible; use train.device=auto or cpu")
    return torch.device(name)


class Trainer:
    """Train one experiment config, recording everything in the run store.

    Args:
        config: the validated experiment config (or a dict / YAML path, validated here).
        store: the run database (default: `SHENDU_DB` or the SQLite file under `SHENDU_HOME`).
        progress: show a rich progress bar (on stderr, so `--json` output stays clean).
    """

    def __init__(self, config: ExperimentConfig | dict | str | Path, store: RunStore | None = None,
                 progress: bool = True) -> None:
        if isinstance(config, (str, Path)):
            config = ExperimentConfig.load(config)
        elif isinstance(config, dict):
            config = ExperimentConfig.from_dict(config)
        self.config = config
        self.store = store or open_store(config.track.db)
        self.progress = progress
        self.console = Console(stderr=True)
        self.device = resolve_device(config.train.device)

    @classmethod
    def resume(cls, run_id: str, store: RunStore | None = None, progress: bool = True) -> "Trainer":
        """A trainer that continues `run_id` from its last checkpoint, with the run's stored config."""
        store = store or open_store()
        record = store.get_run(run_id)
        if record.status == "completed":
            raise BadInputError(f"run {record.id} is already completed; nothing to resume "
                                f"(see: shendu runs show {record.id})")
        trainer = cls(ExperimentConfig.from_dict(record.config), store=store, progress=progress)
        trainer._resume_id = record.id
        return trainer

    _resume_id: str | None = None

    # -- the run ---------------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Train, evaluate on the test split, save the package. Raises on failure after recording it."""
        data = self._load_data()
        run_id = self._start_run(data)
        try:
            with _terminate_as_interrupt():
                return self._fit(run_id, data)
        except BaseException as exc:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            self.store.finish(run_id, "failed", error=reason)
            self.last_run_id = run_id
            raise

    def _fit(self, run_id: str, data: _Data) -> TrainResult:
        cfg = self.config
        self.last_run_id = run_id
        prep = Preprocessing.fit(data.train.x)
        x_train, y_train = prep(data.train.x, self.device), data.train.y.to(self.device)
        x_val = prep(data.val.x, self.device) if data.val is not None else None
        y_val = data.val.y.to(self.device) if data.val is not None else None
        num_classes = data.train.info.num_classes
        torch.manual_seed(cfg.train.seed)  # model initialization is part of the seeded result
        model = self._build_model(data.train).to(self.device)
        optimizer = self._build_optimizer(model)
        scheduler = self._build_scheduler(optimizer, math.ceil(x_train.shape[0] / cfg.train.batch_size))
        start_epoch, checkpoint = self._restore(run_id, model, optimizer, scheduler)
        for epoch in range(start_epoch, cfg.train.epochs + 1):
            metrics = self._train_epoch(model, optimizer, scheduler, x_train, y_train, num_classes, epoch, run_id)
            if x_val is not None and len(x_val):
                metrics.update(evaluate(model, x_val, y_val, num_classes, "val", cfg.train.eval_batch_size))
            metrics["lr"] = optimizer.param_groups[0]["lr"]
            self.store.log_metrics(run_id, metrics, epoch=epoch)
            self._report(epoch, metrics)
            if cfg.train.checkpoint:
                save_checkpoint(checkpoint, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                             "scheduler": scheduler.state_dict() if scheduler else None,
                                             "epoch": epoch, "rng": rng_state(), "run_id": run_id})
            self.store.heartbeat(run_id)
        x_test = prep(data.test.x, self.device)
        test = evaluate(model, x_test, data.test.y.to(self.device), num_classes, "test", cfg.train.eval_batch_size)
        self.store.log_metrics(run_id, test, epoch=cfg.train.epochs)
        package = self._save_package(run_id, model, prep, data, test)
        self.store.finish(run_id, "completed")
        summary = self.store.get_run(run_id).summary
        final = {name: values["final"] for name, values in summary.items()}
        return TrainResult(run_id, "completed", final, str(package))

    def _train_epoch(self, model, optimizer, scheduler, x, y, num_classes: int, epoch: int,
                     run_id: str) -> dict[str, float]:
        cfg = self.config.train
        model.train()
        # The shuffle depends only on (seed, epoch): a resumed run sees exactly the same batches.
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        order = torch.randperm(x.shape[0], generator=generator).to(x.device)
        sums = MetricSums(num_classes, x.device)
        steps = math.ceil(x.shape[0] / cfg.batch_size)
        check_every = 1 if x.device.type == "cpu" else cfg.log_every  # a GPU sync per step costs speed
        with self._progress_bar(steps, epoch) as advance:
            for step in range(steps):
                index = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
                xb, yb = x[index], y[index]
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                if step % check_every == 0 or step == steps - 1:
                    self._check_finite(loss, epoch, step, optimizer, run_id)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                sums.update(logits.detach(), yb, loss.detach() * yb.numel())
                advance(step, loss)
        metrics = sums.result("train")
        if not math.isfinite(metrics["train_loss"]):
            self._check_finite(torch.tensor(metrics["train_loss"]), epoch, steps - 1, optimizer, run_id)
        return metrics

    def _check_finite(self, loss: torch.Tensor, epoch: int, step: int, optimizer, run_id: str) -> None:
        value = loss.item()
        if math.isfinite(value):
            return
        checkpoint = self._checkpoint_path(run_id)
        kept = (f"the last good checkpoint (epoch {epoch - 1}) is kept at {checkpoint}"
                if checkpoint.exists() else "no checkpoint was written before this epoch")
        raise TrainingDivergedError(
            f"loss became {value} at epoch {epoch}, step {step + 1} (optim.lr={optimizer.param_groups[0]['lr']:g}); "
            f"training stopped and {kept}. Try a smaller optim.lr, gradient clipping, or check the inputs for NaN."
        )

    # -- pieces ------------------------------------------------------------------------------------
    def _load_data(self) -> _Data:
        d = self.config.data
        kwargs = dict(val_fraction=d.val_fraction, seed=d.split_seed, mirror=d.mirror, download=d.download,
                      progress=self.progress)
        train = load_dataset(d.name, "train", **kwargs)
        val = load_dataset(d.name, "val", **kwargs) if d.val_fraction > 0 else None
        test = load_dataset(d.name, "test", **kwargs)
        return _Data(train, val, test)

    def _start_run(self, data: _Data) -> str:
        cfg = self.config
        notes = list(dict.fromkeys(data.train.notes + data.test.notes))
        if self._resume_id:
            self.store.claim(self._resume_id)
            return self._resume_id
        run_id = self.store.create_run(config=cfg.to_dict(), seed=cfg.train.seed, model=cfg.model.name,
                                       dataset=cfg.data.name, name=cfg.track.name, notes=notes)
        self.store.add_notes(run_id, [_split_note(data.train.split_record)])
        return run_id

    def _build_model(self, train: ArrayDataset) -> torch.nn.Module:
        channels, height, _ = train.info.input_shape
        return create_model(self.config.model.name, num_classes=train.info.num_classes, in_channels=channels,
                            input_size=height, **self.config.model.args)

    def _build_optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        o = self.config.optim
        if o.name == "sgd":
            return torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum, nesterov=o.nesterov,
                                   weight_decay=o.weight_decay)
        return torch.optim.Adam(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)

    def _build_scheduler(self, optimizer, steps_per_epoch: int):
        """Per-step learning-rate schedule (None for a constant rate)."""
        o, total = self.config.optim, self.config.train.epochs * steps_per_epoch
        if o.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
        if o.schedule == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=o.step_epochs * steps_per_epoch, gamma=o.gamma)
        return None

    def _checkpoint_path(self, run_id: str) -> Path:
        return _settings.subdir("runs") / run_id / "checkpoint.pt"

    def _restore(self, run_id: str, model, optimizer, scheduler) -> tuple[int, Path]:
        """Load the run's checkpoint when resuming; returns the first epoch to train and the checkpoint path."""
        path = self._checkpoint_path(run_id)
        if not (self._resume_id and path.exists()):
            if self._resume_id:
                self.store.rewind(run_id, after_epoch=0)  # killed before its first checkpoint: start over
            elif self.config.train.checkpoint:
                self.store.add_artifact(run_id, "checkpoint", str(path))
            return 1, path
        state = load_checkpoint(path)
        self.store.rewind(run_id, after_epoch=int(state["epoch"]))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler"):
            scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        self.console.print(f"resuming {run_id} after epoch {state['epoch']} / 从第 {state['epoch']} 轮之后继续")
        return int(state["epoch"]) + 1, path

    def _save_package(self, run_id: str, model, prep: Preprocessing, data: _Data, test: dict[str, float]) -> Path:
        from shendu.hub import save_package

        cfg = self.config
        channels, height, _ = data.train.info.input_shape
        path = _settings.subdir("packages") / run_id
        save_package(path, model, model_name=cfg.model.name, model_args=cfg.model.args,
                     num_classes=data.train.info.num_classes, in_channels=channels, input_size=height,
                     preprocessing=prep, classes=list(data.train.info.classes),
                     metrics=self.store.get_run(run_id).summary, config=cfg.to_dict(), run_id=run_id,
                     dataset={"name": cfg.data.name, "split": data.train.split_record, "notes": data.train.notes})
        self.store.set_package(run_id, str(path))
        self.store.add_artifact(run_id, "package", str(path))
        return path

    def _report(self, epoch: int, metrics: dict[str, float]) -> None:
        if not self.progress:
            return
        keys = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
        shown = "  ".join(f"{k} {metrics[k]:.4f}" for k in keys if k in metrics)
        self.console.print(f"[bold]{t('train.epoch', epoch=epoch, epochs=self.config.train.epochs)}[/]  {shown}",
                           soft_wrap=True)

    def _progress_bar(self, steps: int, epoch: int):
        return _EpochBar(self.console, steps, t("train.epoch", epoch=epoch, epochs=self.config.train.epochs),
                         enabled=self.progress)


def _split_note(record: dict[str, Any]) -> str:
    """"split: official, val 10% seed 0 — 54,000 / 6,000 / 10,000" (the full record goes into the package)."""
    counts = record.get("counts", {})
    shown = " / ".join(f"{counts[k]:,}" for k in ("train", "val", "test") if k in counts)
    return (f"split: {record.get('scheme', '?')}, val {record.get('val_fraction', 0):.0%} seed {record.get('seed')}"
            f" — train / val / test = {shown}")


class _EpochBar:
    """A rich progress bar over one epoch's steps; refreshes the loss every few steps, not every step."""

    def __init__(self, console: Console, steps: int, label: str, enabled: bool) -> None:
        self.enabled, self.steps, self.label = enabled, steps, label
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=console, transient=True, disable=not enabled)

    def __enter__(self):
        self.progress.__enter__()
        self.task = self.progress.add_task(self.label, total=self.steps, loss="…")
        every = max(1, self.steps // 50)

        def advance(step: int, loss: torch.Tensor) -> None:
            if self.enabled and (step % every == 0 or step == self.steps - 1):
                self.progress.update(self.task, completed=step + 1, loss=f"{loss.item():.4f}")

        return advance

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)


class _terminate_as_interrupt:
    """SIGTERM (a job scheduler stopping us) is handled like Ctrl-C: the run is marked failed, checkpoint kept."""

    def __enter__(self) -> None:
        try:
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        except ValueError:  # not the main thread: leave signals alone
            self.previous = None

    @staticmethod
    def _raise(signum, frame) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def train(config: ExperimentConfig | dict | str | Path, *, progress: bool = True, **overrides: Any) -> TrainResult:
    """Train from a config (object, dict or YAML path). Keyword overrides use dotted keys with "__":
    `shendu.train("examples/digits-lenet.yaml", optim__lr=0.01)`."""
    if overrides:
        items = [f"{k.replace('__', '.')}={v}" for k, v in overrides.items()]
        if isinstance(config, ExperimentConfig):
            config = config.to_dict()
        if isinstance(config, dict):
            from shendu.config import apply_override

            for item in items:
                apply_override(config, item)
            config = ExperimentConfig.from_dict(config)
        else:
            config = ExperimentConfig.load(config, items)
    return Trainer(config, progress=progress).fit()
