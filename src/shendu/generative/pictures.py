"""Pictures of generative models as PNG files: image grids (reconstructions, samples, interpolations) and a
2-D scatter of the codes coloured by label. Figures use `matplotlib.figure.Figure` on the Agg canvas, never
pyplot, so no GUI backend is touched.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def tile(images: torch.Tensor, rows: int) -> np.ndarray:
    """(N, C, H, W) in [0, 1] → one (rows·H, cols·W[, C]) array with 1-pixel gaps."""
    n, c, h, w = images.shape
    cols = math.ceil(n / rows)
    canvas = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1, c), dtype=np.float32)
    pixels = images.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()  # (N, H, W, C)
    for i in range(n):
        r, col = divmod(i, cols)
        canvas[r * (h + 1):r * (h + 1) + h, col * (w + 1):col * (w + 1) + w] = pixels[i]
    return canvas[..., 0] if c == 1 else canvas


def image_grid(images: torch.Tensor, path: Path, title: str, rows: int) -> Path:
    """Write a grid of images (N, C, H, W) in [0, 1] with a title."""
    grid = tile(images, rows)
    fig = _figure(max(4.0, grid.shape[1] / 28 * 0.7), max(2.0, grid.shape[0] / 28 * 0.7 + 0.5))
    ax = fig.add_subplot()
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    return path


def reconstructions(originals: torch.Tensor, recon: torch.Tensor, path: Path, title: str) -> Path:
    """Originals on the odd rows, their reconstructions underneath. Both (N, C, H, W) in [0, 1]."""
    n = originals.shape[0]
    per_row = min(n, 10)
    rows = []
    for start in range(0, n, per_row):
        rows += [originals[start:start + per_row], recon[start:start + per_row]]
    return image_grid(torch.cat(rows), path, title, rows=len(rows))


def code_scatter(codes: torch.Tensor, labels: torch.Tensor, path: Path, title: str) -> Path:
    """Codes (N, D) as points coloured by label: the codes themselves when D = 2, else their first two
    principal components (the axis labels say which)."""
    codes = codes.detach().double().cpu()
    if codes.shape[1] == 2:
        xy, axes = codes, ("code 1", "code 2")
    else:
        centred = codes - codes.mean(0)
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        xy, axes = centred @ v[:2].t(), ("PC 1 of codes", "PC 2 of codes")
    fig = _figure(6, 5)
    ax = fig.add_subplot()
    points = ax.scatter(xy[:, 0].numpy(), xy[:, 1].numpy(), c=labels.cpu().numpy(), cmap="tab10", s=3, alpha=0.7)
    fig.colorbar(points, ax=ax, label="label")
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    return path


def interpolate(start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
    """Points on the straight line between two codes (D,), both ends included. (steps, D)"""
    alpha = torch.linspace(0, 1, steps, device=start.device, dtype=start.dtype).unsqueeze(1)
    return (1 - alpha) * start + alpha * end
