"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document
recognition"): C1 conv 5×5 → S2 subsample → C3 conv 5×5 → S4 subsample → C5 120 → F6 84 → output.

The paper feeds 32×32 images; 28×28 MNIST digits are padded by 2 in C1, as is customary. For inputs
smaller than 28 px (the 8×8 `digits`) the two convolutions use 3×3 kernels with padding 1 so the
layout — two conv/subsample stages then three fully connected layers — survives at that scale.
The paper's subsampling is average pooling and its squashing function a scaled tanh; both are the
defaults here and can be switched (`pool="max"`, `activation="relu"`) for faster training.
"""
from __future__ import annotations

import torch
from torch import nn

from shendu.errors import BadInputError
from shendu.models._api import MODELS
from shendu.nn import activation as make_activation
from shendu.nn import init_weights


class LeNet5(nn.Module):
    """LeNet-5 for `input_size`×`input_size` images with `in_channels` channels."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 32,
                 activation: str = "tanh", pool: str = "avg") -> None:
        super().__init__()
        if input_size < 4:
            raise BadInputError(f"lenet5 needs input_size >= 4 pixels, received {input_size}")
        if pool not in ("avg", "max"):
            raise BadInputError(f"lenet5 pool: expected 'avg' or 'max', received {pool!r}")
        small = input_size < 28
        kernel, pad1, pad2 = (3, 1, 1) if small else (5, max(0, (32 - input_size) // 2), 0)
        Pool = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel, padding=pad1), make_activation(activation), Pool(2),  # C1, S2
            nn.Conv2d(6, 16, kernel, padding=pad2), make_activation(activation), Pool(2),  # C3, S4
        )
        side = _feature_side(input_size, kernel, pad1, pad2)
        self.classifier = nn.Sequential(
            nn.Linear(16 * side * side, 120), make_activation(activation),  # C5
            nn.Linear(120, 84), make_activation(activation),  # F6
            nn.Linear(84, num_classes),  # output
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, 16, s, s)
        x = x.flatten(1)  # (B, 16·s·s)
        return self.classifier(x)  # (B, num_classes)


def _feature_side(size: int, kernel: int, pad1: int, pad2: int) -> int:
    side = (size + 2 * pad1 - kernel + 1) // 2
    side = (side + 2 * pad2 - kernel + 1) // 2
    if side < 1:
        raise BadInputError(f"lenet5: input_size {size} is too small for its two conv/pool stages")
    return side


@MODELS.register("lenet5", family="lenet", paper="LeCun et al. 1998",
                 reference={"num_classes": 10, "in_channels": 1, "input_size": 32})
def lenet5(num_classes: int = 10, in_channels: int = 1, input_size: int = 32, activation: str = "tanh",
           pool: str = "avg", init: str = "default") -> LeNet5:
    return init_weights(LeNet5(num_classes, in_channels, input_size, activation, pool), init)
