"""The Trainer: minibatch training over in-memory tensors, per-epoch validation and checkpoints,
resume after a crash, a clear stop on NaN/Inf loss, early stopping, and a model package at the end.

Image runs standardize pixels (`Preprocessing`); text runs tokenize once per split with a `TextPipeline`
whose vocabulary is fitted on the training split only, pass `vocab_size` to the model, optionally load
word2vec vectors, and log a TF-IDF + logistic-regression baseline on the same split (`baseline_*` metrics).

Batches are gathered by indexing the preprocessed tensors with a shuffled index (no per-sample
Python, no DataLoader workers): for datasets that fit in memory this is the fastest path on CPU.
The step itself (precision, augmentation, regularizers, clipping) lives in `_loop.py`.
"""
from __future__ import annotations

import math
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from rich.console import Console

from shendu import _settings
from shendu.config import AugmentConfig, ExperimentConfig
from shendu.data import ArrayDataset, TextDataset, load_dataset
from shendu.errors import BadInputError, TrainingDivergedError
from shendu.i18n import t
from shendu.models import MODELS, create_model
from shendu.track import RunStore, open_store
from shendu.train import _distributed as ddp
from shendu.train import _regularize
from shendu.train._augment import BatchAugment
from shendu.train._callbacks import CALLBACKS, Callback
from shendu.train._checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from shendu.train._early_stop import EarlyStopping
from shendu.train._loop import Loop, NonFiniteLoss
from shendu.train._metrics import evaluate
from shendu.train._optim import build_optimizer, build_scheduler
from shendu.train._preprocess import Preprocessing
from shendu.train._progress import EpochBar
from shendu.train._speed import channels_last_helps, resolve_precision
from shendu.text import TextPipeline


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
    train: ArrayDataset | TextDataset
    val: ArrayDataset | TextDataset | None
    test: ArrayDataset | TextDataset


@dataclass
class _Inputs:
    """What the network reads per split, and the preprocessing that made it (stored in the package)."""

    prep: Preprocessing | TextPipeline
    train: torch.Tensor
    val: torch.Tensor | None
    test: Callable[[], torch.Tensor]  # made when needed (images: after training, as always)
    tokens: dict[str, list[list[str]]] = field(default_factory=dict)  # text: each split tokenized once


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """"auto" → this process's CUDA device when present, else the CPU."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
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

    _resume_id: str | None = None
    last_run_id: str | None = None

    def __init__(self, config: ExperimentConfig | dict | str | Path, store: RunStore | None = None,
                 progress: bool = True, callbacks: list[Callback] | None = None) -> None:
        if isinstance(config, (str, Path)):
            config = ExperimentConfig.load(config)
        elif isinstance(config, dict):
            config = ExperimentConfig.from_dict(config)
        if config.generative is not None:
            raise BadInputError("this config has a generative section, and Trainer trains supervised classifiers; "
                                "run it with `shendu train CONFIG` or shendu.generative.train_generative(config) "
                                "(docs/generative.md)")
        self.config = config
        self.dist = ddp.DistInfo.from_env()
        self.store = (store or open_store(config.track.db)) if self.dist.is_main else None
        self.progress = progress and self.dist.is_main
        self.console = Console(stderr=True)
        self.device = resolve_device(config.train.device, self.dist.local_rank)
        from shendu.track import _tensorboard  # noqa: F401  registers "tensorboard"; shendu.track stays torch-free
        named = [CALLBACKS.get(name)() for name in config.track.callbacks]
        if config.track.tensorboard and "tensorboard" not in config.track.callbacks:
            named.append(CALLBACKS.get("tensorboard")())
        self.callbacks: list[Callback] = (list(callbacks or []) + named) if self.dist.is_main else []

    @classmethod
    def resume(cls, run_id: str, store: RunStore | None = None, progress: bool = True) -> "Trainer":
        """A trainer that continues `run_id` from its last checkpoint, with the run's stored config."""
        return resumed(cls, run_id, store, progress)

    # -- the run ---------------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Train, evaluate on the test split, save the package. Raises on failure after recording it."""
        ddp.init(self.dist, self.device)
        data = self._load_data()
        run_id = self._start_run(data)
        self.last_run_id = run_id
        try:
            with _terminate_as_interrupt():
                self._call("on_run_start", run_id, data)
                result = self._fit(run_id, data)
        except BaseException as exc:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            if self.store:
                self.store.finish(run_id, "failed", error=reason)
            self._call("on_run_end", run_id, {}, exc)
            raise
        finally:
            ddp.shutdown(self.dist)
        self._call("on_run_end", run_id, result.metrics, None)
        return result

    def _fit(self, run_id: str, data: _Data) -> TrainResult:
        cfg = self.config
        inputs = self._inputs(run_id, data)
        x_train, y_train = inputs.train, data.train.y.to(self.device)
        loop = self._build_loop(data, inputs, x_train, y_train)
        stopper = EarlyStopping(cfg.train.early_stop)
        start_epoch, checkpoint = self._restore(run_id, loop, stopper)
        x_val = inputs.val
        epoch = start_epoch - 1
        for epoch in range(start_epoch, cfg.train.epochs + 1):
            try:
                metrics = loop.epoch(x_train, y_train, epoch, self._progress_bar)
            except NonFiniteLoss as exc:
                raise self._diverged(exc, epoch, loop, run_id) from None
            if x_val is not None:
                metrics.update(self._evaluate(loop, x_val, data.val.y, "val"))
            metrics["lr"] = loop.optimizer.param_groups[0]["lr"]
            stop = stopper.update(epoch, metrics)
            self._end_epoch(run_id, epoch, metrics, loop, stopper, checkpoint)
            if stop:
                self._note(run_id, stopper.note(epoch))
                break
        test = self._evaluate(loop, inputs.test(), data.test.y, "test")
        if inputs.tokens and cfg.data.text.baseline and self.dist.is_main:
            test.update(self._baseline(data, inputs))
        return self._finish(run_id, loop, inputs.prep, data, test, last_epoch=epoch)

    def _inputs(self, run_id: str, data: _Data) -> _Inputs:
        """Images: standardization measured on train. Texts: each split tokenized once, the vocabulary fitted on
        the training tokens only, every split encoded to (N, L) ids; a run note says how well it covers test."""
        if not isinstance(data.train, TextDataset):
            prep = Preprocessing.fit(data.train.x)
            val = prep(data.val.x, self.device) if data.val is not None and len(data.val) else None
            return _Inputs(prep, prep(data.train.x, self.device), val, lambda: prep(data.test.x, self.device))
        text = self.config.data.text
        pipeline = TextPipeline.unfitted(_tokenizer_name(text.tokenizer, data.train), lowercase=text.lowercase,
                                         max_len=text.max_len, **text.tokenizer_options())
        splits = {"train": data.train, "val": data.val, "test": data.test}
        tokens = {name: pipeline.tokenize_all(part.texts) for name, part in splits.items() if part is not None}
        pipeline.fit_vocab(tokens["train"], text.min_freq, text.max_size)  # the training split only
        coverage = pipeline.coverage(tokens["test"])
        if not self._resume_id:  # a resumed run has this note already
            self._note(run_id, f"text: {pipeline.tokenizer.name} tokenizer{', lowercased' if text.lowercase else ''}; "
                               f"vocabulary {pipeline.vocab_size:,} tokens (min_freq {text.min_freq}) from "
                               f"{len(tokens['train']):,} training texts; test: {coverage['unknown_tokens']:.1%} "
                               f"unknown tokens, {coverage['truncated_texts']:.1%} of texts cut at {text.max_len} "
                               "tokens")
        encode = lambda name: pipeline.encode_tokens(tokens[name]).to(self.device)  # noqa: E731
        val = encode("val") if "val" in tokens and tokens["val"] else None
        return _Inputs(pipeline, encode("train"), val, lambda: encode("test"), tokens)

    def _baseline(self, data: _Data, inputs: _Inputs) -> dict[str, float]:
        """TF-IDF + logistic regression on the same tokens and split (val picks its C); see shendu.text."""
        from shendu.text import tfidf_baseline

        tokens = inputs.tokens
        val = (tokens["val"], data.val.y.numpy()) if data.val is not None and tokens.get("val") else None
        metrics = tfidf_baseline((tokens["train"], data.train.y.numpy()), val, (tokens["test"], data.test.y.numpy()),
                                 seed=self.config.train.seed)
        if self.progress:
            self.console.print(f"baseline (TF-IDF + logistic regression, C={metrics['baseline_c']:g}): test accuracy "
                               f"{metrics['baseline_test_accuracy']:.4f}")
        return metrics

    def _end_epoch(self, run_id: str, epoch: int, metrics: dict[str, float], loop: Loop, stopper: EarlyStopping,
                   checkpoint: Path) -> None:
        if not self.dist.is_main:
            return
        self.store.log_metrics(run_id, metrics, epoch=epoch)
        self._report(epoch, metrics)
        if self.config.train.checkpoint:
            save_checkpoint(checkpoint, {
                "model": loop.module.state_dict(), "optimizer": loop.optimizer.state_dict(),
                "scheduler": loop.scheduler.state_dict() if loop.scheduler else None,
                "scaler": loop.scaler.state_dict() if loop.scaler else None, "early_stop": stopper.state_dict(),
                "channels_last": loop.channels_last, "epoch": epoch, "rng": rng_state(), "run_id": run_id})
        self.store.heartbeat(run_id)
        self._call("on_epoch_end", run_id, epoch, metrics, loop)

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def _finish(self, run_id: str, loop: Loop, prep: Preprocessing, data: _Data, test: dict[str, float],
                last_epoch: int) -> TrainResult:
        if not self.dist.is_main:
            ddp.barrier(self.dist)
            return TrainResult(run_id, "completed", test, None)
        self.store.log_metrics(run_id, test, epoch=last_epoch)  # early stopping may end before train.epochs
        package = self._save_package(run_id, loop.module, prep, data)
        self.store.finish(run_id, "completed")
        ddp.barrier(self.dist)
        summary = self.store.get_run(run_id).summary
        return TrainResult(run_id, "completed", {name: v["final"] for name, v in summary.items()}, str(package))

    def _evaluate(self, loop: Loop, x: torch.Tensor, y: torch.Tensor, prefix: str) -> dict[str, float]:
        return evaluate(loop.module, x, y.to(self.device), loop.num_classes, prefix,
                        self.config.train.eval_batch_size, lambda: loop.precision.autocast(self.device), self.dist)

    def _diverged(self, exc: NonFiniteLoss, epoch: int, loop: Loop, run_id: str) -> TrainingDivergedError:
        checkpoint = self._checkpoint_path(run_id)
        kept = (f"the last good checkpoint (epoch {epoch - 1}) is kept at {checkpoint}"
                if checkpoint.exists() else "no checkpoint was written before this epoch")
        return TrainingDivergedError(
            f"loss became {exc.value} at epoch {epoch}, step {exc.step + 1} "
            f"(optim.lr={loop.optimizer.param_groups[0]['lr']:g}); training stopped and {kept}. "
            "Try a smaller optim.lr, gradient clipping, or check the inputs for NaN.")

    # -- pieces ------------------------------------------------------------------------------------
    def _load_data(self) -> _Data:
        d = self.config.data
        kwargs = dict(val_fraction=d.val_fraction, seed=d.split_seed, mirror=d.mirror, download=d.download,
                      progress=self.progress, train_split=d.train_split, path=d.path, test_path=d.test_path,
                      text_column=d.text_column, label_column=d.label_column)
        train = load_dataset(d.name, "train", **kwargs)
        if MODELS.meta(self.config.model.name).get("modality", "image") != train.info.modality:
            raise BadInputError(f"model {self.config.model.name!r} takes {MODELS.meta(self.config.model.name)['modality']} "
                                f"input but dataset {d.name!r} is {train.info.modality}; pick a matching model.name")
        val = load_dataset(d.name, "val", **kwargs) if d.val_fraction > 0 else None
        test = load_dataset(d.name, "test", **kwargs)
        return _Data(train, val, test)

    def _start_run(self, data: _Data) -> str:
        if not self.dist.is_main:
            return self._resume_id or "(rank > 0)"
        cfg = self.config
        if self._resume_id:
            self.store.claim(self._resume_id)
            return self._resume_id
        notes = list(dict.fromkeys(data.train.notes + data.test.notes))
        run_id = self.store.create_run(config=cfg.to_dict(), seed=cfg.train.seed, model=cfg.model.name,
                                       dataset=cfg.data.name, name=cfg.track.name, notes=notes)
        self.store.add_notes(run_id, [_split_note(data.train.split_record)])
        if self.dist.enabled:
            self.store.add_notes(run_id, [f"distributed: {self.dist.world_size} processes (DDP)"])
        return run_id

    def _build_loop(self, data: _Data, inputs: _Inputs, x: torch.Tensor, y: torch.Tensor) -> Loop:
        cfg = self.config
        torch.manual_seed(cfg.train.seed)  # model initialization is part of the seeded result
        if cfg.train.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        channels, height = _input_geometry(data, inputs.prep)
        module = create_model(cfg.model.name, num_classes=data.train.info.num_classes, in_channels=channels,
                              input_size=height, **self._model_args(inputs.prep)).to(self.device)
        if inputs.tokens and cfg.data.text.word2vec.enabled:
            self._word2vec(module, inputs)
        _regularize.apply(module, cfg.regularize)
        optimizer = build_optimizer(module, cfg.optim)
        steps = math.ceil(x.shape[0] / cfg.train.batch_size)
        scheduler = build_scheduler(optimizer, cfg.optim, cfg.train.epochs, steps)
        precision = resolve_precision(cfg.train.precision, self.device)
        augment = BatchAugment(cfg.augment, inputs.prep) if isinstance(inputs.prep, Preprocessing) else None
        active = augment if augment is not None and augment.active else None
        loop = Loop(cfg, module, module, optimizer, scheduler, precision, active, data.train.info.num_classes,
                    self.dist)
        if precision.scaler:
            loop.scaler = torch.amp.GradScaler("cuda")
        loop.channels_last = self._channels_last(module, x, y, precision)
        if loop.channels_last:
            module.to(memory_format=torch.channels_last)
        loop.model = self._wrap(module)
        return loop

    def _model_args(self, prep: Preprocessing | TextPipeline) -> dict[str, Any]:
        """model.args, plus the vocabulary size for text models (which it must not contradict)."""
        args = dict(self.config.model.args)
        if not isinstance(prep, TextPipeline):
            self._refuse_text_settings()
            return args
        given = args.get("vocab_size")
        if given is not None and given != prep.vocab_size:
            raise BadInputError(f"model.args.vocab_size is {given}, but the vocabulary fitted on the training split "
                                f"has {prep.vocab_size:,} tokens; remove model.args.vocab_size (the trainer sets it) "
                                "and limit the vocabulary with data.text.max_size or data.text.min_freq instead")
        cfg = self.config
        if cfg.augment != AugmentConfig() or cfg.regularize.noise_input > 0:
            raise BadInputError("augment.* and regularize.noise_input act on image pixels; a text run reads token ids "
                                "— remove them (regularize.dropout, noise_hidden and l1/weight_decay do apply)")
        return {**args, "vocab_size": prep.vocab_size}

    def _refuse_text_settings(self) -> None:
        d = self.config.data
        if d.text.word2vec.enabled:
            raise BadInputError(f"data.text.word2vec is for text datasets; {d.name!r} is an image dataset")

    def _word2vec(self, module: torch.nn.Module, inputs: _Inputs) -> None:
        """Vectors from gensim word2vec on the training tokens, copied into `module.embedding`."""
        from shendu.text import load_vectors, train_word2vec

        w2v, run_id = self.config.data.text.word2vec, self.last_run_id or ""
        embedding = getattr(module, "embedding", None)
        if not isinstance(embedding, torch.nn.Embedding):
            raise BadInputError(f"data.text.word2vec needs a model with an `embedding` layer (nn.Embedding); "
                                f"{self.config.model.name!r} has none")
        dim = w2v.dim or embedding.embedding_dim
        vectors, found = train_word2vec(inputs.tokens["train"], inputs.prep.vocab, dim, window=w2v.window,
                                        min_count=w2v.min_count, epochs=w2v.epochs, skip_gram=w2v.skip_gram,
                                        seed=self.config.train.seed)
        count = load_vectors(embedding, vectors, found)
        kind = "static (frozen)" if not embedding.weight.requires_grad else "fine-tuned"
        if not self._resume_id:
            self._note(run_id, f"word2vec: {count:,} of {len(found):,} vocabulary tokens start from vectors trained on "
                               f"the training texts (dim {dim}, window {w2v.window}, {w2v.epochs} epochs, "
                               f"{'skip-gram' if w2v.skip_gram else 'CBOW'}); embedding {kind}")

    def _channels_last(self, module, x, y, precision) -> bool:
        mode = self.config.train.channels_last
        if x.dim() != 4:  # token ids (N, L): there is no channel axis to move
            return False
        if mode != "auto":
            return mode == "on"
        state = torch.get_rng_state()  # the probe must not shift the seeded random stream
        batch = min(self.config.train.batch_size, x.shape[0])
        helps = channels_last_helps(module, x[:batch], y[:batch], precision)
        torch.set_rng_state(state)
        return helps

    def _wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        model = module
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if self.config.train.compile:
            model = torch.compile(model)
        return model

    def _checkpoint_path(self, run_id: str) -> Path:
        return _settings.subdir("runs") / run_id / "checkpoint.pt"

    def _restore(self, run_id: str, loop: Loop, stopper: EarlyStopping) -> tuple[int, Path]:
        """Load the run's checkpoint when resuming; returns the first epoch to train and the checkpoint path."""
        path = self._checkpoint_path(run_id)
        if not (self._resume_id and path.exists()):
            if self.store and self._resume_id:
                self.store.rewind(run_id, after_epoch=0)  # killed before its first checkpoint: start over
            elif self.store and self.config.train.checkpoint:
                self.store.add_artifact(run_id, "checkpoint", str(path))
            return 1, path
        state = load_checkpoint(path)
        loop.module.load_state_dict(state["model"])
        loop.optimizer.load_state_dict(state["optimizer"])
        if loop.scheduler is not None and state.get("scheduler"):
            loop.scheduler.load_state_dict(state["scheduler"])
        if loop.scaler is not None and state.get("scaler"):
            loop.scaler.load_state_dict(state["scaler"])
        stopper.load_state_dict(state.get("early_stop") or {})
        set_rng_state(state["rng"])
        if self.store:
            self.store.rewind(run_id, after_epoch=int(state["epoch"]))
            self.console.print(f"resuming {run_id} after epoch {state['epoch']} / 从第 {state['epoch']} 轮之后继续")
        return int(state["epoch"]) + 1, path

    def _save_package(self, run_id: str, module: torch.nn.Module, prep: Preprocessing | TextPipeline,
                      data: _Data) -> Path:
        from shendu.hub import save_package

        cfg = self.config
        channels, height = _input_geometry(data, prep)
        freeze = MODELS.meta(cfg.model.name).get("freeze_args")
        args = freeze(dict(cfg.model.args)) if callable(freeze) else cfg.model.args
        if isinstance(prep, TextPipeline):
            args = {**args, "vocab_size": prep.vocab_size}
        path = _settings.subdir("packages") / run_id
        save_package(path, module, model_name=cfg.model.name, model_args=args,
                     num_classes=data.train.info.num_classes, in_channels=channels, input_size=height,
                     preprocessing=prep, classes=list(data.train.info.classes),
                     metrics=self.store.get_run(run_id).summary, config=cfg.to_dict(), run_id=run_id,
                     dataset={"name": cfg.data.name, "split": data.train.split_record, "notes": data.train.notes})
        self.store.set_package(run_id, str(path))
        self.store.add_artifact(run_id, "package", str(path))
        return path

    def _note(self, run_id: str, note: str) -> None:
        if self.store:
            self.store.add_notes(run_id, [note])
        if self.progress:
            self.console.print(note)

    def _report(self, epoch: int, metrics: dict[str, float]) -> None:
        if not self.progress:
            return
        keys = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
        shown = "  ".join(f"{k} {metrics[k]:.4f}" for k in keys if k in metrics)
        self.console.print(f"[bold]{t('train.epoch', epoch=epoch, epochs=self.config.train.epochs)}[/]  {shown}",
                           soft_wrap=True)

    def _progress_bar(self, steps: int, epoch: int) -> EpochBar:
        return EpochBar(self.console, steps, t("train.epoch", epoch=epoch, epochs=self.config.train.epochs),
                        enabled=self.progress)


def _input_geometry(data: _Data, prep: Preprocessing | TextPipeline) -> tuple[int, int]:
    """(in_channels, input_size) for `create_model`: the images' channels and height, or for texts 1 and the
    longest sequence (text builders ignore both; a package records them, ONNX export uses the length)."""
    if isinstance(prep, TextPipeline):
        return 1, prep.max_len
    channels, height, _ = data.train.info.input_shape
    return channels, height


def _tokenizer_name(name: str, train: TextDataset) -> str:
    from shendu.text import resolve_tokenizer

    return resolve_tokenizer(name, train.info.language, train.texts)


def resumed(cls: Any, run_id: str, store: RunStore | None, progress: bool) -> Any:
    """A `cls` trainer over the stored config of the unfinished run `run_id`, set to continue it (both the
    supervised and the generative trainer resume this way)."""
    store = store or open_store()
    record = store.get_run(run_id)
    if record.status == "completed":
        raise BadInputError(f"run {record.id} is already completed; nothing to resume "
                            f"(see: shendu runs show {record.id})")
    trainer = cls(ExperimentConfig.from_dict(record.config), store=store, progress=progress)
    trainer._resume_id = record.id
    return trainer


def _split_note(record: dict[str, Any]) -> str:
    """"split: official, val 10% seed 0 — 54,000 / 6,000 / 10,000" (the full record goes into the package)."""
    counts = record.get("counts", {})
    shown = " / ".join(f"{counts[k]:,}" for k in ("train", "val", "test") if k in counts)
    return (f"split: {record.get('scheme', '?')}, val {record.get('val_fraction', 0):.0%} seed {record.get('seed')}"
            f" — train / val / test = {shown}")


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
