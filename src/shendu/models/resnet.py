"""ResNet (He, Zhang, Ren & Sun 2016, "Deep residual learning for image recognition").

ImageNet networks (`resnet18/34/50/101/152`, the paper's Table 1): a 7×7 stride-2 convolution and a
3×3 stride-2 max-pool, four stages of residual blocks with 64, 128, 256 and 512 base channels (the
first block of stages 2–4 halves the side), global average pooling and one fully connected layer.
ResNet-18/34 stack `BasicBlock`s, ResNet-50/101/152 `Bottleneck`s (×4 expansion). Shortcuts that
change shape are projections (the paper's option B). Bottlenecks put their stride on the 3×3
convolution, as torchvision does (v1.5, see `shendu.nn.residual`). Layers are named as in torchvision,
so its state dicts load unchanged and the counts at 224×224×3 with 1000 classes are its counts
(ResNet-18 11,689,512; ResNet-50 25,557,032; ResNet-152 60,192,808).

Small inputs (below 64 px): the 7×7/2 stem and max-pool would shrink a 32 px image to 8 px before the
first block and to 1 px at the last stage, so the stem becomes a 3×3 stride-1 convolution (same 64
filters) with no max-pool, as in the paper's CIFAR networks; the stages are unchanged. A 32 px image
reaches the last stage at 4×4, as a 224 px image reaches it at 7×7.

CIFAR networks (`resnet20/32/56`, §4.2): a 3×3 convolution with 16 filters, three stages of n basic
blocks with 16, 32 and 64 filters on 32, 16 and 8 px maps, global average pooling and a 10-way fully
connected layer: 6n + 2 weight layers. Shortcuts are option A (identity, with zero-padded channels
when the width doubles), so the counts are the paper's Table 6: 0.27M, 0.46M, 0.85M. `shortcut="B"`
uses projections instead. These networks are meant for 32 px and have no stride-4 stem at any size.

Weights default to He initialization (`init="he"`), which the paper introduces and uses; batch norm
starts at weight 1, bias 0.
"""
from __future__ import annotations

from typing import Type, Union

import torch
from torch import nn

from shendu.errors import BadInputError
from shendu.models._api import MODELS
from shendu.nn import init_weights
from shendu.nn.residual import BasicBlock, Bottleneck

Block = Type[Union[BasicBlock, Bottleneck]]
SMALL_INPUT = 64  # below this side the ImageNet stem is replaced (see module docstring)
MIN_SIZE = 8  # three stride-2 stages: 8 px ends at 1×1


def _check_size(name: str, input_size: int) -> None:
    if input_size < MIN_SIZE:
        raise BadInputError(
            f"{name} needs input_size >= {MIN_SIZE} pixels (three stride-2 stages), received {input_size}; "
            "resize or pad the images up"
        )


def _stage(block: Block, in_channels: int, channels: int, blocks: int, stride: int, shortcut: str) -> nn.Sequential:
    """`blocks` residual blocks; only the first changes the side (`stride`) and the width."""
    layers = [block(in_channels, channels, stride, shortcut)]
    layers += [block(channels * block.expansion, channels, 1, shortcut) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet(nn.Module):
    """The ImageNet ResNet: stem → four stages of residual blocks → global pool → FC.

    Args:
        block: `BasicBlock` or `Bottleneck`.
        layers: blocks per stage, e.g. (3, 4, 6, 3) for ResNet-34/50.
        num_classes: outputs of the last layer.
        in_channels: image channels.
        input_size: image side in pixels; below 64 the stem is a 3×3/1 conv without max-pool.
    """

    def __init__(self, block: Block, layers: tuple[int, int, int, int], num_classes: int = 1000,
                 in_channels: int = 3, input_size: int = 224) -> None:
        super().__init__()
        _check_size("resnet", input_size)
        if input_size < SMALL_INPUT:
            self.stem_note = "small input: 3×3 stride-1 stem conv, no max-pool (instead of 7×7/2 conv + 3×3/2 pool)"
            self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            self.maxpool: nn.Module = nn.Identity()
        else:
            self.stem_note = "ImageNet stem: 7×7 stride-2 conv + 3×3 stride-2 max-pool"
            self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        width = block.expansion
        self.layer1 = _stage(block, 64, 64, layers[0], 1, "B")
        self.layer2 = _stage(block, 64 * width, 128, layers[1], 2, "B")
        self.layer3 = _stage(block, 128 * width, 256, layers[2], 2, "B")
        self.layer4 = _stage(block, 256 * width, 512, layers[3], 2, "B")
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64, H/r, W/r), r = 4 or 1 (small stem)
        x = self.layer1(x)  # (B, 64·e, H/r, W/r), e = block expansion
        x = self.layer2(x)  # (B, 128·e, H/2r, W/2r)
        x = self.layer3(x)  # (B, 256·e, H/4r, W/4r)
        x = self.layer4(x)  # (B, 512·e, H/8r, W/8r)
        x = self.avgpool(x)  # (B, 512·e, 1, 1)
        x = x.flatten(1)  # (B, 512·e)
        return self.fc(x)  # (B, num_classes)


class CifarResNet(nn.Module):
    """The CIFAR ResNet of §4.2: 3×3 conv (16) → three stages of n basic blocks (16, 32, 64) → pool → FC.

    Args:
        n: basic blocks per stage; the network has 6n + 2 weight layers.
        num_classes: outputs of the last layer.
        in_channels: image channels.
        input_size: image side in pixels (32 in the paper; only checked against the minimum).
        shortcut: "A" (zero-padding, the paper's CIFAR choice) or "B" (projection) where the width doubles.
    """

    def __init__(self, n: int, num_classes: int = 10, in_channels: int = 3, input_size: int = 32,
                 shortcut: str = "A") -> None:
        super().__init__()
        _check_size(f"resnet{6 * n + 2}", input_size)
        self.stem_note = "CIFAR design (§4.2): 3×3 stride-1 stem with 16 filters, no max-pool, at every size"
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _stage(BasicBlock, 16, 16, n, 1, shortcut)
        self.layer2 = _stage(BasicBlock, 16, 32, n, 2, shortcut)
        self.layer3 = _stage(BasicBlock, 32, 64, n, 2, shortcut)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (B, 16, H, W)
        x = self.layer1(x)  # (B, 16, H, W)
        x = self.layer2(x)  # (B, 32, H/2, W/2)
        x = self.layer3(x)  # (B, 64, H/4, W/4)
        x = self.avgpool(x)  # (B, 64, 1, 1)
        x = x.flatten(1)  # (B, 64)
        return self.fc(x)  # (B, num_classes)


_IMAGENET = {"family": "resnet", "paper": "He et al. 2016", "modality": "image", "min_size": MIN_SIZE,
             "reference": {"num_classes": 1000, "in_channels": 3, "input_size": 224}}
_CIFAR = {"family": "resnet", "paper": "He et al. 2016", "modality": "image", "min_size": MIN_SIZE,
          "reference": {"num_classes": 10, "in_channels": 3, "input_size": 32}}


@MODELS.register("resnet18", **_IMAGENET)
def resnet18(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, init: str = "he") -> ResNet:
    return init_weights(ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, input_size), init)


@MODELS.register("resnet34", **_IMAGENET)
def resnet34(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, init: str = "he") -> ResNet:
    return init_weights(ResNet(BasicBlock, (3, 4, 6, 3), num_classes, in_channels, input_size), init)


@MODELS.register("resnet50", **_IMAGENET)
def resnet50(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, init: str = "he") -> ResNet:
    return init_weights(ResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, input_size), init)


@MODELS.register("resnet101", **_IMAGENET)
def resnet101(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, init: str = "he") -> ResNet:
    return init_weights(ResNet(Bottleneck, (3, 4, 23, 3), num_classes, in_channels, input_size), init)


@MODELS.register("resnet152", **_IMAGENET)
def resnet152(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, init: str = "he") -> ResNet:
    return init_weights(ResNet(Bottleneck, (3, 8, 36, 3), num_classes, in_channels, input_size), init)


@MODELS.register("resnet20", **_CIFAR)
def resnet20(num_classes: int = 10, in_channels: int = 3, input_size: int = 32, shortcut: str = "A",
             init: str = "he") -> CifarResNet:
    return init_weights(CifarResNet(3, num_classes, in_channels, input_size, shortcut), init)


@MODELS.register("resnet32", **_CIFAR)
def resnet32(num_classes: int = 10, in_channels: int = 3, input_size: int = 32, shortcut: str = "A",
             init: str = "he") -> CifarResNet:
    return init_weights(CifarResNet(5, num_classes, in_channels, input_size, shortcut), init)


@MODELS.register("resnet56", **_CIFAR)
def resnet56(num_classes: int = 10, in_channels: int = 3, input_size: int = 32, shortcut: str = "A",
             init: str = "he") -> CifarResNet:
    return init_weights(CifarResNet(9, num_classes, in_channels, input_size, shortcut), init)
