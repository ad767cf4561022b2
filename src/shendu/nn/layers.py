"""The layer registry behind net specs and `Sequential`: `LAYERS.get("conv2d")(in_channels=1, out_channels=6, …)`.

Each entry is a builder taking keyword arguments and returning an `nn.Module`; its signature is the
list of parameters a spec may give (torch's own names: `out_channels`, `kernel_size`, `stride`, …).
Registration metadata tells the spec compiler (`shendu.nn.spec`) what it cannot read from the signature:

- `infer`: `{param: fn(input_shape) -> value}`, parameters filled from the layer's inferred input shape
  (`in_channels`, `in_features`, `num_features`), so a spec never repeats a size the net already knows;
- `arity`: how many input tensors the layer takes, 1 (default) or "many" (merge layers: `add`, `concat`);
- `check`: `fn(named_shapes, params) -> problem or None`, run before the layer sees its inputs, for
  constraints torch would not report clearly (or at all: `add` would broadcast (1, 16, 8, 8) + (1, 1, 8, 8)).

A user's plugin registers its own layer the same way: `@LAYERS.register("my_block", infer={...})`.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn

from shendu._registry import Registry
from shendu.nn._activations import ACTIVATIONS
from shendu.nn.lrn import LRN

LAYERS: Registry[Callable[..., nn.Module]] = Registry("layer")
Shape = Sequence[int]


def _channels(shape: Shape) -> int:
    if len(shape) < 2:
        raise ValueError(f"expected (B, C, …) with a channel dimension, received shape {tuple(shape)}")
    return int(shape[1])  # (B, C, …)


def _features(shape: Shape) -> int:
    if len(shape) < 2:
        raise ValueError(f"expected (B, …, F) with a feature dimension, received shape {tuple(shape)}")
    return int(shape[-1])  # (B, …, F): nn.Linear acts on the last dimension


# -- convolution and fully connected ----------------------------------------------------------------
@LAYERS.register("conv1d", infer={"in_channels": _channels})
def conv1d(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int | str = 0,
           dilation: int = 1, groups: int = 1, bias: bool = True) -> nn.Conv1d:
    return nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)


@LAYERS.register("conv2d", infer={"in_channels": _channels})
def conv2d(in_channels: int, out_channels: int, kernel_size: int | Sequence[int], stride: int | Sequence[int] = 1,
           padding: int | str | Sequence[int] = 0, dilation: int = 1, groups: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)


@LAYERS.register("linear", infer={"in_features": _features})
def linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    return nn.Linear(in_features, out_features, bias)


# -- pooling and reshaping ----------------------------------------------------------------------------
@LAYERS.register("max_pool1d")
def max_pool1d(kernel_size: int, stride: int | None = None, padding: int = 0, ceil_mode: bool = False) -> nn.MaxPool1d:
    return nn.MaxPool1d(kernel_size, stride, padding, ceil_mode=ceil_mode)


@LAYERS.register("max_pool2d")
def max_pool2d(kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None, padding: int = 0,
               dilation: int = 1, ceil_mode: bool = False) -> nn.MaxPool2d:
    """Overlapping pooling (AlexNet's 3×3 stride 2) is `kernel_size: 3, stride: 2`; stride defaults to kernel_size."""
    return nn.MaxPool2d(kernel_size, stride, padding, dilation, ceil_mode=ceil_mode)


@LAYERS.register("avg_pool2d")
def avg_pool2d(kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None, padding: int = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> nn.AvgPool2d:
    return nn.AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad)


@LAYERS.register("adaptive_avg_pool2d")
def adaptive_avg_pool2d(output_size: int | Sequence[int] = 1) -> nn.AdaptiveAvgPool2d:
    return nn.AdaptiveAvgPool2d(output_size)


@LAYERS.register("adaptive_max_pool1d")
def adaptive_max_pool1d(output_size: int = 1) -> nn.AdaptiveMaxPool1d:
    """`output_size: 1` is max-over-time pooling (Kim 2014) over a (B, C, L) sequence of features."""
    return nn.AdaptiveMaxPool1d(output_size)


@LAYERS.register("flatten")
def flatten(start_dim: int = 1, end_dim: int = -1) -> nn.Flatten:
    return nn.Flatten(start_dim, end_dim)


class PadTo(nn.Module):
    """Zero-pad height and width up to `size`, centred; larger sides pass unchanged.

    LeCun et al. (1998) centre each digit in a 32×32 field; `pad_to: 32` does the same for any input,
    so one LeNet spec keeps the paper's layout (and parameter count) for 8, 28 and 32 px images.
    """

    def __init__(self, size: int, value: float = 0.0) -> None:
        super().__init__()
        self.size, self.value = size, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        extra_h, extra_w = max(0, self.size - x.shape[-2]), max(0, self.size - x.shape[-1])
        pad = (extra_w // 2, extra_w - extra_w // 2, extra_h // 2, extra_h - extra_h // 2)  # left, right, top, bottom
        return nn.functional.pad(x, pad, value=self.value)  # (B, C, ≥size, ≥size)

    def extra_repr(self) -> str:
        return f"size={self.size}, value={self.value}"


@LAYERS.register("pad_to")
def pad_to(size: int, value: float = 0.0) -> PadTo:
    return PadTo(size, value)


@LAYERS.register("identity")
def identity() -> nn.Identity:
    return nn.Identity()


# -- normalization and regularization -----------------------------------------------------------------
@LAYERS.register("batch_norm1d", infer={"num_features": _channels})
def batch_norm1d(num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(num_features, eps, momentum, affine)


@LAYERS.register("batch_norm2d", infer={"num_features": _channels})
def batch_norm2d(num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(num_features, eps, momentum, affine)


@LAYERS.register("lrn")
def lrn(size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> LRN:
    """AlexNet's local response normalization with the paper's α convention (see `shendu.nn.lrn`)."""
    return LRN(size, alpha, beta, k)


@LAYERS.register("dropout")
def dropout(p: float = 0.5) -> nn.Dropout:
    return nn.Dropout(p)


# -- activations: every name in shendu.nn.ACTIVATIONS is a layer type of the same name -------------------
def _activation_layer(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        return ACTIVATIONS.get(name)()

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"The {name} activation from `shendu.nn.ACTIVATIONS` (no parameters)."
    return build


for _name in ACTIVATIONS.names():
    LAYERS.add(_name, _activation_layer(_name))


@LAYERS.register("softmax")
def softmax(dim: int = 1) -> nn.Softmax:
    """Probabilities over `dim`. Not for a net trained with cross-entropy, which expects logits."""
    return nn.Softmax(dim)


# -- merge layers: several named inputs, one output -------------------------------------------------
def _fmt(shape: Shape) -> str:
    return str(tuple(int(s) for s in shape))


class Add(nn.Module):
    """Element-wise sum of equally shaped tensors: the merge of a residual connection."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return sum(inputs[1:], inputs[0])


class Concat(nn.Module):
    """Concatenation along `dim` (1: channels), as at the end of an Inception module."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.cat(inputs, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def _same_shapes(shapes: dict[str, Shape], params: dict[str, Any]) -> str | None:
    (first, ref), *rest = shapes.items()
    for name, shape in rest:
        if tuple(shape) != tuple(ref):
            return f"inputs have different shapes {first} {_fmt(ref)} vs {name} {_fmt(shape)}"
    return None


def _same_except_dim(shapes: dict[str, Shape], params: dict[str, Any]) -> str | None:
    (first, ref), *rest = shapes.items()
    dim = params.get("dim", 1)
    for name, shape in rest:
        if len(shape) != len(ref):
            return f"inputs have different ranks {first} {_fmt(ref)} vs {name} {_fmt(shape)}"
        if not isinstance(dim, int) or not -len(ref) <= dim < len(ref):
            return f"dim {dim!r} is out of range for inputs of rank {len(ref)}"
        keep = [i for i in range(len(ref)) if i != dim % len(ref)]
        if any(shape[i] != ref[i] for i in keep):
            return f"inputs differ outside dim {dim}: {first} {_fmt(ref)} vs {name} {_fmt(shape)}"
    return None


@LAYERS.register("add", arity="many", check=_same_shapes)
def add() -> Add:
    return Add()


@LAYERS.register("concat", arity="many", check=_same_except_dim)
def concat(dim: int = 1) -> Concat:
    return Concat(dim)
