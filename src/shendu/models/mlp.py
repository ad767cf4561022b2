"""Multi-layer perceptron: h = f(Wᵀx + b), stacked `depth` times, then a linear classifier."""
from __future__ import annotations

import torch
from torch import nn

from shendu.models._api import MODELS
from shendu.nn import activation as make_activation
from shendu.nn import init_weights


class MLP(nn.Module):
    """Flatten → [Linear → activation → Dropout] × depth → Linear.

    Args:
        in_features: inputs per sample (C·H·W for images).
        num_classes: outputs.
        hidden: width of every hidden layer.
        depth: number of hidden layers (0 gives softmax regression).
        activation: name from `shendu.nn.ACTIVATIONS`.
        dropout: dropout probability after each hidden activation.
    """

    def __init__(self, in_features: int, num_classes: int, hidden: int = 256, depth: int = 2,
                 activation: str = "relu", dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), make_activation(activation), nn.Dropout(dropout)]
            width = hidden
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (B, C·H·W)
        return self.classifier(self.features(x))  # (B, num_classes)


@MODELS.register("mlp", family="mlp", paper="Rumelhart, Hinton & Williams 1986",
                 reference={"num_classes": 10, "in_channels": 1, "input_size": 28})
def mlp(num_classes: int = 10, in_channels: int = 1, input_size: int = 28, hidden: int = 256, depth: int = 2,
        activation: str = "relu", dropout: float = 0.0, init: str = "default") -> MLP:
    model = MLP(in_channels * input_size * input_size, num_classes, hidden, depth, activation, dropout)
    return init_weights(model, init)
