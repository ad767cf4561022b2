"""Data augmentation applied per batch on tensors, with independent random parameters per sample.

Everything is vectorized over the batch (indexing, `affine_grid`/`grid_sample`, broadcasting): no
per-sample Python loop, so augmentation costs a few tensor ops per step on the CPU or the GPU.
Inputs are the standardized floats the model sees; colour jitter works in pixel space by undoing
and redoing the per-channel standardization.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from shendu.config import AugmentConfig
from shendu.train._preprocess import Preprocessing


class BatchAugment:
    """Random crop with padding, horizontal flip, rotation and colour jitter for (B, C, H, W) batches."""

    def __init__(self, config: AugmentConfig, preprocessing: Preprocessing) -> None:
        self.config = config
        self.mean = torch.tensor(preprocessing.mean).view(1, -1, 1, 1)
        self.std = torch.tensor(preprocessing.std).view(1, -1, 1, 1)

    @property
    def active(self) -> bool:
        c = self.config
        return bool(c.crop_padding or c.flip or c.rotation or c.color_jitter)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if c.crop_padding:
            x = random_crop(x, c.crop_padding)
        if c.flip:
            x = random_flip(x)
        if c.rotation:
            x = random_rotation(x, c.rotation)
        if c.color_jitter:
            x = self._jitter(x, c.color_jitter)
        return x

    def _jitter(self, x: torch.Tensor, strength: float) -> torch.Tensor:
        mean, std = self.mean.to(x.device, x.dtype), self.std.to(x.device, x.dtype)
        pixels = x * std + mean  # back to [0, 1] pixel space
        pixels = color_jitter(pixels, strength)
        return (pixels - mean) / std


def _uniform(n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    return torch.empty(n, device=device).uniform_(low, high)


def random_crop(x: torch.Tensor, padding: int) -> torch.Tensor:
    """Zero-pad by `padding` and cut a random H×W window per sample (Krizhevsky 2012 / He 2016 style)."""
    b, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))  # (B, C, H+2p, W+2p)
    dy = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, W)
    batch = torch.arange(b, device=x.device)[:, None, None]  # (B, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (B, C, H, W)


def random_flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror left-right each sample with probability 1/2."""
    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def random_rotation(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate each sample by an angle drawn uniformly from [-degrees, degrees] (zeros fill the corners)."""
    h, w = x.shape[2:]
    angle = _uniform(x.shape[0], -degrees, degrees, x.device) * (math.pi / 180)
    cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
    # affine_grid's coordinates span [-1, 1] on both axes: rescale so an H≠W image turns without shearing
    theta = torch.stack([torch.stack([cos, -sin * (h / w), zero], 1),
                         torch.stack([sin * (w / h), cos, zero], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def color_jitter(pixels: torch.Tensor, strength: float) -> torch.Tensor:
    """Brightness, contrast and (for RGB) saturation factors drawn from [1-s, 1+s] per sample, on [0, 1] pixels."""
    b = pixels.shape[0]
    shape = (b, 1, 1, 1)
    brightness = _uniform(b, 1 - strength, 1 + strength, pixels.device).view(shape)
    contrast = _uniform(b, 1 - strength, 1 + strength, pixels.device).view(shape)
    pixels = pixels * brightness
    gray = _gray(pixels)
    pixels = (pixels - gray.mean(dim=(1, 2, 3), keepdim=True)) * contrast + gray.mean(dim=(1, 2, 3), keepdim=True)
    if pixels.shape[1] == 3:
        saturation = _uniform(b, 1 - strength, 1 + strength, pixels.device).view(shape)
        gray = _gray(pixels)
        pixels = (pixels - gray) * saturation + gray
    return pixels.clamp(0.0, 1.0)


def _gray(pixels: torch.Tensor) -> torch.Tensor:
    if pixels.shape[1] != 3:
        return pixels.mean(dim=1, keepdim=True)
    weights = torch.tensor([0.299, 0.587, 0.114], device=pixels.device, dtype=pixels.dtype).view(1, 3, 1, 1)
    return (pixels * weights).sum(dim=1, keepdim=True)  # (B, 1, H, W), ITU-R 601 luma
