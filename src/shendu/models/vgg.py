"""VGG (Simonyan & Zisserman 2015, "Very deep convolutional networks for large-scale image recognition").

Stacks of 3×3 stride-1 convolutions with ReLU, each stack closed by a 2×2 stride-2 max-pool, then
three fully connected layers (4096, 4096, classes) with dropout 0.5 after the first two. The paper's
Table 1 configurations A, B, D and E are `vgg11`, `vgg13`, `vgg16` and `vgg19` (the number counts
weight layers). The `_bn` variants insert batch normalization between each convolution and its ReLU,
the widely used later addition (BN is not in the paper), laid out as in torchvision.

Layers are numbered as in torchvision (`features.0.weight`, `classifier.6.bias`, …), so a torchvision
VGG state dict loads into the model built at 224 px unchanged; parameter counts at 224×224×3 with
1000 classes equal torchvision's (VGG-16: 138,357,544).

Small inputs (below 64 px): the five poolings leave a 1×1×512 map at 32 px, and the 7×7×512 → 4096
→ 4096 head would spend 120M parameters on it. As is customary for CIFAR VGG, the head becomes a
global average pool and a single 512 → classes linear layer. The convolutional part is unchanged; the
smallest input is 32 px (five halvings). From 64 px the paper's head reads an s×s map,
s = min(7, side of the last feature map): 7×7 at 224 px as in the paper, the actual side below.

Weights default to Glorot (Xavier) initialization with zero biases: the paper's footnote notes it
trains the deep configurations from scratch without their staged pre-training.
"""
from __future__ import annotations

import torch
from torch import nn

from shendu.errors import BadInputError
from shendu.models._api import MODELS
from shendu.nn import init_weights

POOL = "M"
# Table 1 of the paper: output channels of each 3×3 convolution, "M" a 2×2 max-pool.
CONFIGS: dict[str, list[int | str]] = {
    "A": [64, POOL, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL],
    "B": [64, 64, POOL, 128, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL],
    "D": [64, 64, POOL, 128, 128, POOL, 256, 256, 256, POOL, 512, 512, 512, POOL, 512, 512, 512, POOL],
    "E": [64, 64, POOL, 128, 128, POOL, 256, 256, 256, 256, POOL, 512, 512, 512, 512, POOL,
          512, 512, 512, 512, POOL],
}
SMALL_INPUT = 64  # below this side the head is the CIFAR-style one (see module docstring)
MIN_SIZE = 32


class VGG(nn.Module):
    """VGG with the convolution stack `config` for `input_size`×`input_size` images.

    Args:
        config: one of `CONFIGS` — conv widths and "M" pools in order.
        num_classes: outputs of the last layer.
        in_channels: image channels.
        input_size: image side in pixels; below 64 the head is a global pool and one linear layer.
        batch_norm: batch normalization after every convolution (the `_bn` variants).
        dropout: dropout probability after fc6 and fc7.
    """

    def __init__(self, config: list[int | str], num_classes: int = 1000, in_channels: int = 3,
                 input_size: int = 224, batch_norm: bool = False, dropout: float = 0.5) -> None:
        super().__init__()
        if input_size < MIN_SIZE:
            raise BadInputError(
                f"vgg needs input_size >= {MIN_SIZE} pixels (five 2×2 poolings), received {input_size}; "
                "resize or pad the images up"
            )
        self.features = _features(config, in_channels, batch_norm)
        if input_size < SMALL_INPUT:
            self.stem_note = "small input: global average pool + 512→classes head instead of 4096-4096 FC"
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Linear(512, num_classes))
        else:
            self.stem_note = "ImageNet head: 512×s×s → 4096 → 4096 → classes"
            side = min(7, input_size // 32)
            self.avgpool = nn.AdaptiveAvgPool2d(side)
            self.classifier = nn.Sequential(
                nn.Linear(512 * side * side, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),  # fc6
                nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),  # fc7
                nn.Linear(4096, num_classes),  # fc8
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, 512, H/32, W/32)
        x = self.avgpool(x)  # (B, 512, s, s)
        x = x.flatten(1)  # (B, 512·s·s)
        return self.classifier(x)  # (B, num_classes)


def _features(config: list[int | str], in_channels: int, batch_norm: bool) -> nn.Sequential:
    """conv 3×3 (pad 1, keeps the side) [→ BN] → ReLU for each width; 2×2 max-pool for each "M"."""
    layers: list[nn.Module] = []
    channels = in_channels
    for item in config:
        if item == POOL:
            layers.append(nn.MaxPool2d(2, stride=2))
            continue
        layers.append(nn.Conv2d(channels, int(item), 3, padding=1))
        layers += [nn.BatchNorm2d(int(item))] if batch_norm else []
        layers.append(nn.ReLU(inplace=True))
        channels = int(item)
    return nn.Sequential(*layers)


def _build(config: str, batch_norm: bool, num_classes: int, in_channels: int, input_size: int, dropout: float,
           init: str) -> VGG:
    return init_weights(VGG(CONFIGS[config], num_classes, in_channels, input_size, batch_norm, dropout), init)


_META = {"family": "vgg", "paper": "Simonyan & Zisserman 2015", "modality": "image", "min_size": MIN_SIZE,
         "reference": {"num_classes": 1000, "in_channels": 3, "input_size": 224}}


@MODELS.register("vgg11", **_META)
def vgg11(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, dropout: float = 0.5,
          init: str = "xavier") -> VGG:
    return _build("A", False, num_classes, in_channels, input_size, dropout, init)


@MODELS.register("vgg13", **_META)
def vgg13(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, dropout: float = 0.5,
          init: str = "xavier") -> VGG:
    return _build("B", False, num_classes, in_channels, input_size, dropout, init)


@MODELS.register("vgg16", **_META)
def vgg16(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, dropout: float = 0.5,
          init: str = "xavier") -> VGG:
    return _build("D", False, num_classes, in_channels, input_size, dropout, init)


@MODELS.register("vgg19", **_META)
def vgg19(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, dropout: float = 0.5,
          init: str = "xavier") -> VGG:
    return _build("E", False, num_classes, in_channels, input_size, dropout, init)


@MODELS.register("vgg11_bn", **_META)
def vgg11_bn(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, dropout: float = 0.5,
             init: str = "xavier") -> VGG:
    return _build("A", True, num_classes, in_channels, input_size, dropout, init)


@MODELS.register("vgg13_bn", **_META)
def vgg13_bn(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, dropout: float = 0.5,
             init: str = "xavier") -> VGG:
    return _build("B", True, num_classes, in_channels, input_size, dropout, init)


@MODELS.register("vgg16_bn", **_META)
def vgg16_bn(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, dropout: float = 0.5,
             init: str = "xavier") -> VGG:
    return _build("D", True, num_classes, in_channels, input_size, dropout, init)


@MODELS.register("vgg19_bn", **_META)
def vgg19_bn(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, dropout: float = 0.5,
             init: str = "xavier") -> VGG:
    return _build("E", True, num_classes, in_channels, input_size, dropout, init)
