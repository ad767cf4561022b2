"""The model registry: `create_model(name, num_classes=…, in_channels=…, input_size=…)`.

A model is a builder function registered with metadata, a few lines each (house style 2):

    @MODELS.register("resnet50", family="resnet", paper="He et al. 2016", modality="image", min_size=32,
                     reference={"num_classes": 1000, "in_channels": 3, "input_size": 224})
    def resnet50(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> ResNet:
        return ResNet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, in_channels=in_channels, ...)

Metadata keys: `family`, `paper`, `modality` ("image" or "text"), `min_size` (smallest input side the
model accepts, default 1), `reference` (the keyword arguments of the paper's setting, used for the
parameter count in `list_models()`), `freeze_args` (optional callable turning user args into
self-contained args for a package, e.g. a net-spec file path into the spec itself).
Image builders take `num_classes`, `in_channels`, `input_size`; text builders take `num_classes`,
`vocab_size` and their own arguments (`in_channels`/`input_size` are passed only if accepted).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from torch import nn

from shendu._registry import Registry
from shendu.errors import BadInputError

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


def create_model(
    name: str, num_classes: int = 10, in_channels: int = 1, input_size: int = 28, **args: Any
) -> nn.Module:
    """Build a registered model.

    Args:
        name: registry name, e.g. "lenet5" (see `list_models()`).
        num_classes: size of the output layer.
        in_channels: image channels (1 for grayscale, 3 for RGB).
        input_size: height = width of the input images in pixels.
        **args: the builder's own keyword arguments (`hidden`, `activation`, …).
    """
    builder = MODELS.get(name)
    check_model_args(name, args)
    params = inspect.signature(builder).parameters
    common = {"in_channels": in_channels, "input_size": input_size}
    common = {k: v for k, v in common.items() if k in params or _has_var_keyword(params)}
    return builder(num_classes=num_classes, **common, **args)


def _has_var_keyword(params: Any) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in params.values())


def list_models() -> list[dict[str, Any]]:
    """One row per model: name, family, paper and parameter count at the model's reference size."""
    rows = []
    for name in MODELS.names():
        meta = MODELS.meta(name)
        reference = meta.get("reference", {})
        with torch.device("meta"):  # shapes only: no memory, no initialization cost (ResNet-152 in ms)
            model = create_model(name, **reference)
        params = sum(p.numel() for p in model.parameters())
        rows.append({"name": name, "family": meta.get("family", name), "paper": meta.get("paper", ""),
                     "modality": meta.get("modality", "image"), "params": params, "reference": reference})
    return rows


def check_model_args(name: str, args: dict[str, Any]) -> None:
    """Unknown builder arguments fail with the valid ones listed (not a bare TypeError)."""
    from shendu._registry import nearest

    params = inspect.signature(MODELS.get(name)).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    valid = [p for p in params if p not in ("num_classes", "in_channels", "input_size")]
    for key in args:
        if key not in params or key in ("num_classes", "in_channels", "input_size"):
            close = nearest(key, valid)
            hint = f" — did you mean '{close[0]}'?" if close else ""
            raise BadInputError(
                f"model {name!r} has no argument 'model.args.{key}'{hint} (valid: {', '.join(valid) or 'none'})"
            )
