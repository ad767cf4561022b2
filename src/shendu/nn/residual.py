"""Residual blocks (He, Zhang, Ren & Sun 2016, "Deep residual learning for image recognition").

A block computes y = relu(F(x) + shortcut(x)): the stacked layers F learn a residual on top of the
identity, which is what lets 50–150-layer networks train. Two shapes of F:

- `BasicBlock` (ResNet-18/34 and the CIFAR ResNets): 3×3 conv-BN-ReLU → 3×3 conv-BN.
- `Bottleneck` (ResNet-50/101/152): 1×1 reduce → 3×3 → 1×1 expand ×4, each followed by BN.
  The stride sits on the 3×3 convolution, as in torchvision ("ResNet v1.5"); the paper puts it on the
  first 1×1, which discards three quarters of the input positions before any 3×3 looks at them.
  NVIDIA's v1.5 write-up reports about +0.5% ImageNet top-1 for a few percent more compute.

The shortcut is the identity when input and output shapes agree. When they differ (more channels,
stride 2) the paper gives two options, both available here:

- "A": identity on a subsampled input with the extra channels zero-padded — parameter-free (the paper's
  CIFAR networks, §4.2). The zeros are appended after the real channels; where they go is immaterial,
  the next convolution's weights see a fixed channel order either way;
- "B": a projection, 1×1 convolution with the block's stride + BN (the paper's ImageNet networks).

Sub-modules are named as in torchvision (`conv1`, `bn1`, …, `downsample`) so its state dicts load.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import BadInputError

SHORTCUTS = ("A", "B")


class ZeroPadShortcut(nn.Module):
    """Option A: keep every `stride`-th position and append zero channels up to `out_channels`."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise BadInputError(
                f"zero-padding shortcut: out_channels ({out_channels}) must be >= in_channels ({in_channels}); "
                "use shortcut='B' (projection) to reduce channels"
            )
        self.extra, self.stride = out_channels - in_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # (B, C_in, ⌈H/s⌉, ⌈W/s⌉), like a stride-s 1×1/3×3 conv
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))  # (B, C_out, H', W'): zeros after the real channels


def make_shortcut(in_channels: int, out_channels: int, stride: int, option: str) -> nn.Module:
    """Identity when shapes agree; otherwise option "A" (zero-padding) or "B" (1×1 projection + BN)."""
    if option not in SHORTCUTS:
        raise BadInputError(f"shortcut: expected 'A' (zero-padding) or 'B' (projection), received {option!r}")
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if option == "A":
        return ZeroPadShortcut(in_channels, out_channels, stride)
    return nn.Sequential(  # numbered like torchvision's `downsample.0` / `downsample.1`
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
    )


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers plus the shortcut, ReLU after the addition.

    Args:
        in_channels: channels of the input.
        channels: channels of both convolutions and of the output (`expansion` = 1).
        stride: stride of the first convolution (2 halves the side at a stage's first block).
        shortcut: "A" (zero-padding) or "B" (projection) when the shape changes; identity otherwise.
    """

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, shortcut: str = "B") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)  # BN before the addition: the residual's scale is learned
        self.downsample = make_shortcut(in_channels, channels, stride, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.relu(self.bn1(self.conv1(x)))  # (B, C, H/s, W/s)
        residual = self.bn2(self.conv2(residual))  # (B, C, H/s, W/s)
        return self.relu(residual + self.downsample(x))


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 (carries the stride, v1.5) → 1×1 expand to 4·`channels`, plus the shortcut.

    Args:
        in_channels: channels of the input.
        channels: width of the 1×1 and 3×3 layers; the output has `expansion` × `channels`.
        stride: stride of the 3×3 convolution and of the projection shortcut.
        shortcut: "A" (zero-padding) or "B" (projection) when the shape changes; identity otherwise.
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1, shortcut: str = "B") -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = make_shortcut(in_channels, out_channels, stride, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.relu(self.bn1(self.conv1(x)))  # (B, C, H, W)
        residual = self.relu(self.bn2(self.conv2(residual)))  # (B, C, H/s, W/s)
        residual = self.bn3(self.conv3(residual))  # (B, 4C, H/s, W/s)
        return self.relu(residual + self.downsample(x))
