"""Regularizers that act on the model during training: dropout override, Gaussian noise on hidden
activations and on weights, and the L1 penalty. Each is inert in eval mode."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from shendu.config import RegularizeConfig
from shendu.errors import BadInputError
from shendu.nn import ACTIVATIONS

_ACTIVATION_TYPES = tuple({type(ACTIVATIONS.get(name)()) for name in ACTIVATIONS.names()})


def set_dropout(model: nn.Module, p: float) -> int:
    """Override the rate of every dropout layer; returns how many were changed."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    for layer in layers:
        layer.p = p
    return len(layers)


def add_hidden_noise(model: nn.Module, std: float, layers: list[str]) -> list[torch.utils.hooks.RemovableHandle]:
    """Add N(0, std²) noise to the outputs of the named modules (default: every activation), training only."""
    named = dict(model.named_modules())
    if layers:
        unknown = [name for name in layers if name not in named]
        if unknown:
            from shendu._registry import nearest

            hints = {u: nearest(u, list(named)) for u in unknown}
            raise BadInputError(f"regularize.noise_layers: no module named {unknown} in the model "
                                f"(closest: {hints}; list them with `shendu zoo show MODEL`)")
        targets = [named[name] for name in layers]
    else:
        targets = [m for m in model.modules() if isinstance(m, _ACTIVATION_TYPES)]

    def hook(module: nn.Module, inputs, output: torch.Tensor) -> torch.Tensor | None:
        if module.training and isinstance(output, torch.Tensor):
            return output + std * torch.randn_like(output)
        return None

    return [module.register_forward_hook(hook) for module in targets]


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """Σ|w| over weights (parameters with ≥ 2 dimensions; biases and norm parameters excluded)."""
    return sum(p.abs().sum() for p in model.parameters() if p.requires_grad and p.ndim >= 2)


@contextmanager
def weight_noise(model: nn.Module, std: float) -> Iterator[None]:
    """Perturb the weights with N(0, std²) for one forward/backward, then restore them exactly
    (Graves 2011): the gradient is computed at noisy weights and applied to the clean ones."""
    if std <= 0:
        yield
        return
    weights = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    clean = [p.detach().clone() for p in weights]  # restored bit for bit (w + n - n may round)
    with torch.no_grad():
        for p in weights:
            p.add_(std * torch.randn_like(p))
    try:
        yield
    finally:
        with torch.no_grad():
            for p, saved in zip(weights, clean):
                p.copy_(saved)


def apply(model: nn.Module, config: RegularizeConfig) -> list:
    """Install the model-level regularizers of `config`; returns hook handles (remove them to undo)."""
    if config.dropout is not None:
        set_dropout(model, config.dropout)
    if config.noise_hidden > 0:
        return add_hidden_noise(model, config.noise_hidden, config.noise_layers)
    if config.noise_layers:
        raise BadInputError("regularize.noise_layers is set but regularize.noise_hidden is 0; set the noise std too")
    return []
