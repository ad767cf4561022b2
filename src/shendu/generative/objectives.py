"""Reconstruction objectives and the input corruptions of denoising autoencoders.

The reconstruction loss is the cross-entropy of Hinton & Salakhutdinov (2006) summed over pixels and
averaged over the batch (nats per image); `recon_sq_error` is their Fig. 2 metric: squared error summed
over pixels, averaged over images, on pixels in [0, 1].
"""
from __future__ import annotations

from typing import Literal

import torch
from torch.nn import functional as F

from shendu.errors import BadInputError

Noise = Literal["none", "gaussian", "masking", "salt_pepper"]


def corrupt(x: torch.Tensor, kind: Noise, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupt a batch of [0, 1] pixels for a denoising autoencoder (Vincent et al. 2008).

    Args:
        x: clean inputs.
        kind: "gaussian" (add N(0, level²), clip to [0, 1]), "masking" (set a `level` fraction to 0),
            "salt_pepper" (set a `level` fraction to 0 or 1 with equal odds), or "none".
        level: noise standard deviation or corrupted fraction.
        generator: a seeded generator for reproducible noise.
    """
    if kind == "none" or level == 0:
        return x
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + level * noise).clamp(0, 1)
    if not 0 <= level <= 1:
        raise BadInputError(f"noise level for {kind!r}: expected a fraction in [0, 1], received {level}")
    hit = torch.rand(x.shape, generator=generator, device=x.device) < level
    if kind == "masking":
        return x.masked_fill(hit, 0.0)
    if kind == "salt_pepper":
        salt = (torch.rand(x.shape, generator=generator, device=x.device) < 0.5).to(x.dtype)
        return torch.where(hit, salt, x)
    raise BadInputError(f"noise type: expected none, gaussian, masking or salt_pepper, received {kind!r}")


def reconstruction_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per image: Σ_pixels BCE(sigmoid(logits), target), mean over the batch (nats)."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / target.shape[0]


def recon_sq_error(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Σ_pixels (sigmoid(logits) - target)², mean over images (Hinton & Salakhutdinov 2006, Fig. 2)."""
    return ((torch.sigmoid(logits) - target) ** 2).flatten(1).sum(1).mean()


def sparsity_penalty(code: torch.Tensor, weight: float) -> torch.Tensor:
    """L1 on the code: weight · mean over the batch of Σ|z|."""
    return weight * code.abs().flatten(1).sum(1).mean()
