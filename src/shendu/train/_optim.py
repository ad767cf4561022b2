"""Optimizers and learning-rate schedules by name, and the parameter groups weight decay needs.

L2 weight decay applies to weights only: biases and normalization parameters (BatchNorm/LayerNorm
scales and shifts, PReLU slopes — every parameter with fewer than two dimensions) are left out, as
is standard practice since they do not cause overfitting and decaying them hurts.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from shendu._registry import Registry
from shendu.config import OptimConfig
from shendu.errors import BadInputError

OPTIMIZERS: Registry[Callable[[list[dict], OptimConfig], torch.optim.Optimizer]] = Registry("optimizer")


def _sgd(groups: list[dict], o: OptimConfig) -> torch.optim.Optimizer:
    if o.nesterov and o.momentum == 0:  # torch would raise a bare ValueError deep in the trainer
        raise BadInputError("optim.nesterov is true but optim.momentum is 0; Nesterov needs momentum "
                            "(set optim.momentum, e.g. 0.9, or optim.nesterov=false)")
    return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov)


OPTIMIZERS.add("sgd", _sgd)
OPTIMIZERS.add("adam", lambda groups, o: torch.optim.Adam(groups, lr=o.lr, betas=(o.beta1, o.beta2)))
OPTIMIZERS.add("adamw", lambda groups, o: torch.optim.AdamW(groups, lr=o.lr, betas=(o.beta1, o.beta2)))
OPTIMIZERS.add("rmsprop", lambda groups, o: torch.optim.RMSprop(groups, lr=o.lr, momentum=o.momentum, alpha=o.alpha))
OPTIMIZERS.add("adagrad", lambda groups, o: torch.optim.Adagrad(groups, lr=o.lr))


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two parameter groups: weights (decayed) and biases/norm parameters (never decayed)."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    """The optimizer named by `optim.name`, with weight decay on weights only."""
    return OPTIMIZERS.get(config.name)(decay_groups(model, config.weight_decay), config)


def build_scheduler(optimizer: torch.optim.Optimizer, config: OptimConfig, epochs: int,
                    steps_per_epoch: int) -> LRScheduler | None:
    """A per-step schedule: `optim.schedule` (none/step/cosine/onecycle) after an optional linear warm-up."""
    total = max(1, epochs * steps_per_epoch)
    warmup = min(total - 1, round(config.warmup_epochs * steps_per_epoch))
    if config.schedule == "none" and warmup == 0:
        return None
    factor = _SCHEDULES[config.schedule](config, total - warmup, steps_per_epoch)

    def multiplier(step: int) -> float:
        if step < warmup:  # linear warm-up from lr/warmup to lr
            return (step + 1) / warmup
        return factor(step - warmup)

    return LambdaLR(optimizer, multiplier)


def _constant(config: OptimConfig, total: int, steps_per_epoch: int) -> Callable[[int], float]:
    return lambda step: 1.0


def _step(config: OptimConfig, total: int, steps_per_epoch: int) -> Callable[[int], float]:
    every = config.step_epochs * steps_per_epoch
    return lambda step: config.gamma ** (step // every)


def _cosine(config: OptimConfig, total: int, steps_per_epoch: int) -> Callable[[int], float]:
    return lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))


def _onecycle(config: OptimConfig, total: int, steps_per_epoch: int) -> Callable[[int], float]:
    """Smith & Topin 2019: rise from lr/25 to lr over the first 30%, then cosine down to lr/1e4."""
    peak = max(1, round(0.3 * total))
    start, end = 1 / 25, 1 / 1e4

    def factor(step: int) -> float:
        if step < peak:
            return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * step / peak))
        progress = min(1.0, (step - peak) / max(1, total - peak))
        return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


_SCHEDULES = {"none": _constant, "step": _step, "cosine": _cosine, "onecycle": _onecycle}


def clip_gradients(parameters: Iterable[torch.Tensor], clip_norm: float | None, clip_value: float | None) -> None:
    """Clip by value (each element into [-v, v]) and/or by global L2 norm, in that order."""
    params = [p for p in parameters if p.grad is not None]
    if clip_value is not None:
        torch.nn.utils.clip_grad_value_(params, clip_value)
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(params, clip_norm)
