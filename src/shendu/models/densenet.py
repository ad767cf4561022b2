"""DenseNet (Huang, Liu, van der Maaten & Weinberger 2017, "Densely connected convolutional networks").

The ImageNet DenseNet-BC of the paper's Table 1: a 7×7 stride-2 convolution with 2k filters and a 3×3
stride-2 max-pool, four dense blocks separated by transitions (1×1 conv with compression θ = 0.5,
2×2 average pool), a final BN-ReLU, global average pooling and one fully connected layer. Growth rate
k = 32, bottleneck width 4k; blocks of (6, 12, 24, 16) layers for `densenet121` and (6, 12, 32, 32)
for `densenet169` — the number counts weight layers (2 per dense layer, the stem, 3 transitions, FC).
Layers are named as in torchvision (`features.denseblock1.denselayer1.conv1`, …), so its state dicts
load unchanged and DenseNet-121 has its 7,978,856 parameters at 224×224×3 with 1000 classes.

Small inputs (below 64 px): the stride-4 stem would leave a 32 px image at 1×1 after the third
transition, so the stem becomes a 3×3 stride-1 convolution (same 2k filters) with no max-pool, as in
the paper's CIFAR DenseNets; blocks and transitions are unchanged. A 32 px image then reaches the last
block at 4×4 (224 px: 7×7); the smallest input is 8 px (three transitions halve it to 1×1).

Weights default to He initialization (`init="he"`); batch norm starts at weight 1, bias 0.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from shendu.errors import BadInputError
from shendu.models._api import MODELS
from shendu.nn import init_weights
from shendu.nn.dense import DenseBlock, Transition

SMALL_INPUT = 64  # below this side the stem is adapted (see module docstring)
MIN_SIZE = 8  # three 2×2 transitions pools: 8 px ends at 1×1


class DenseNet(nn.Module):
    """DenseNet-BC: stem → dense blocks with transitions between them → BN-ReLU → global pool → FC.

    Args:
        block_config: dense layers per block, e.g. (6, 12, 24, 16) for DenseNet-121.
        growth_rate: k, channels each dense layer adds.
        bn_size: width of each layer's 1×1 bottleneck in multiples of k.
        compression: θ, the fraction of channels a transition keeps.
        drop_rate: dropout probability inside each dense layer.
        num_classes: outputs of the last layer.
        in_channels: image channels.
        input_size: image side in pixels; below 64 the stem is a 3×3/1 conv without max-pool.
    """

    def __init__(self, block_config: tuple[int, ...], growth_rate: int = 32, bn_size: int = 4,
                 compression: float = 0.5, drop_rate: float = 0.0, num_classes: int = 1000, in_channels: int = 3,
                 input_size: int = 224) -> None:
        super().__init__()
        if input_size < MIN_SIZE:
            raise BadInputError(
                f"densenet needs input_size >= {MIN_SIZE} pixels (three 2×2 transitions), received {input_size}; "
                "resize or pad the images up"
            )
        if not 0.0 < compression <= 1.0:
            raise BadInputError(f"densenet compression: expected 0 < θ <= 1 (paper: 0.5), received {compression}")
        self.stem_note, stem = _stem(in_channels, 2 * growth_rate, input_size)
        self.features = nn.Sequential(OrderedDict(stem))
        channels = 2 * growth_rate
        for i, num_layers in enumerate(block_config, start=1):
            block = DenseBlock(num_layers, channels, growth_rate, bn_size, drop_rate)
            self.features.add_module(f"denseblock{i}", block)
            channels = block.out_channels
            if i < len(block_config):
                self.features.add_module(f"transition{i}", Transition(channels, int(channels * compression)))
                channels = int(channels * compression)
        self.features.add_module(f"norm{len(block_config) + 1}", nn.BatchNorm2d(channels))  # pre-activation: close
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.features(x))  # (B, C, H/32, W/32); (B, C, H/8, W/8) with the small stem
        x = F.adaptive_avg_pool2d(x, 1)  # (B, C, 1, 1)
        x = x.flatten(1)  # (B, C)
        return self.classifier(x)  # (B, num_classes)


def _stem(in_channels: int, width: int, input_size: int) -> tuple[str, list[tuple[str, nn.Module]]]:
    """conv0-norm0-relu0-pool0: 7×7/2 conv + 3×3/2 max-pool, or a 3×3/1 conv alone below 64 px."""
    if input_size < SMALL_INPUT:
        note = "small input: 3×3 stride-1 stem conv, no max-pool (instead of 7×7/2 conv + 3×3/2 pool)"
        conv, pool = nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.Identity()
    else:
        note = "ImageNet stem: 7×7 stride-2 conv + 3×3 stride-2 max-pool"
        conv, pool = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False), nn.MaxPool2d(3, 2, padding=1)
    return note, [("conv0", conv), ("norm0", nn.BatchNorm2d(width)), ("relu0", nn.ReLU(inplace=True)), ("pool0", pool)]


_META = {"family": "densenet", "paper": "Huang et al. 2017", "modality": "image", "min_size": MIN_SIZE,
         "reference": {"num_classes": 1000, "in_channels": 3, "input_size": 224}}


@MODELS.register("densenet121", **_META)
def densenet121(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, drop_rate: float = 0.0,
                init: str = "he") -> DenseNet:
    model = DenseNet((6, 12, 24, 16), 32, 4, 0.5, drop_rate, num_classes, in_channels, input_size)
    return init_weights(model, init)


@MODELS.register("densenet169", **_META)
def densenet169(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, drop_rate: float = 0.0,
                init: str = "he") -> DenseNet:
    model = DenseNet((6, 12, 32, 32), 32, 4, 0.5, drop_rate, num_classes, in_channels, input_size)
    return init_weights(model, init)
