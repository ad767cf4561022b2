"""AlexNet (Krizhevsky, Sutskever & Hinton 2012, "ImageNet classification with deep convolutional
neural networks"): five convolutions and three fully connected layers, ReLU after each, local response
normalization after conv1 and conv2, overlapping 3×3 stride-2 max-pooling after conv1, conv2 and
conv5, and dropout 0.5 before fc6 and fc7.

Layer widths follow the single-tower layout of Krizhevsky 2014 ("One weird trick for parallelizing
convolutional neural networks") that torchvision's `alexnet` uses — 64, 192, 384, 256, 256 filters
and 4096, 4096 hidden units, 61,100,840 parameters at 224×224×3 with 1000 classes — not the 2012
paper's two-GPU split (96, 256, 384, 384, 256 filters across two towers, about 60M parameters).
LRN has no parameters, so the count is the same with or without it; torchvision has no LRN, so
`lrn=False` gives its network exactly (the layers are named conv1 … fc8 instead of numbered).

Small inputs (below 64 px): an 11×11 stride-4 first convolution would leave nothing of a 32 px image
after three poolings, so the stem becomes a 5×5 stride-1 convolution and the last pooling (after
conv5) is dropped. A 28 px image then reaches the classifier as 6×6 maps, like 224 px does in the
original; the smallest input is 7 px (7 → 3 → 1 through the two remaining poolings). The standard
stem needs at least 63 px.

The classifier reads an s×s map, s = min(6, side of the last feature map): 6×6 as in the paper at
224 px, and the actual side below that instead of copying a 1×1 or 2×2 map into 36 cells.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from shendu.errors import BadInputError
from shendu.models._api import MODELS
from shendu.nn import init_weights
from shendu.nn.lrn import LRN

SMALL_INPUT = 64  # below this side the stem is adapted (see module docstring)
MIN_SIZE = 7


class AlexNet(nn.Module):
    """AlexNet for `input_size`×`input_size` images with `in_channels` channels.

    Args:
        num_classes: outputs of fc8.
        in_channels: image channels.
        input_size: image side in pixels; below 64 the stem is adapted for small images.
        lrn: local response normalization after conv1 and conv2 (as in the paper).
        dropout: dropout probability before fc6 and fc7.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, lrn: bool = True,
                 dropout: float = 0.5) -> None:
        super().__init__()
        if input_size < MIN_SIZE:
            raise BadInputError(
                f"alexnet needs input_size >= {MIN_SIZE} pixels, received {input_size}; resize the images up"
            )
        small = input_size < SMALL_INPUT
        self.stem_note = (
            "small input: 5×5 stride-1 conv1, no max-pool after conv5" if small
            else "ImageNet stem: 11×11 stride-4 conv1"
        )
        self.features = _features(in_channels, small, lrn)
        side = min(6, _feature_side(input_size, small))
        self.avgpool = nn.AdaptiveAvgPool2d(side)
        self.classifier = nn.Sequential(OrderedDict([
            ("drop6", nn.Dropout(dropout)), ("fc6", nn.Linear(256 * side * side, 4096)), ("relu6", nn.ReLU()),
            ("drop7", nn.Dropout(dropout)), ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU()),
            ("fc8", nn.Linear(4096, num_classes)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, 256, h, w)
        x = self.avgpool(x)  # (B, 256, s, s)
        x = x.flatten(1)  # (B, 256·s·s)
        return self.classifier(x)  # (B, num_classes)


def _features(in_channels: int, small: bool, lrn: bool) -> nn.Sequential:
    """conv1 … conv5 with ReLU; LRN then overlapping max-pool after conv1 and conv2; max-pool after conv5."""
    conv1 = nn.Conv2d(in_channels, 64, 5, padding=2) if small else nn.Conv2d(in_channels, 64, 11, stride=4, padding=2)
    layers: list[tuple[str, nn.Module]] = [("conv1", conv1), ("relu1", nn.ReLU())]
    layers += [("norm1", LRN())] if lrn else []
    layers += [("pool1", nn.MaxPool2d(3, stride=2))]  # 3×3 windows 2 apart overlap: the paper's choice
    layers += [("conv2", nn.Conv2d(64, 192, 5, padding=2)), ("relu2", nn.ReLU())]
    layers += [("norm2", LRN())] if lrn else []
    layers += [("pool2", nn.MaxPool2d(3, stride=2))]
    layers += [("conv3", nn.Conv2d(192, 384, 3, padding=1)), ("relu3", nn.ReLU()),
               ("conv4", nn.Conv2d(384, 256, 3, padding=1)), ("relu4", nn.ReLU()),
               ("conv5", nn.Conv2d(256, 256, 3, padding=1)), ("relu5", nn.ReLU())]
    layers += [] if small else [("pool5", nn.MaxPool2d(3, stride=2))]
    return nn.Sequential(OrderedDict(layers))


def _feature_side(size: int, small: bool) -> int:
    """Side of the conv5 output map for a `size` px input (conv2 … conv5 keep the side)."""
    pool = lambda s: (s - 3) // 2 + 1  # noqa: E731  3×3 stride-2 max-pool, no padding
    if small:
        return pool(pool(size))
    return pool(pool(pool((size + 2 * 2 - 11) // 4 + 1)))


@MODELS.register("alexnet", family="alexnet", paper="Krizhevsky et al. 2012", modality="image", min_size=MIN_SIZE,
                 reference={"num_classes": 1000, "in_channels": 3, "input_size": 224})
def alexnet(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, lrn: bool = True,
            dropout: float = 0.5, init: str = "default") -> AlexNet:
    return init_weights(AlexNet(num_classes, in_channels, input_size, lrn, dropout), init)
