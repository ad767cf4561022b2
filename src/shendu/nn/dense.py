"""Dense blocks (Huang, Liu, van der Maaten & Weinberger 2017, "Densely connected convolutional networks").

Inside a dense block every layer sees the concatenation of the block input and all earlier layers'
outputs, and adds `growth_rate` (k) new channels: a block of L layers maps C channels to C + L·k.
Each layer is the paper's DenseNet-B "bottleneck" composite function BN-ReLU-Conv(1×1, bn_size·k) →
BN-ReLU-Conv(3×3, k) — pre-activation, unlike ResNet. Between blocks a `Transition` (BN-ReLU-Conv 1×1
→ 2×2 average pool) halves the side and, with compression θ (DenseNet-C), keeps ⌊θ·C⌋ channels.

Sub-modules are named as in torchvision (`denselayer1.norm1`, `transition1.conv`, …) so its state
dicts load.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DenseLayer(nn.Module):
    """BN-ReLU-Conv(1×1) → BN-ReLU-Conv(3×3): `in_channels` in, `growth_rate` new channels out.

    Args:
        in_channels: channels of the concatenated input.
        growth_rate: k, the channels this layer adds.
        bn_size: width of the 1×1 bottleneck in multiples of k (4 in the paper).
        drop_rate: dropout probability on the new channels (the paper uses 0.2 on CIFAR without
            augmentation, 0 on ImageNet).
    """

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int = 4, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.drop_rate = drop_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.relu1(self.norm1(x)))  # (B, bn_size·k, H, W)
        x = self.conv2(self.relu2(self.norm2(x)))  # (B, k, H, W)
        return F.dropout(x, self.drop_rate, self.training)


class DenseBlock(nn.Module):
    """`num_layers` dense layers, each fed the concatenation of everything before it.

    Args:
        num_layers: L; the block outputs `in_channels + L·growth_rate` channels.
        in_channels: channels of the block input.
        growth_rate: k, channels added per layer.
        bn_size: bottleneck width in multiples of k.
        drop_rate: dropout probability inside each layer.
    """

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, bn_size: int = 4,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        for i in range(num_layers):  # registered one by one: keys `denselayer1…`, as in torchvision
            layer = DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)  # (B, C + i·k, H, W): the input stays a prefix
        return x


class Transition(nn.Module):
    """BN-ReLU-Conv(1×1) to `out_channels`, then 2×2 average pooling (halves the side)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.pool = nn.AvgPool2d(2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.relu(self.norm(x)))  # (B, C_out, H, W)
        return self.pool(x)  # (B, C_out, H/2, W/2)
