"""The search space of a sweep: dotted config keys mapped to distributions, read from YAML.

    optim.lr:          {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
    train.batch_size:  {type: categorical, choices: [32, 64]}
    model.args.hidden: {type: int, low: 32, high: 256, step: 32}

The space is checked in two passes. The first checks the shape of each distribution (type, bounds,
log, step, choices). The second sets each key to every boundary value and choice and validates the
experiment config, so an unknown key or an out-of-range bound fails before any trial runs, with the
config's own "did you mean" message.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shendu._registry import nearest
from shendu.config import ExperimentConfig
from shendu.errors import BadInputError, ConfigError

TYPES = ("float", "int", "categorical")
_FIELDS = {"float": ("type", "low", "high", "log", "step"), "int": ("type", "low", "high", "log", "step"),
           "categorical": ("type", "choices")}
_SCALARS = (str, int, float, bool, type(None))  # what Optuna stores as a categorical choice


@dataclass(frozen=True)
class Param:
    """One searched config key and its distribution.

    Attributes:
        key: dotted config key, e.g. "optim.lr".
        type: "float", "int" or "categorical".
        low: lower bound, inclusive (float, int).
        high: upper bound, inclusive (float, int).
        log: sample on a log scale (float, int).
        step: grid step (float, int; int defaults to 1).
        choices: the values to choose from (categorical).
    """

    key: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """Draw this parameter's value for an Optuna trial (named by the dotted key)."""
        if self.type == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return trial.suggest_categorical(self.key, list(self.choices))

    def extremes(self) -> list[tuple[str, Any]]:
        """(what, value) pairs that span the distribution, for checking against the config."""
        if self.type == "categorical":
            return [(f"choice {value!r}", value) for value in self.choices]
        cast = int if self.type == "int" else float
        return [(f"{name} = {cast(value)!r}", cast(value)) for name, value in (("low", self.low), ("high", self.high))]


@dataclass(frozen=True)
class SearchSpace:
    """The parameters of a sweep, in file order. Build with `SearchSpace.load(path)` or `from_dict`."""

    params: tuple[Param, ...]
    source: str | None = None

    @classmethod
    def load(cls, path: str | Path) -> SearchSpace:
        """Read and check a space file (YAML mapping of dotted key → distribution)."""
        path = Path(path)
        if not path.is_file():
            raise BadInputError(f"search space file not found: {path} (expected a YAML file such as "
                                "examples/sweep-space.yaml)")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise BadInputError(f"search space {path} is not valid YAML: {exc}") from None
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: Any, source: str | None = None) -> SearchSpace:
        """Check a mapping of dotted key → distribution; every problem is reported at once."""
        if not isinstance(raw, dict) or not raw:
            raise _space_error([f"expected a mapping of dotted config keys to distributions, e.g. "
                                f"'optim.lr: {{type: float, low: 1.0e-4, high: 0.1, log: true}}', received "
                                f"{type(raw).__name__} {raw!r}"], source)
        params, problems = [], []
        for key, spec in raw.items():
            try:
                params.append(_param(key, spec))
            except BadInputError as exc:
                problems.append(str(exc))
        if problems:
            raise _space_error(problems, source)
        return cls(tuple(params), source)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The space as plain data again (stored with the study, so joining machines can compare)."""
        out = {}
        for p in self.params:
            fields = _FIELDS[p.type]
            values = {"type": p.type, "low": p.low, "high": p.high, "log": p.log, "step": p.step,
                      "choices": list(p.choices)}
            out[p.key] = {name: values[name] for name in fields if values[name] is not None}
        return out

    def check(self, config: ExperimentConfig) -> None:
        """Set each key to each of its bounds or choices in turn and validate the config.

        Raises:
            BadInputError: one line per key that the config rejects (the first failing value of each).
        """
        base = config.to_dict()
        problems = []
        for param in self.params:
            for what, value in param.extremes():
                try:
                    ExperimentConfig.from_dict(assign(copy.deepcopy(base), param.key, value))
                except ConfigError as exc:
                    problems.append(f"{param.key} ({what}): " + "; ".join(exc.problems))
                    break
        if problems:
            raise _space_error(problems, self.source)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """{dotted key: value} drawn for an Optuna trial."""
        return {param.key: param.suggest(trial) for param in self.params}

    def apply(self, config: ExperimentConfig, values: dict[str, Any]) -> ExperimentConfig:
        """A validated copy of `config` with `values` ({dotted key: value}) set."""
        raw = config.to_dict()
        for key, value in values.items():
            assign(raw, key, value)
        return ExperimentConfig.from_dict(raw)


def assign(raw: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set dotted `key` to `value` in a raw config dict (the value as is, not parsed); returns `raw`."""
    node, parts = raw, key.split(".")
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError([f"{'.'.join(parts[:depth + 1])} is a value ({child!r}), not a section"])
        node = child
    node[parts[-1]] = value
    return raw


def _param(key: Any, spec: Any) -> Param:
    if not isinstance(key, str) or not key.strip() or key != key.strip():
        raise BadInputError(f"expected a dotted config key such as 'optim.lr', received {key!r}")
    if not isinstance(spec, dict):
        raise BadInputError(f"{key}: expected a distribution such as {{type: float, low: 0.001, high: 0.1}}, "
                            f"received {type(spec).__name__} {spec!r}")
    kind = spec.get("type")
    if kind not in TYPES:
        close = nearest(str(kind), list(TYPES))
        hint = f" — did you mean '{close[0]}'?" if close else ""
        raise BadInputError(f"{key}: type {kind!r} is not a distribution{hint} (valid: {', '.join(TYPES)})")
    for name in spec:
        if name not in _FIELDS[kind]:
            close = nearest(str(name), list(_FIELDS[kind]))
            hint = f" — did you mean '{close[0]}'?" if close else ""
            article = "an" if kind == "int" else "a"
            raise BadInputError(f"{key}: unknown field {name!r} for {article} {kind} distribution{hint} "
                                f"(valid: {', '.join(_FIELDS[kind])})")
    if kind == "categorical":
        return Param(key, kind, choices=_choices(key, spec.get("choices")))
    return _numeric(key, kind, spec)


def _numeric(key: str, kind: str, spec: dict[str, Any]) -> Param:
    low, high = (_number(key, name, spec.get(name), kind) for name in ("low", "high"))
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise BadInputError(f"{key}: log must be true or false, received {log!r}")
    step = None if spec.get("step") is None else _number(key, "step", spec["step"], kind)
    if low > high:
        raise BadInputError(f"{key}: low ({low:g}) is above high ({high:g}); swap them")
    if log and low <= 0:
        raise BadInputError(f"{key}: a log scale needs low > 0, received low={low:g}")
    if log and step is not None:
        raise BadInputError(f"{key}: give either log: true or a step, not both (Optuna samples one or the other)")
    if step is not None and step <= 0:
        raise BadInputError(f"{key}: step must be > 0, received {step:g}")
    return Param(key, kind, low=low, high=high, log=log, step=step)


def _number(key: str, name: str, value: Any, kind: str) -> float:
    if value is None:
        raise BadInputError(f"{key}: a {kind} distribution needs '{name}' (e.g. {{type: {kind}, low: 1, high: 10}})")
    if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string: accept what float() accepts
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadInputError(f"{key}: '{name}' must be a finite number, received {value!r}")
    if kind == "int" and float(value) != int(value):
        raise BadInputError(f"{key}: '{name}' of an int distribution must be a whole number, received {value!r}")
    return int(value) if kind == "int" else float(value)


def _choices(key: str, choices: Any) -> tuple[Any, ...]:
    if not isinstance(choices, list) or not choices:
        raise BadInputError(f"{key}: a categorical distribution needs a non-empty list 'choices', e.g. "
                            f"choices: [32, 64], received {choices!r}")
    for value in choices:
        if not isinstance(value, _SCALARS):
            raise BadInputError(f"{key}: choices must be numbers, strings, booleans or null (Optuna stores "
                                f"them as such), received {type(value).__name__} {value!r}")
    if len({repr(v) for v in choices}) != len(choices):
        raise BadInputError(f"{key}: choices repeat a value: {choices!r}")
    return tuple(choices)


def _space_error(problems: list[str], source: str | None) -> BadInputError:
    where = f" in {source}" if source else ""
    lines = "\n".join(f"  - {p}" for p in problems)
    return BadInputError(f"invalid search space{where}:\n{lines}")
