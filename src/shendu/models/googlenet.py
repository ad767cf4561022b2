"""GoogLeNet / Inception-v1 (Szegedy et al. 2015, "Going deeper with convolutions", Table 1 and §5).

A stem (7×7/2 conv, 3×3/2 max-pool, LRN, 1×1 and 3×3 convs, LRN, 3×3/2 max-pool), nine Inception
modules (3a 3b | pool | 4a … 4e | pool | 5a 5b), global average pooling, dropout 0.4 and one linear
layer. Two auxiliary classifiers read the outputs of 4a and 4d during training — 5×5/3 average
pool, 1×1 conv with 128 filters, FC 1024, dropout 0.7, FC classes — and the trainer adds 0.3 × their
losses, as in the paper. So in training mode `forward` returns `GoogLeNetOutputs(logits, aux1, aux2)`;
in eval mode only the main logits (the auxiliary heads are then not computed).

Two registered variants:
- `googlenet` follows the paper: no batch norm, a true 5×5 convolution in the 5×5 branch, 3×3/2
  max-pools, LRN after the stem's first pool and after its 3×3 conv (Figure 3; `lrn=False` omits it)
  with the BVLC Caffe replication's constants (n = 5, α = 1e-4 averaged over n, β = 0.75, k = 1),
  Xavier initialization as in that replication (its biases start at 0.2, ours at 0). 13,378,280
  parameters at 224×224×3 with 1000 classes including the two auxiliary heads (`list_models()`
  reports this), 6,998,552 without. (Table 1's own "params" column adds up to about 6.8M: its rows
  are rounded and some do not follow from the widths in the same table, so the tests derive the
  count from the widths.)
- `googlenet_tv` is torchvision's `googlenet`: conv → BN (ε = 0.001) → ReLU everywhere, 3×3 in the
  "5×5" branch, a 2×2/2 max-pool before 5a, dropout 0.2, auxiliary heads pooled adaptively to 4×4
  and off by default (`aux_logits=False`): 6,624,904 parameters, the count of torchvision's ImageNet
  weights, which come without auxiliary heads. Layers map one to one onto torchvision's.

Max-pools between stages are 3×3 stride 2 in ceil mode (Caffe's rounding, also torchvision's): 224 px
reaches the Inception stages at 28, 14 and 7 px.

Small inputs (below 64 px): the 7×7/2 conv and the stem's two max-pools would shrink a 32 px image
to 4 px before the first Inception module, so conv1 becomes a 3×3 stride-1 conv and both stem pools
are dropped (the common CIFAR GoogLeNet layout); the rest of the stem and the Inception stack are
unchanged. 32 px then meets 3a at 32 px, 4a at 16 and 5a at 8; 28 px gives 28, 14, 7 — the sides
224 px gives at 4a and 5a. The paper's 5×5/3 auxiliary pool turns a 14–16 px map into the 4×4 its
FC 1024 expects (224 px, and 28–32 px with the small stem); at any other size the auxiliary heads
pool adaptively to 4×4 instead, so their shapes and parameter counts do not depend on the input
size. The smallest input is 8 px: 4a then sees 4×4, below that the auxiliary pools would have to
invent cells.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple, Union

import torch
from torch import nn

from shendu.errors import BadInputError
from shendu.models._api import MODELS
from shendu.nn import init_weights
from shendu.nn.inception import ConvBlock, Inception
from shendu.nn.lrn import LRN

SMALL_INPUT = 64  # below this side the stem is adapted (see module docstring)
MIN_SIZE = 8
AUX_SIDE = 4  # the auxiliary heads' 4×4×128 map feeds FC 1024 (paper §5: 4×4×512 after the pool)

# Table 1 of the paper: (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj) of each Inception module.
TABLE1 = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


@dataclass(frozen=True)
class Variant:
    """What differs between the paper's network and torchvision's.

    Attributes:
        bn: batch normalization after every convolution.
        five_by_five: a true 5×5 convolution in the Inception modules' 5×5 branch.
        pool4_kernel: side of the max-pool between 4e and 5a (stride 2).
        paper_aux_pool: the auxiliary heads use the paper's 5×5/3 average pool where it yields 4×4.
    """

    bn: bool
    five_by_five: bool
    pool4_kernel: int
    paper_aux_pool: bool


PAPER = Variant(bn=False, five_by_five=True, pool4_kernel=3, paper_aux_pool=True)
TORCHVISION = Variant(bn=True, five_by_five=False, pool4_kernel=2, paper_aux_pool=False)


class GoogLeNetOutputs(NamedTuple):
    """Training-mode outputs: the main logits and those of the auxiliary heads after 4a and 4d."""

    logits: torch.Tensor
    aux1: torch.Tensor
    aux2: torch.Tensor


def _max_pool(kernel: int = 3) -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel, stride=2, ceil_mode=True)  # ceil: 112 → 56 → 28 → 14 → 7, as in Caffe


def _stem(in_channels: int, small: bool, bn: bool, lrn: bool) -> nn.Sequential:
    """conv1 → pool1 → norm1 → conv2_reduce → conv2 → norm2 → pool2; small: 3×3/1 conv1, no pools."""
    # Caffe's LRN averages α over the n channels; shendu's LRN takes α for the sum (see shendu.nn.lrn).
    norm = partial(LRN, size=5, alpha=1e-4 / 5, beta=0.75, k=1.0)
    conv1 = ConvBlock(in_channels, 64, 3, padding=1, bn=bn) if small else ConvBlock(in_channels, 64, 7, 2, 3, bn=bn)
    layers: list[tuple[str, nn.Module]] = [("conv1", conv1)]
    layers += [] if small else [("pool1", _max_pool())]
    layers += [("norm1", norm())] if lrn else []
    layers += [("conv2_reduce", ConvBlock(64, 64, 1, bn=bn)), ("conv2", ConvBlock(64, 192, 3, padding=1, bn=bn))]
    layers += [("norm2", norm())] if lrn else []
    layers += [] if small else [("pool2", _max_pool())]
    return nn.Sequential(OrderedDict(layers))


class InceptionAux(nn.Module):
    """Auxiliary classifier (§5): average pool to 4×4 → 1×1 conv 128 → FC 1024 → ReLU → dropout → FC.

    Args:
        in_channels: channels of the Inception output it reads (512 after 4a, 528 after 4d).
        num_classes: outputs.
        pool: the pooling that turns the map into 4×4 (see `_aux_pool`).
        bn: batch normalization after the 1×1 conv (torchvision's variant).
        dropout: dropout probability before the last FC (0.7 in the paper).
    """

    def __init__(self, in_channels: int, num_classes: int, pool: nn.Module, bn: bool, dropout: float = 0.7) -> None:
        super().__init__()
        self.pool = pool
        self.conv = ConvBlock(in_channels, 128, 1, bn=bn)
        self.fc1 = nn.Linear(128 * AUX_SIDE * AUX_SIDE, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pool(x))  # (B, 128, 4, 4)
        x = x.flatten(1)  # (B, 2048)
        x = self.dropout(self.relu(self.fc1(x)))  # (B, 1024)
        return self.fc2(x)  # (B, num_classes)


def _aux_pool(side: int, paper: bool) -> nn.Module:
    """The paper's 5×5/3 average pool where it yields 4×4 (a 14–16 px map), else adaptive to 4×4."""
    if paper and (side - 5) // 3 + 1 == AUX_SIDE:
        return nn.AvgPool2d(5, stride=3)
    return nn.AdaptiveAvgPool2d(AUX_SIDE)


def _side_at_4a(size: int, small: bool) -> int:
    """Side of the feature map that 4a (and the first auxiliary head) sees for a `size` px input."""
    pool = lambda s: -(-(s - 3) // 2) + 1  # noqa: E731  3×3 stride-2 max-pool, ceil mode
    if not small:
        size = pool(pool((size - 1) // 2 + 1))  # conv1 7×7/2 padding 3, pool1, pool2
    return pool(size)  # pool3


class GoogLeNet(nn.Module):
    """GoogLeNet for `input_size`×`input_size` images with `in_channels` channels.

    Args:
        variant: `PAPER` or `TORCHVISION` (see `Variant`).
        num_classes: outputs of the main and auxiliary classifiers.
        in_channels: image channels.
        input_size: image side in pixels; below 64 the stem is adapted for small images.
        aux_logits: build the two auxiliary classifiers (used in training mode only).
        lrn: local response normalization in the stem (paper, Figure 3).
        dropout: dropout probability before the main classifier (0.4 in the paper).
        aux_dropout: dropout probability in the auxiliary classifiers (0.7 in the paper).
    """

    def __init__(self, variant: Variant, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                 aux_logits: bool = True, lrn: bool = True, dropout: float = 0.4, aux_dropout: float = 0.7) -> None:
        super().__init__()
        if input_size < MIN_SIZE:
            raise BadInputError(
                f"googlenet needs input_size >= {MIN_SIZE} pixels (4a must see at least 4×4 for the auxiliary "
                f"heads), received {input_size}; resize or pad the images up"
            )
        small = input_size < SMALL_INPUT
        self.stem_note = (
            "small input: conv1 3×3 stride 1, no max-pools in the stem" if small
            else "ImageNet stem: conv1 7×7 stride 2, two 3×3 stride-2 max-pools"
        )
        self.aux_logits = aux_logits
        block = partial(Inception, bn=variant.bn, five_by_five=variant.five_by_five)
        aux = partial(InceptionAux, num_classes=num_classes, bn=variant.bn, dropout=aux_dropout)
        aux_side = _side_at_4a(input_size, small)
        self.stem = _stem(in_channels, small, variant.bn, lrn)
        self.inception3a, self.inception3b = block(192, *TABLE1["3a"]), block(256, *TABLE1["3b"])
        self.pool3 = _max_pool()
        self.inception4a = block(480, *TABLE1["4a"])
        self.aux1 = aux(512, pool=_aux_pool(aux_side, variant.paper_aux_pool)) if aux_logits else None
        self.inception4b, self.inception4c = block(512, *TABLE1["4b"]), block(512, *TABLE1["4c"])
        self.inception4d = block(512, *TABLE1["4d"])
        self.aux2 = aux(528, pool=_aux_pool(aux_side, variant.paper_aux_pool)) if aux_logits else None
        self.inception4e = block(528, *TABLE1["4e"])
        self.pool4 = _max_pool(variant.pool4_kernel)
        self.inception5a, self.inception5b = block(832, *TABLE1["5a"]), block(832, *TABLE1["5b"])
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # the paper's 7×7/1 average pool at 224 px, any size here
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, GoogLeNetOutputs]:
        x = self.stem(x)  # (B, 192, H/8, W/8); small inputs: (B, 192, H, W)
        x = self.pool3(self.inception3b(self.inception3a(x)))  # (B, 480, H/16, W/16)
        x = self.inception4a(x)  # (B, 512, H/16, W/16)
        heads = self.aux_logits and self.training
        aux1 = self.aux1(x) if heads else None  # (B, num_classes)
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # (B, 528, H/16, W/16)
        aux2 = self.aux2(x) if heads else None  # (B, num_classes)
        x = self.pool4(self.inception4e(x))  # (B, 832, H/32, W/32)
        x = self.inception5b(self.inception5a(x))  # (B, 1024, H/32, W/32)
        x = self.avgpool(x).flatten(1)  # (B, 1024)
        logits = self.fc(self.dropout(x))  # (B, num_classes)
        return GoogLeNetOutputs(logits, aux1, aux2) if heads else logits


@MODELS.register("googlenet", family="googlenet", paper="Szegedy et al. 2015", modality="image", min_size=MIN_SIZE,
                 reference={"num_classes": 1000, "in_channels": 3, "input_size": 224})
def googlenet(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, aux_logits: bool = True,
              lrn: bool = True, dropout: float = 0.4, init: str = "xavier") -> GoogLeNet:
    model = GoogLeNet(PAPER, num_classes, in_channels, input_size, aux_logits, lrn, dropout)
    return init_weights(model, init)


@MODELS.register("googlenet_tv", family="googlenet", paper="Szegedy et al. 2015 (torchvision variant)",
                 modality="image", min_size=MIN_SIZE,
                 reference={"num_classes": 1000, "in_channels": 3, "input_size": 224})
def googlenet_tv(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, aux_logits: bool = False,
                 dropout: float = 0.2, init: str = "default") -> GoogLeNet:
    model = GoogLeNet(TORCHVISION, num_classes, in_channels, input_size, aux_logits, lrn=False, dropout=dropout)
    return init_weights(model, init)
