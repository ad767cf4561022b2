"""The typed experiment config: one schema drives the CLI, the studio, sweeps and estimators.

Sections: data / model / optim / train / track. Loaded from YAML (or a dict), with dotted overrides
(`--set optim.lr=0.05`). Every problem is reported at once, each with its key path, what was
received, what is valid and a "did you mean". The resolved config (`to_dict()`) is stored with the run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shendu._registry import nearest
from shendu.errors import ConfigError



class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Word2VecConfig(_Section):
    """Word vectors trained with gensim word2vec on the training texts, loaded into the model's embedding
    (static with `model.args.freeze_embedding: true`, fine-tuned otherwise)."""

    enabled: bool = False
    dim: int | None = Field(None, ge=1, le=4096)  # None: the model's embedding width
    window: int = Field(5, ge=1, le=100)
    min_count: int = Field(1, ge=1)
    epochs: int = Field(5, ge=1, le=1000)
    skip_gram: bool = False


class TextConfig(_Section):
    """How texts become token ids (text datasets only): tokenizer, lowercasing, vocabulary, length, vectors."""

    tokenizer: Literal["auto", "jieba", "char", "whitespace", "regex"] = "auto"
    pattern: str | None = None  # regex tokenizer: the token pattern (default: words and punctuation marks)
    user_words: list[str] = Field(default_factory=list)  # jieba: extra dictionary words, "word [freq [tag]]"
    del_words: list[str] = Field(default_factory=list)  # jieba: dictionary words never to produce
    hmm: bool = True  # jieba: HMM for words not in the dictionary
    lowercase: bool = True
    min_freq: int = Field(1, ge=1)
    max_size: int | None = Field(None, ge=3)  # <pad> and <unk> included
    max_len: int = Field(256, ge=1, le=100_000)
    baseline: bool = True  # TF-IDF + logistic regression on the same split, logged as baseline_* metrics
    word2vec: Word2VecConfig = Field(default_factory=Word2VecConfig)

    @model_validator(mode="after")
    def _options_fit_the_tokenizer(self) -> "TextConfig":
        for key, value in self.tokenizer_options().items():
            owner = _TOKENIZER_OPTIONS[key][0]
            if self.tokenizer not in (owner, "auto"):
                raise ValueError(f"{key} is an option of the {owner} tokenizer, but tokenizer is {self.tokenizer!r}; "
                                 f"set tokenizer: {owner} or remove {key}")
        return self

    def tokenizer_options(self) -> dict[str, Any]:
        """The tokenizer options set to something other than their default, as `build_tokenizer` takes them."""
        return {key: getattr(self, key) for key, (_, default) in _TOKENIZER_OPTIONS.items()
                if getattr(self, key) != default}


_TOKENIZER_OPTIONS = {"pattern": ("regex", None), "user_words": ("jieba", []), "del_words": ("jieba", []),
                      "hmm": ("jieba", True)}  # option: (the tokenizer it belongs to, its default)


class DataConfig(_Section):
    """Which dataset, where to find it and how to split it."""

    name: str = "digits"
    mirror: str | None = None
    val_fraction: float = Field(0.1, ge=0.0, le=0.9)
    split_seed: int = Field(0, ge=0)
    download: bool = True
    train_split: str | None = None  # text datasets: the official split to train on (e.g. dev); default train
    path: str | None = None  # name csv / jsonl: your file of texts and labels
    test_path: str | None = None  # name csv / jsonl: an optional separate test file
    text_column: str = "text"
    label_column: str = "label"
    text: TextConfig = Field(default_factory=TextConfig)


class ModelConfig(_Section):
    """A registered model and its builder's keyword arguments."""

    name: str = "lenet5"
    args: dict[str, Any] = Field(default_factory=dict)


class OptimConfig(_Section):
    """Optimizer, learning-rate schedule and gradient clipping."""

    name: Literal["sgd", "adam", "adamw", "rmsprop", "adagrad"] = "adam"
    lr: float = Field(1e-3, gt=0.0, le=10.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    nesterov: bool = False
    beta1: float = Field(0.9, ge=0.0, lt=1.0)
    beta2: float = Field(0.999, ge=0.0, lt=1.0)
    alpha: float = Field(0.99, gt=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    schedule: Literal["none", "cosine", "step", "onecycle"] = "none"
    warmup_epochs: float = Field(0.0, ge=0.0)
    step_epochs: int = Field(1, ge=1)
    gamma: float = Field(0.1, gt=0.0, le=1.0)
    clip_norm: float | None = Field(None, gt=0.0)
    clip_value: float | None = Field(None, gt=0.0)


class RegularizeConfig(_Section):
    """Regularization beyond weight decay: L1, dropout override, label smoothing, Gaussian noise."""

    l1: float = Field(0.0, ge=0.0)
    dropout: float | None = Field(None, ge=0.0, lt=1.0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    noise_input: float = Field(0.0, ge=0.0)
    noise_hidden: float = Field(0.0, ge=0.0)
    noise_layers: list[str] = Field(default_factory=list)
    noise_weights: float = Field(0.0, ge=0.0)


class AugmentConfig(_Section):
    """Per-batch, per-sample data augmentation on tensors (training only)."""

    crop_padding: int = Field(0, ge=0, le=64)
    flip: bool = False
    rotation: float = Field(0.0, ge=0.0, le=180.0)
    color_jitter: float = Field(0.0, ge=0.0, le=1.0)


class EarlyStopConfig(_Section):
    """Stop when `metric` has not improved by `min_delta` for `patience` epochs (patience 0 = off)."""

    metric: str = "val_loss"
    patience: int = Field(0, ge=0)
    min_delta: float = Field(0.0, ge=0.0)


class TrainConfig(_Section):
    """The loop: epochs, batch size, seed, device, checkpoints."""

    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(64, ge=1, le=1_000_000)
    eval_batch_size: int = Field(1024, ge=1)
    seed: int = Field(0, ge=0)
    device: str = "auto"
    checkpoint: bool = True
    log_every: int = Field(50, ge=1)
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"
    channels_last: Literal["auto", "on", "off"] = "off"
    compile: bool = False
    deterministic: bool = False
    early_stop: EarlyStopConfig = Field(default_factory=EarlyStopConfig)

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if value in ("auto", "cpu", "mps") or value == "cuda" or value.startswith("cuda:"):
            return value
        raise ValueError(f"expected auto, cpu, cuda, cuda:N or mps, received {value!r}")


class TrackConfig(_Section):
    """Where the run is recorded."""

    db: str | None = None
    name: str | None = None
    tags: list[str] = Field(default_factory=list)
    callbacks: list[str] = Field(default_factory=list)
    # TensorBoard event files under SHENDU_HOME/tb/<run_id> (the "tensorboard" callback, shendu.track._tensorboard)
    tensorboard: bool = True
    tensorboard_histograms: bool = True
    tensorboard_images: int = Field(16, ge=0)


class GenerativeConfig(_Section):
    """Unsupervised training (shendu.generative, docs/generative.md): which generative model and its objective."""

    kind: Literal["autoencoder", "conv_autoencoder", "dbn_autoencoder", "dbn_classifier", "vae", "gan",
                  "char_rnn"] = "autoencoder"
    args: dict[str, Any] = Field(default_factory=dict)  # the builder's arguments: sizes, code_size, latent, …
    noise: Literal["none", "gaussian", "masking", "salt_pepper"] = "none"  # denoising autoencoder input noise
    noise_level: float = Field(0.0, ge=0.0)
    sparsity: float = Field(0.0, ge=0.0)  # L1 weight on the code
    pretrain_epochs: int = Field(10, ge=0)  # dbn_autoencoder: CD epochs per RBM (Hinton & Salakhutdinov: 50)
    pretrain_lr: float | None = Field(None, gt=0.0)  # default: 0.1 Bernoulli layers, 0.001 Gaussian ones
    cd_k: int = Field(1, ge=1)
    persistent: bool = False
    text_file: str | None = None  # char_rnn: any UTF-8 text file
    pictures: bool = True  # reconstructions / samples / interpolation / code scatter PNGs in the run directory

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, raw: Any) -> Any:
        # The section is optional (None) so the shared unknown-key path cannot see its fields; explain here.
        if isinstance(raw, dict):
            valid = list(cls.model_fields)
            for key in raw:
                if key not in valid:
                    close = nearest(str(key), valid)
                    hint = f" — did you mean 'generative.{close[0]}'?" if close else ""
                    raise ValueError(f"unknown key 'generative.{key}'{hint} (valid: {', '.join(valid)})")
        return raw


class ExperimentConfig(_Section):
    """A whole experiment. `ExperimentConfig.load("examples/digits-lenet.yaml", ["optim.lr=0.01"])`."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    regularize: RegularizeConfig = Field(default_factory=RegularizeConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    track: TrackConfig = Field(default_factory=TrackConfig)
    generative: GenerativeConfig | None = None  # set → `shendu train` runs shendu.generative's trainer

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str | None = None) -> "ExperimentConfig":
        """Validate a plain dict; every problem is reported in one ConfigError."""
        if not isinstance(raw, dict):
            raise ConfigError([f"expected a mapping of sections (data, model, …), received {_kind(raw)}"], source)
        try:
            config = cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError([_describe(e) for e in exc.errors()], source) from None
        config._check_names(source)
        return config

    @classmethod
    def load(cls, path: str | Path | None = None, overrides: list[str] | None = None) -> "ExperimentConfig":
        """Read a YAML file (or start from defaults), apply `key=value` overrides, validate."""
        raw: dict[str, Any] = {}
        source = str(path) if path else None
        if path is not None:
            raw = _read_yaml(Path(path))
        for item in overrides or []:
            apply_override(raw, item)
        return cls.from_dict(raw, source)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain JSON-able data (what is stored with the run)."""
        return self.model_dump(mode="json")

    def _check_names(self, source: str | None) -> None:
        # Registries are consulted here so a typo fails before any data is loaded.
        from shendu.data import DATASETS
        from shendu.errors import BadInputError
        from shendu.models import MODELS, check_model_args

        problems = []
        for key, name, registry in (("data.name", self.data.name, DATASETS), ("model.name", self.model.name, MODELS)):
            if name not in registry:
                problems.append(_unknown_value(key, name, registry.names()))
        if self.model.name in MODELS:
            try:
                check_model_args(self.model.name, self.model.args)
            except BadInputError as exc:
                problems.append(str(exc))
        if problems:
            raise ConfigError(problems, source)


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one `a.b.c=value` override to a raw config dict; the value is parsed as YAML."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError([f"override {item!r}: expected KEY=VALUE such as optim.lr=0.05"])
    value = yaml.safe_load(text) if text.strip() else None
    node = raw
    parts = key.split(".")
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError([f"override {item!r}: {where} is a value ({child!r}), not a section"])
        node = child
    node[parts[-1]] = value


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError([f"config file not found: {path} (expected a YAML file; see examples/)"])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"], str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"expected a mapping of sections (data, model, …), received {_kind(data)}"], str(path))
    return data


def _describe(error: dict[str, Any]) -> str:
    """One line for one pydantic error: key path, what was received, what is valid."""
    loc = [str(p) for p in error["loc"]]
    path = ".".join(loc)
    kind, received = error["type"], error.get("input")
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind == "literal_error":
        valid = [str(v).strip("'") for v in error.get("ctx", {}).get("expected", "").replace(" or ", ", ").split(", ")]
        return _unknown_value(path, received, valid)
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{path}: {error['msg'].lower()}, received {received!r}"
    if kind == "model_type" or kind == "dict_type":
        return f"{path}: expected a section (mapping), received {_kind(received)} {received!r}"
    if kind == "value_error":
        return f"{path}: {error['msg'].removeprefix('Value error, ')}"
    expected = _EXPECTED.get(kind.split("_")[0], error["msg"].lower())
    return f"{path}: expected {expected}, received {_kind(received)} {received!r}"


_EXPECTED = {
    "int": "an integer", "float": "a number", "bool": "true or false", "string": "a string",
    "list": "a list", "dict": "a mapping", "missing": "a value",
}


def _unknown_key(loc: list[str]) -> str:
    model: type[BaseModel] = ExperimentConfig
    for part in loc[:-1]:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    valid = list(model.model_fields)
    close = nearest(loc[-1], valid)
    parent = ".".join(loc[:-1])
    hint = f" — did you mean '{parent + '.' if parent else ''}{close[0]}'?" if close else ""
    return f"unknown key '{'.'.join(loc)}'{hint} (valid: {', '.join(valid)})"


def _unknown_value(path: str, received: Any, valid: list[str]) -> str:
    close = nearest(str(received), valid)
    hint = f" — did you mean '{close[0]}'?" if close else ""
    shown = ", ".join(valid[:12]) + (", …" if len(valid) > 12 else "")
    return f"{path}: unknown value {received!r}{hint} (valid: {shown})"


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "nothing (null)"}.get(type(value), type(value).__name__)
