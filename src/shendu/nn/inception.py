"""The Inception module (Szegedy et al. 2015, "Going deeper with convolutions", §4 and Figure 2b).

Four branches see the same input and their outputs are concatenated along the channels:

    1×1 conv  ─────────────────────────┐
    1×1 conv (reduce) → 3×3 conv ──────┤
    1×1 conv (reduce) → 5×5 conv ──────┼─ concat → ch1x1 + ch3x3 + ch5x5 + pool_proj channels
    3×3 stride-1 max-pool → 1×1 conv ──┘

The 1×1 "reduce" convolutions shrink the channels before the expensive 3×3 and 5×5 convolutions —
the paper's point: a wide module at a modest cost. Every convolution is followed by a ReLU
(`bn=False`, the paper), or by batch normalization then ReLU (`bn=True`, torchvision's GoogLeNet).
`five_by_five=False` uses a 3×3 convolution in the "5×5" branch, as torchvision's GoogLeNet does
(a known departure from the paper kept there for its ported weights).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

BN_EPS = 1e-3  # torchvision's GoogLeNet (and the TF Inception models) use 0.001, not torch's 1e-5


class ConvBlock(nn.Sequential):
    """Convolution → ReLU, or convolution (no bias: BN has one) → batch norm → ReLU.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel side.
        stride: convolution stride.
        padding: zero padding on each side.
        bn: batch normalization between the convolution and the ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 *, bn: bool = False) -> None:
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=not bn)
        layers: list[tuple[str, nn.Module]] = [("conv", conv)]
        layers += [("bn", nn.BatchNorm2d(out_channels, eps=BN_EPS))] if bn else []
        layers += [("relu", nn.ReLU(inplace=True))]
        super().__init__(OrderedDict(layers))
        self.out_channels = out_channels


class Inception(nn.Module):
    """One Inception module; the argument names follow the columns of the paper's Table 1.

    Args:
        in_channels: input channels.
        ch1x1: "#1×1", outputs of the 1×1 branch.
        ch3x3red: "#3×3 reduce", outputs of the 1×1 convolution before the 3×3.
        ch3x3: "#3×3", outputs of the 3×3 branch.
        ch5x5red: "#5×5 reduce", outputs of the 1×1 convolution before the 5×5.
        ch5x5: "#5×5", outputs of the 5×5 branch.
        pool_proj: "pool proj", outputs of the 1×1 convolution after the max-pool.
        bn: batch normalization after every convolution (torchvision's variant; the paper has none).
        five_by_five: a true 5×5 convolution (paper); False uses 3×3 as torchvision's GoogLeNet does.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int, *, bn: bool = False, five_by_five: bool = True) -> None:
        super().__init__()
        k = 5 if five_by_five else 3
        self.branch1x1 = ConvBlock(in_channels, ch1x1, 1, bn=bn)
        self.branch3x3 = nn.Sequential(
            ConvBlock(in_channels, ch3x3red, 1, bn=bn), ConvBlock(ch3x3red, ch3x3, 3, padding=1, bn=bn)
        )
        self.branch5x5 = nn.Sequential(
            ConvBlock(in_channels, ch5x5red, 1, bn=bn), ConvBlock(ch5x5red, ch5x5, k, padding=k // 2, bn=bn)
        )
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1),  # stride 1, padded: keeps H×W so the branches concatenate
            ConvBlock(in_channels, pool_proj, 1, bn=bn),
        )
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1x1(x), self.branch3x3(x), self.branch5x5(x), self.branch_pool(x)]  # (B, c_i, H, W)
        return torch.cat(branches, dim=1)  # (B, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)
