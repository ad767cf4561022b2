"""Activations and weight initializations selectable by name (`activation="relu"`, `init="he"`)."""
from __future__ import annotations

from typing import Callable

from torch import nn

from shendu._registry import Registry

ACTIVATIONS: Registry[Callable[[], nn.Module]] = Registry("activation")
ACTIVATIONS.add("sigmoid", nn.Sigmoid)
ACTIVATIONS.add("tanh", nn.Tanh)
ACTIVATIONS.add("relu", nn.ReLU)
ACTIVATIONS.add("leaky_relu", lambda: nn.LeakyReLU(0.01))
ACTIVATIONS.add("prelu", nn.PReLU)
ACTIVATIONS.add("elu", nn.ELU)
ACTIVATIONS.add("gelu", nn.GELU)


def activation(name: str) -> nn.Module:
    """A fresh activation module by name; unknown names list the valid ones."""
    return ACTIVATIONS.get(name)()


def _xavier(weight) -> None:
    nn.init.xavier_uniform_(weight)


def _he(weight) -> None:
    nn.init.kaiming_normal_(weight, mode="fan_out" if weight.dim() > 2 else "fan_in", nonlinearity="relu")


INITS: Registry[Callable] = Registry("initialization")
INITS.add("xavier", _xavier)
INITS.add("he", _he)
INITS.add("default", lambda weight: None)  # PyTorch's own per-layer defaults


def init_weights(module: nn.Module, scheme: str = "default") -> nn.Module:
    """Initialize every conv/linear weight with `scheme` ("xavier", "he", "default"); biases to 0."""
    fn = INITS.get(scheme)
    if scheme == "default":
        return module
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            fn(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module
