"""Local response normalization (Krizhevsky, Sutskever & Hinton 2012, §3.3).

Each activation is divided by a power of the summed squares of its neighbours across channels:

    b_i = a_i / (k + α · Σ_{j = i − n/2 … i + n/2} a_j²)^β      (channels j outside 0 … N−1 count as 0)

with the paper's defaults n = 5, k = 2, α = 1e-4, β = 0.75. α multiplies the *sum* here, exactly as in
the paper. `torch.nn.LocalResponseNorm` instead multiplies the *mean* (α/n · Σ), so
`LRN(n, alpha=a)` equals `torch.nn.LocalResponseNorm(n, alpha=a * n)`; a paper value of α copied
into torch's layer normalizes n times less.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import BadInputError


class LRN(nn.Module):
    """Cross-channel local response normalization with the paper's α convention (no parameters).

    For odd `size` (the paper's n = 5) the window is centred: n//2 channels on either side. For even
    `size` it holds n//2 channels before and n//2 − 1 after, the same window as torch's layer.

    Args:
        size: n, the number of adjacent channels summed over (including the channel itself).
        alpha: α, the scale of the sum of squares (not divided by n).
        beta: β, the exponent.
        k: the additive constant that keeps the denominator away from zero.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> None:
        super().__init__()
        if size < 1:
            raise BadInputError(f"LRN size: expected a window of at least 1 channel, received {size}")
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise BadInputError(
                f"LRN expects (B, C, …) with at least one spatial dimension, received shape {tuple(x.shape)}; "
                "normalize feature maps, not flat vectors"
            )
        channels = x.shape[1]
        squares = x.pow(2).transpose(1, -1)  # (B, …, C): channels last so F.pad can reach them
        squares = F.pad(squares, (self.size // 2, (self.size - 1) // 2))  # zero channels past either edge
        squares = squares.transpose(1, -1)  # (B, C + n − 1, …)
        window = sum(squares[:, j : j + channels] for j in range(self.size))  # (B, C, …) Σ a_j² over n channels
        return x / (self.k + self.alpha * window).pow(self.beta)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
