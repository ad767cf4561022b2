"""The new-job form: fields over `ExperimentConfig`, and its validation errors put next to their fields.

The form posts dotted keys (`optim.lr=0.01`), exactly the CLI's `--set` overrides, and the config is
validated by `ExperimentConfig.from_dict` — the studio has no rules of its own. Each problem line of the
resulting `ConfigError` names its key path, which is how it finds its field.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from shendu.config import ExperimentConfig, apply_override
from shendu.errors import ConfigError, ShenduError


@dataclass(frozen=True)
class FormField:
    key: str  # dotted config key
    kind: str  # "select", "number", "text", "check", "yaml"
    choices: tuple[str, ...] = ()


def fields() -> list[FormField]:
    """The form's fields, in display order (choices from the registries and the config's literals)."""
    from shendu.data import list_datasets
    from shendu.models import list_models

    optim = ExperimentConfig.model_fields["optim"].annotation.model_fields
    return [
        FormField("data.name", "select", tuple(d.name for d in list_datasets())),
        FormField("model.name", "select", tuple(m["name"] for m in list_models())),
        FormField("model.args", "yaml"),
        FormField("optim.name", "select", _literal(optim["name"].annotation)),
        FormField("optim.lr", "number"),
        FormField("optim.momentum", "number"),
        FormField("optim.weight_decay", "number"),
        FormField("optim.schedule", "select", _literal(optim["schedule"].annotation)),
        FormField("train.epochs", "number"),
        FormField("train.batch_size", "number"),
        FormField("train.seed", "number"),
        FormField("regularize.dropout", "number"),
        FormField("regularize.label_smoothing", "number"),
        FormField("augment.flip", "check"),
        FormField("data.val_fraction", "number"),
    ]


def _literal(annotation: Any) -> tuple[str, ...]:
    return tuple(str(a) for a in getattr(annotation, "__args__", ()))


def defaults() -> dict[str, Any]:
    """The form's starting values: LeNet-5 on digits (the embedded dataset), else the config's defaults."""
    flat = _flatten(ExperimentConfig.from_dict({"train": {"epochs": 10, "batch_size": 32},
                                                "optim": {"lr": 0.003}}).to_dict())
    return {f.key: flat.get(f.key) for f in fields()}


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and key != "args":
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def raw_config(form: Mapping[str, Any], spec_loader: Callable[[str], dict] | None = None
               ) -> tuple[dict[str, Any], dict[str, str]]:
    """The raw config dict from posted fields, plus errors of fields that are not even YAML.

    `spec_loader` turns the name of a saved net spec into the spec itself, which goes into model.args.spec
    so the job's config is self-contained (net_spec only).
    """
    raw: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields():
        value = form.get(field.key)
        if field.kind == "check":
            apply_override(raw, f"{field.key}={'true' if value in ('on', 'true', True, '1') else 'false'}")
            continue
        if value is None or str(value).strip() == "":
            continue  # left empty: the config's default
        try:
            apply_override(raw, f"{field.key}={value}")
        except (ShenduError, ValueError) as exc:
            errors[field.key] = f"{field.key}: not valid YAML ({exc}); expected e.g. {{width: 64}}"
    extra = str(form.get("extra") or "")
    for number, line in enumerate(extra.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                apply_override(raw, line.strip())
            except (ShenduError, ValueError) as exc:
                errors["extra"] = f"line {number}: {exc}"
    spec = str(form.get("spec") or "").strip()
    if spec and spec_loader and (raw.get("model") or {}).get("name") == "net_spec":
        try:
            raw.setdefault("model", {}).setdefault("args", {})["spec"] = spec_loader(spec)
        except ShenduError as exc:
            errors["spec"] = str(exc)
    return raw, errors


def validate(form: Mapping[str, Any], spec_loader: Callable[[str], dict] | None = None
             ) -> tuple[ExperimentConfig | None, dict[str, str]]:
    """(the config, {}) when valid, else (None, {field key or "extra": message})."""
    raw, errors = raw_config(form, spec_loader)
    if errors:
        return None, errors
    try:
        return ExperimentConfig.from_dict(raw, "the job form"), {}
    except ConfigError as exc:
        return None, _by_field(exc.problems)


def _by_field(problems: list[str]) -> dict[str, str]:
    keys = [f.key for f in fields()]
    out: dict[str, str] = {}
    for problem in problems:
        quoted = re.match(r"unknown key '([^']+)'", problem)
        path = quoted.group(1) if quoted else problem.split(":", 1)[0].strip()
        target = next((k for k in sorted(keys, key=len, reverse=True) if path == k or path.startswith(k + ".")),
                      None)
        if target is None and path.startswith("model.args") or "model args" in problem or "argument" in problem:
            target = "model.args"
        target = target or "extra"
        out[target] = f"{out[target]}; {problem}" if target in out else problem
    return out
