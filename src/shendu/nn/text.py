"""1-D convolution over word embeddings with max-over-time pooling (Kim 2014, §2).

A filter of width h spans h consecutive words and the whole embedding: each window x_{t:t+h−1}
(an h × E slice of the sentence) gives one number c_t = f(w · x_{t:t+h−1} + b). Max-over-time pooling
keeps the largest c_t, so a sentence of any length becomes one value per feature map; several widths
(3, 4, 5 words in the paper) are concatenated into a fixed-size sentence vector.

Two details a reader of the paper has to decide:

- A sentence shorter than the widest filter has no complete window for it. It is padded on the right
  to the widest width with zero vectors — the embedding of the padding token when `padding_idx=0`
  (the models pad the token ids themselves, see `shendu.models.text`).
- `lengths` (real tokens per sentence, padding trailing) restricts the max to windows that start no
  later than `length − h` (the paper's windows x_{1:h} … x_{n−h+1:n}), so extra trailing padding in a
  batch never changes a sentence's features. A sentence shorter than h keeps its single first window.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import BadInputError
from shendu.nn._activations import activation as make_activation


class TextConv(nn.Module):
    """Parallel 1-D convolutions of several widths over embeddings, each max-pooled over time.

    Args:
        embed_dim: E, the embedding size (the convolution's input channels: a filter spans all of it).
        widths: filter widths in words, one branch each.
        maps: feature maps (filters) per width.
        activation: name from `shendu.nn.ACTIVATIONS`, applied before the max.

    Shapes: (B, L, E) embeddings [+ (B,) lengths] → (B, len(widths)·maps), branches in `widths` order.
    """

    def __init__(self, embed_dim: int, widths: Sequence[int] = (3, 4, 5), maps: int = 100,
                 activation: str = "relu") -> None:
        super().__init__()
        widths = tuple(widths)
        if not widths or any(int(w) != w or w < 1 for w in widths) or maps < 1 or embed_dim < 1:
            raise BadInputError(
                f"TextConv: expected embed_dim >= 1, maps >= 1 and at least one positive integer width, "
                f"received embed_dim={embed_dim}, maps={maps}, widths={widths}"
            )
        self.embed_dim, self.widths, self.maps = embed_dim, widths, maps
        # One activation module per branch: a learnable one (PReLU) must not be shared across widths.
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv1d(embed_dim, maps, w), make_activation(activation)) for w in widths
        )

    @property
    def out_features(self) -> int:
        """Size of the sentence vector: len(widths) · maps."""
        return len(self.widths) * self.maps

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x)
        x = x.transpose(1, 2)  # (B, E, L): embedding dimensions are the conv channels
        short = max(self.widths) - x.shape[2]
        if short > 0:
            x = F.pad(x, (0, short))  # (B, E, max width): zero vectors = padding tokens' embedding
        pooled = []
        for width, branch in zip(self.widths, self.branches):
            c = branch(x)  # (B, maps, L − width + 1): one value per window
            if lengths is not None:
                c = c.masked_fill(~_valid_windows(lengths, width, c.shape[2]), float("-inf"))
            pooled.append(c.max(dim=2).values)  # (B, maps): max over time
        return torch.cat(pooled, dim=1)  # (B, len(widths)·maps)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[2] != self.embed_dim:
            raise BadInputError(
                f"TextConv expects embeddings of shape (B, L, {self.embed_dim}), received {tuple(x.shape)}; "
                "embed the token ids first (nn.Embedding) and keep the embedding dimension last"
            )

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, widths={self.widths}, maps={self.maps}"


def _valid_windows(lengths: torch.Tensor, width: int, windows: int) -> torch.Tensor:
    """(B, 1, windows) mask of windows that start at t <= max(length − width, 0)."""
    last = (lengths.to(torch.long) - width).clamp(min=0)  # (B,)
    starts = torch.arange(windows, device=lengths.device)  # (windows,)
    return (starts[None, :] <= last[:, None]).unsqueeze(1)  # (B, 1, windows)
