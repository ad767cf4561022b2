"""One training step and one epoch, with every technique the config can switch on: autocast (bf16/fp16
with a GradScaler), augmentation, input/hidden/weight noise, L1, label smoothing, auxiliary heads,
gradient clipping, per-step schedules, max-norm constraints and DDP sharding."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F

from shendu.config import ExperimentConfig
from shendu.train import _distributed as ddp
from shendu.train._augment import BatchAugment
from shendu.train._metrics import MetricSums
from shendu.train._optim import clip_gradients
from shendu.train._regularize import l1_penalty, weight_noise
from shendu.train._speed import Precision

AUX_WEIGHT = 0.3  # GoogLeNet (Szegedy et al. 2015): auxiliary losses are added with weight 0.3


class NonFiniteLoss(Exception):
    """Raised inside the loop; the trainer turns it into a TrainingDivergedError with context."""

    def __init__(self, value: float, step: int) -> None:
        super().__init__(value, step)
        self.value, self.step = value, step


@dataclass
class Loop:
    """Everything a step needs. `model` may be DDP-wrapped or compiled; `module` is the plain model."""

    config: ExperimentConfig
    model: nn.Module
    module: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    precision: Precision
    augment: BatchAugment | None
    num_classes: int
    dist: ddp.DistInfo = field(default_factory=ddp.DistInfo)
    channels_last: bool = False
    scaler: Any = None
    regression: bool = False  # mean squared error on float targets (B, T) instead of cross-entropy on labels

    def loss(self, output: Any, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(training loss, main logits). Tuple outputs are (main, aux…) heads, as GoogLeNet's in training."""
        smoothing = self.config.regularize.label_smoothing
        heads = list(output) if isinstance(output, (tuple, list)) else [output]
        main = heads[0].float()
        if self.regression:
            return F.mse_loss(main, target), main
        loss = F.cross_entropy(main, target, label_smoothing=smoothing)
        for aux in heads[1:]:
            loss = loss + AUX_WEIGHT * F.cross_entropy(aux.float(), target, label_smoothing=smoothing)
        return loss, main

    def step(self, xb: torch.Tensor, yb: torch.Tensor, check: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, backward, clip, update; returns (loss, main logits), both detached."""
        reg = self.config.regularize
        if self.augment is not None:
            xb = self.augment(xb)
        if reg.noise_input > 0:
            xb = xb + reg.noise_input * torch.randn_like(xb)
        if self.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with weight_noise(self.module, reg.noise_weights):
            with self.precision.autocast(xb.device):
                loss, logits = self.loss(self.model(xb), yb)
            if reg.l1 > 0:
                loss = loss + reg.l1 * l1_penalty(self.module)
            if check and not ddp.all_finite(loss, self.dist):
                raise NonFiniteLoss(loss.item(), 0)
            self.optimizer.zero_grad(set_to_none=True)
            (self.scaler.scale(loss) if self.scaler else loss).backward()
        self._update()
        return loss.detach(), logits.detach()

    def _update(self) -> None:
        optim = self.config.optim
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        clip_gradients(self.module.parameters(), optim.clip_norm, optim.clip_value)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        max_norm = getattr(self.module, "apply_max_norm", None)  # e.g. TextCNN's l2 constraint (Kim 2014)
        if callable(max_norm):
            max_norm()

    def epoch(self, x: torch.Tensor, y: torch.Tensor, epoch: int,
              progress: Callable[[int, int], Any]) -> dict[str, float]:
        """One pass over (x, y) in a shuffled order that depends only on (seed, epoch)."""
        cfg = self.config.train
        self.model.train()
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        order = torch.randperm(x.shape[0], generator=generator).to(x.device)
        sums = MetricSums(self.num_classes, x.device, top5=False, classify=not self.regression)
        steps = math.ceil(x.shape[0] / cfg.batch_size)
        check_every = 1 if x.device.type == "cpu" and not self.dist.enabled else cfg.log_every
        with progress(steps, epoch) as advance:
            for step in range(steps):
                index = ddp.shard(order[step * cfg.batch_size:(step + 1) * cfg.batch_size], self.dist)
                yb = y[index]
                try:
                    loss, logits = self.step(x[index], yb, check=step % check_every == 0 or step == steps - 1)
                except NonFiniteLoss as exc:
                    raise NonFiniteLoss(exc.value, step) from None
                sums.update(logits, yb, loss * yb.shape[0])
                advance(step, loss)
        return sums.result("train", self.dist)
