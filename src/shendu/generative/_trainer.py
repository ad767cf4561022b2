"""The unsupervised trainer: `shendu train CONFIG` with a `generative:` section lands here.

Same run store, checkpoints, progress bar, optimizer and schedule builders as the supervised trainer;
the objective comes from the task of `generative.kind` (`_tasks.py`). Images are scaled to [0, 1] (no
standardization: the reconstruction likelihood is Bernoulli per pixel). A char-RNN reads
`generative.text_file` and holds out its last 10% (5% val, 5% test).

Metrics: `train_*` (means over the epoch's steps), `val_*` each epoch, `test_*` at the end — e.g.
`test_recon_sq_error` (Hinton & Salakhutdinov 2006, Fig. 2), `test_elbo` (VAE), `test_bits_per_char`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from shendu import _settings
from shendu.config import ExperimentConfig
from shendu.errors import BadInputError, TrainingDivergedError
from shendu.generative._tasks import Task, create_task
from shendu.track import RunStore, open_store
from shendu.train._checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from shendu.train._progress import EpochBar
from shendu.train._speed import resolve_precision
from shendu.train._trainer import TrainResult, resolve_device, resumed


@dataclass
class _Data:
    train: torch.Tensor
    val: torch.Tensor | None
    test: torch.Tensor
    labels: dict[str, torch.Tensor | None]  # train / val / test labels (None for text)
    shape: tuple[Any, ...]
    name: str
    extra: dict[str, Any]


class GenerativeTrainer:
    """Train one experiment config that has a `generative` section, recording it in the run store.

    Args:
        config: the validated experiment config (or a dict / YAML path).
        store: the run database (default: `SHENDU_DB` or the SQLite file under `SHENDU_HOME`).
        progress: show progress on stderr.
    """

    last_run_id: str | None = None
    _resume_id: str | None = None

    def __init__(self, config: ExperimentConfig | dict | str | Path, store: RunStore | None = None,
                 progress: bool = True) -> None:
        if isinstance(config, (str, Path)):
            config = ExperimentConfig.load(config)
        elif isinstance(config, dict):
            config = ExperimentConfig.from_dict(config)
        if config.generative is None:
            raise BadInputError("this config has no 'generative' section; add one (e.g. generative: {kind: vae}) "
                                "or train it with shendu.train.Trainer")
        self.config, self.store, self.progress = config, store or open_store(config.track.db), progress
        self.console = Console(stderr=True)
        self.device = resolve_device(config.train.device)

    @classmethod
    def resume(cls, run_id: str, store: RunStore | None = None, progress: bool = True) -> "GenerativeTrainer":
        """A trainer that continues `run_id` from its last checkpoint, with the run's stored config."""
        return resumed(cls, run_id, store, progress)

    # -- the run -------------------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Train, evaluate on the test split, draw the pictures, save the package."""
        data = self._load_data()
        run_id = self._start_run(data)
        self.last_run_id = run_id
        try:
            result = self._fit(run_id, data)
        except BaseException as exc:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            self.store.finish(run_id, "failed", error=reason)
            raise
        return result

    def _fit(self, run_id: str, data: _Data) -> TrainResult:
        cfg = self.config
        torch.manual_seed(cfg.train.seed)
        steps = math.ceil(len(data.train) / cfg.train.batch_size)
        task = create_task(cfg, data.shape, steps, len(data.extra.get("classes", [])))
        task.module.to(self.device)
        start = self._restore(run_id, task)
        if start == 1:
            task.prepare(data.train, lambda metrics, step: self.store.log_metrics(run_id, metrics, step=step))
        precision = resolve_precision(cfg.train.precision, self.device)
        order = torch.Generator().manual_seed(cfg.train.seed)
        for _ in range(1, start):  # the shuffles of finished epochs, so a resumed run sees the same batches
            torch.randperm(len(data.train), generator=order)
        for epoch in range(start, cfg.train.epochs + 1):
            metrics = self._epoch(task, data.train, data.labels["train"], epoch, order, precision)
            if data.val is not None:
                val = task.evaluate(data.val, cfg.train.eval_batch_size, data.labels["val"])
                metrics.update({f"val_{k}": v for k, v in val.items()})
            metrics["lr"] = task.optimizers[0].param_groups[0]["lr"]
            self.store.log_metrics(run_id, metrics, epoch=epoch)
            self._report(epoch, metrics)
            if cfg.train.checkpoint:
                save_checkpoint(self._run_dir(run_id) / "checkpoint.pt", {
                    "model": task.module.state_dict(), "optimizers": [o.state_dict() for o in task.optimizers],
                    "schedulers": [s.state_dict() if s else None for s in task.schedulers],
                    "epoch": epoch, "rng": rng_state(), "run_id": run_id})
            self.store.heartbeat(run_id)
        test = task.evaluate(data.test, cfg.train.eval_batch_size, data.labels["test"])
        test = {f"test_{k}": v for k, v in test.items()}
        self.store.log_metrics(run_id, test, epoch=cfg.train.epochs)
        self._pictures(run_id, task, data)
        package = self._save_package(run_id, task, data)
        self.store.finish(run_id, "completed")
        summary = self.store.get_run(run_id).summary
        return TrainResult(run_id, "completed", {name: v["final"] for name, v in summary.items()}, str(package))

    def _epoch(self, task: Task, x: torch.Tensor, y: torch.Tensor | None, epoch: int, order: torch.Generator,
               precision) -> dict[str, float]:
        cfg = self.config
        perm = torch.randperm(len(x), generator=order).to(x.device)
        steps = math.ceil(len(x) / cfg.train.batch_size)
        sums: dict[str, torch.Tensor] = {}
        label = f"epoch {epoch}/{cfg.train.epochs}"
        with EpochBar(self.console, steps, label, enabled=self.progress) as advance:
            for step in range(steps):
                index = perm[step * cfg.train.batch_size:(step + 1) * cfg.train.batch_size]
                with precision.autocast(self.device):
                    out = task.step(x[index], y[index] if y is not None else None)
                if not torch.isfinite(out["loss"]):
                    raise TrainingDivergedError(
                        f"loss became {out['loss'].item()} at epoch {epoch}, step {step + 1} "
                        f"(optim.lr={task.optimizers[0].param_groups[0]['lr']:g}); try a smaller optim.lr or "
                        "optim.clip_norm")
                for name, value in out.items():
                    sums[name] = sums.get(name, 0.0) + value.float()
                advance(step, out["loss"])
        return {f"train_{name}": (total / steps).item() for name, total in sums.items()}

    # -- pieces ---------------------------------------------------------------------------------------
    def _load_data(self) -> _Data:
        if self.config.generative.kind == "char_rnn":
            return self._load_text()
        from shendu.data import load_dataset

        d = self.config.data
        kwargs = dict(val_fraction=d.val_fraction, seed=d.split_seed, mirror=d.mirror, download=d.download,
                      progress=self.progress)
        train = load_dataset(d.name, "train", **kwargs)
        if train.info.modality != "image":
            raise BadInputError(f"generative.kind {self.config.generative.kind!r} needs an image dataset; "
                                f"data.name {d.name!r} is {train.info.modality}")
        val = load_dataset(d.name, "val", **kwargs) if d.val_fraction > 0 else None
        test = load_dataset(d.name, "test", **kwargs)
        scale = lambda split: split.x.to(self.device, torch.float32) / 255.0  # (N, C, H, W) in [0, 1]
        labels = {"train": train.y.to(self.device), "val": val.y.to(self.device) if val is not None else None,
                  "test": test.y.to(self.device)}
        return _Data(scale(train), scale(val) if val is not None else None, scale(test), labels,
                     tuple(train.x.shape[1:]), d.name, {"classes": list(train.info.classes)})

    def _load_text(self) -> _Data:
        from shendu.generative.char_rnn import Vocabulary

        g = self.config.generative
        if not g.text_file or not Path(g.text_file).is_file():
            raise BadInputError(f"generative.text_file: expected a UTF-8 text file for char_rnn, "
                                f"received {g.text_file!r}")
        text = Path(g.text_file).read_text(encoding="utf-8")
        seq_len = int(g.args.get("seq_len", 100))
        if len(text) < 20 * (seq_len + 1):
            raise BadInputError(f"{g.text_file}: {len(text)} characters is too short for seq_len {seq_len}; "
                                "use a longer text or a smaller generative.args.seq_len")
        vocab = Vocabulary.from_text(text)
        ids = torch.tensor(vocab.encode(text))
        cut1, cut2 = int(len(ids) * 0.9), int(len(ids) * 0.95)
        windows = lambda part: part[: len(part) // (seq_len + 1) * (seq_len + 1)].view(-1, seq_len + 1).to(self.device)
        return _Data(windows(ids[:cut1]), windows(ids[cut1:cut2]), windows(ids[cut2:]),
                     dict.fromkeys(("train", "val", "test")),
                     ("text", len(vocab.chars)), Path(g.text_file).name, {"chars": vocab.chars})

    def _start_run(self, data: _Data) -> str:
        cfg = self.config
        if self._resume_id:
            self.store.claim(self._resume_id)
            return self._resume_id
        run_id = self.store.create_run(config=cfg.to_dict(), seed=cfg.train.seed,
                                       model=f"generative.{cfg.generative.kind}", dataset=data.name,
                                       name=cfg.track.name)
        self.store.add_notes(run_id, [f"generative: {cfg.generative.kind}; train / val / test = "
                                      f"{len(data.train):,} / {len(data.val) if data.val is not None else 0:,} / "
                                      f"{len(data.test):,} {'windows' if data.shape[0] == 'text' else 'images'}"])
        return run_id

    def _run_dir(self, run_id: str) -> Path:
        return _settings.subdir("runs") / run_id

    def _restore(self, run_id: str, task: Task) -> int:
        path = self._run_dir(run_id) / "checkpoint.pt"
        if not (self._resume_id and path.exists()):
            if self._resume_id:
                self.store.rewind(run_id, after_epoch=0)
            return 1
        state = load_checkpoint(path)
        task.module.load_state_dict(state["model"])
        for optimizer, saved in zip(task.optimizers, state["optimizers"]):
            optimizer.load_state_dict(saved)
        for scheduler, saved in zip(task.schedulers, state["schedulers"]):
            if scheduler is not None and saved:
                scheduler.load_state_dict(saved)
        set_rng_state(state["rng"])
        self.store.rewind(run_id, after_epoch=int(state["epoch"]))
        return int(state["epoch"]) + 1

    def _pictures(self, run_id: str, task: Task, data: _Data) -> None:
        if not self.config.generative.pictures or data.labels["test"] is None:
            return
        out = self._run_dir(run_id)
        out.mkdir(parents=True, exist_ok=True)
        for path in task.draw(data.test, data.labels["test"], out):
            self.store.add_artifact(run_id, "image", str(path))

    def _save_package(self, run_id: str, task: Task, data: _Data) -> Path:
        from safetensors.torch import save_file

        path = _settings.subdir("packages") / run_id
        path.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in task.module.state_dict().items()}
        save_file(state, str(path / "weights.safetensors"))
        meta = {"format": "shendu.generative/1", "kind": self.config.generative.kind, "shape": list(data.shape),
                "config": self.config.to_dict(), "run_id": run_id, "dataset": data.name,
                "metrics": {k: v["final"] for k, v in self.store.get_run(run_id).summary.items()},
                **data.extra, **task.package_extra(data.train)}
        (path / "generative.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        self.store.set_package(run_id, str(path))
        self.store.add_artifact(run_id, "package", str(path))
        return path

    def _report(self, epoch: int, metrics: dict[str, float]) -> None:
        if self.progress:
            shown = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k != "lr")
            self.console.print(f"[bold]epoch {epoch}/{self.config.train.epochs}[/]  {shown}", soft_wrap=True)


def train_generative(config: ExperimentConfig | dict | str | Path, *, progress: bool = True) -> TrainResult:
    """`shendu.generative.train_generative("examples/mnist-vae.yaml")` — the library call behind `shendu train`."""
    return GenerativeTrainer(config, progress=progress).fit()


def generative_trainer(config: str | Path | None, overrides: list[str], resume: str | None,
                       progress: bool = True) -> GenerativeTrainer | None:
    """The trainer for `shendu train` when the config (or the resumed run's config) has a `generative` section;
    None otherwise, so the CLI falls through to the supervised Trainer."""
    import os

    if resume:
        store = open_store()
        if not store.get_run(resume).config.get("generative"):
            return None
        trainer = GenerativeTrainer.resume(resume, store=store, progress=progress)
    else:
        loaded = ExperimentConfig.load(config, overrides)
        if loaded.generative is None:
            return None
        trainer = GenerativeTrainer(loaded, progress=progress)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise BadInputError("generative training runs in one process; drop --nproc / --nnodes")
    return trainer
