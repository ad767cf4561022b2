"""Layer-by-layer model summaries: output shapes, parameters and MACs per layer, plus totals.

The per-layer numbers come from torchinfo (a forward pass with hooks on every module): small, pure
Python, maintained, and it gives output shapes, parameters and MACs per module in one pass.
`torch.utils.flop_counter.FlopCounterMode` counts FLOPs per module too, but neither shapes nor
parameters, so a layer table would need hooks besides; fvcore has had no release since 2022.

Counting convention (torchinfo 1.8), stated because papers differ:
  - a convolution costs (weights + biases) × output positions multiply-accumulates, i.e. every
    output element costs C_in·k·k MACs for its weights plus 1 for its bias;
  - a linear layer costs in·out + out (the bias again counts 1 per output);
  - a recurrent layer costs its parameters once per time step and sequence;
  - layers without parameters (activations, pooling, dropout, flatten) and functional calls inside
    `forward` (`torch.cat`, `F.relu`, `x + y`) count 0; BatchNorm counts 2 per channel;
  - two corrections to torchinfo, which charges every other parametrized layer its parameter count
    per output row: an embedding lookup costs 0 (it multiplies nothing), and a recurrent layer fed a
    packed sequence costs its parameters per token (torchinfo multiplies by tokens × hidden size);
  - FLOPs are reported as 2 × MACs (one multiply and one add each).
All counts are for one sample (batch 1).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

import torch
from rich.table import Table
from torch import nn

from shendu.errors import BadInputError

TEXT_DEFAULT_LENGTH = 64  # tokens, when a text model is shown without --input


@dataclass(frozen=True)
class LayerRow:
    """One module in call order.

    Attributes:
        name: dotted module path, e.g. "layer1.0.conv1" (the `scope` of the graph export).
        type: the module's class name.
        depth: nesting depth, 1 for the model's direct children.
        output_shape: shape of the module's output with the batch dimension (first tensor of a tuple).
        params: parameters of this module including its children.
        macs: multiply-accumulates of this module including its children, for one sample.
        leaf: True when the module has no children.
        reused: True when this is a second call of a module already listed (shared weights).
    """

    name: str
    type: str
    depth: int
    output_shape: Optional[list[int]]
    params: int
    macs: int
    leaf: bool
    reused: bool = False


@dataclass
class ModelSummary:
    """What `shendu zoo show` prints: the layer rows and the model's totals.

    Attributes:
        model: the model's name (registry name or class name).
        input_shape: one sample's shape without the batch dimension, (C, H, W) or (L,).
        modality: "image" (float pixels) or "text" (int64 token ids).
        rows: modules down to the requested depth, in call order.
        params: all parameters of the model (`sum(p.numel())`, shared tensors once).
        trainable_params: those with `requires_grad`.
        macs: multiply-accumulates of one forward pass on one sample (convention in the module doc).
        activation_bytes: bytes of every leaf module's output for one sample — roughly what a forward
            pass keeps for the backward pass (in-place and functional ops are not counted).
        param_bytes: bytes of all parameters.
        stem_note: how a small-input variant adapted its stem, when the model says so.
        notes: anything else the reader should know (e.g. parameters the forward pass did not use).
    """

    model: str
    input_shape: list[int]
    modality: str
    rows: list[LayerRow]
    params: int
    trainable_params: int
    macs: int
    activation_bytes: int
    param_bytes: int
    stem_note: Optional[str] = None
    notes: list[str] = field(default_factory=list)

    @property
    def flops(self) -> int:
        """Floating-point operations, counted as 2 × MACs."""
        return 2 * self.macs

    def totals(self) -> dict[str, int]:
        return {"params": self.params, "trainable_params": self.trainable_params, "macs": self.macs,
                "flops": self.flops, "activation_bytes": self.activation_bytes, "param_bytes": self.param_bytes}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: model, input_shape, modality, stem_note, notes, rows, totals."""
        return {"model": self.model, "input_shape": list(self.input_shape), "modality": self.modality,
                "stem_note": self.stem_note, "notes": list(self.notes),
                "rows": [asdict(row) for row in self.rows], "totals": self.totals()}

    def table(self) -> Table:
        """The rows as a rich Table, children indented under their parents; totals in the caption."""
        shape = "×".join(map(str, self.input_shape))
        table = Table(title=f"{self.model} · input {shape}", caption=self._caption(), caption_justify="left")
        table.add_column("layer", no_wrap=True)  # dotted paths are copied into --graph lookups: never fold
        table.add_column("type")
        table.add_column("output shape")
        table.add_column("params", justify="right")
        table.add_column("MACs", justify="right")
        for row in self.rows:
            style = None if row.leaf else "dim"
            params = "(reused)" if row.reused and row.params else _count(row.params)
            out = "×".join(map(str, row.output_shape)) if row.output_shape else "--"
            table.add_row("  " * (row.depth - 1) + row.name, row.type, out, params, _count(row.macs), style=style)
        return table

    def _caption(self) -> str:
        lines = [f"params {self.params:,} (trainable {self.trainable_params:,})",
                 f"MACs {_human(self.macs)} · FLOPs ≈ {_human(self.flops)}",
                 f"activations {self.activation_bytes / 1e6:.2f} MB · weights {self.param_bytes / 1e6:.2f} MB"]
        if self.stem_note:
            lines.append(f"stem: {self.stem_note}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def summarize(model: nn.Module, input_shape: Sequence[int], *, depth: int = 3, name: Optional[str] = None,
              modality: Optional[str] = None) -> ModelSummary:
    """Summarize `model` on one sample of `input_shape`, in eval mode.

    Eval mode because models with auxiliary heads (GoogLeNet) return a tuple in training mode and
    because a summary must not update BatchNorm statistics; the model's mode is restored afterwards.

    Args:
        model: any nn.Module.
        input_shape: one sample's shape without the batch dimension: (C, H, W) for images, (L,) —
            a sequence length — for text models, which receive int64 token ids.
        depth: deepest nesting level listed in `rows` (totals always cover the whole model).
        name: shown as the model's name; defaults to its class name.
        modality: "image" or "text"; by default "text" for a 1-D `input_shape`, else "image".

    Raises:
        BadInputError: `depth` is negative, or the forward pass fails on this input shape.
    """
    import torchinfo

    if depth < 0:
        raise BadInputError(f"summary depth: expected an integer >= 0, received {depth}")
    name = name or type(model).__name__
    modality = modality or infer_modality(input_shape)
    x = example_input(model, input_shape, modality)
    try:
        stats = torchinfo.summary(model, input_data=[x], depth=depth, mode="eval", verbose=0)
    except RuntimeError as exc:
        raise forward_error(name, x, exc.__cause__ or exc) from exc
    finally:
        # torchinfo keeps the last layer list per class name (holding the model) even with caching off
        getattr(torchinfo.torchinfo, "_cached_forward_pass", {}).pop(type(model).__name__, None)
    layers = stats.summary_list
    params = sum(p.numel() for p in model.parameters())
    summary = ModelSummary(
        model=name, input_shape=list(input_shape), modality=modality,
        rows=[_row(layer) for layer in layers if 1 <= layer.depth <= depth],
        params=params, trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        macs=sum(_macs(layer) for layer in layers if layer.is_leaf_layer),
        activation_bytes=sum(int(layer.output_bytes) for layer in layers if layer.is_leaf_layer),
        param_bytes=sum(p.numel() * p.element_size() for p in model.parameters()),
        stem_note=getattr(model, "stem_note", None),
    )
    unused = _unused_params(model, layers)
    if unused:
        summary.notes.append(f"{unused:,} parameters belong to modules this forward pass does not run "
                             "(e.g. auxiliary heads, used in training mode only)")
    return summary


def _unused_params(model: nn.Module, layers: list[Any]) -> int:
    """Parameters held directly by modules the forward pass never called."""
    ran = {id(layer.module) for layer in layers}
    unused = {id(p): p.numel() for m in model.modules() if id(m) not in ran for p in m.parameters(recurse=False)}
    return sum(unused.values())


def _row(layer: Any) -> LayerRow:
    """A torchinfo LayerInfo as a row; a container's MACs are the sum of its leaves' (torchinfo's own
    figure for a container charges all its parameters per output row, which is not that sum)."""
    macs = _macs(layer) if layer.is_leaf_layer else sum(_macs(c) for c in layer.children if c.is_leaf_layer)
    return LayerRow(name=_path(layer), type=layer.class_name, depth=layer.depth,
                    output_shape=list(layer.output_size) or None, params=int(layer.num_params), macs=int(macs),
                    leaf=layer.is_leaf_layer, reused=layer.is_recursive)


def _macs(layer: Any) -> int:
    """A leaf layer's MACs with the two corrections of the module docstring."""
    if isinstance(layer.module, (nn.Embedding, nn.EmbeddingBag)):
        return 0
    if isinstance(layer.module, nn.RNNBase) and len(layer.output_size) == 2:  # (tokens, D·H): packed or unbatched
        return int(layer.output_size[0] * layer.num_params)
    return int(layer.macs)


def _path(layer: Any) -> str:
    parts = []
    while layer is not None and layer.depth > 0:
        parts.append(layer.var_name)
        layer = layer.parent_info
    return ".".join(reversed(parts))


def example_input(model: nn.Module, input_shape: Sequence[int], modality: Optional[str] = None) -> torch.Tensor:
    """One deterministic sample with a batch dimension of 1, on the model's device.

    Text models get token ids in [1, vocab) — never 0, which text models treat as padding (an
    all-padding input would give zero lengths) — with the vocabulary read from the first Embedding.
    """
    modality = modality or infer_modality(input_shape)
    first = next(iter(model.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    generator = torch.Generator().manual_seed(0)
    if modality == "text":
        embedding = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
        vocab = embedding.num_embeddings if embedding is not None else 2
        tokens = torch.randint(1, max(vocab, 2), (1, *input_shape), generator=generator)  # (1, L)
        return tokens.to(device)
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    return torch.randn((1, *input_shape), generator=generator).to(device=device, dtype=dtype)  # (1, C, H, W)


def infer_modality(input_shape: Sequence[int]) -> str:
    """ "text" for a 1-D sample shape (a sequence length), else "image"."""
    return "text" if len(input_shape) == 1 else "image"


def forward_error(name: str, x: torch.Tensor, cause: BaseException) -> BadInputError:
    """The error for a forward pass that fails on the sample: most often a shape the model cannot take."""
    shape = "×".join(map(str, x.shape[1:]))
    return BadInputError(f"{name}: the forward pass failed on one sample of shape {shape} ({cause}) — "
                         "pass an input shape the model accepts, e.g. its reference size (zoo list)")


def parse_input_shape(text: str, modality: str = "image") -> tuple[int, ...]:
    """Parse `--input`: "3x32x32" (C×H×W) for image models, "64" (sequence length) for text models.

    Raises:
        BadInputError: the text is not of the expected form; the message shows the expected form.
    """
    expected = "a sequence length like 64" if modality == "text" else "CxHxW like 3x32x32"
    parts = re.split(r"[x×X*,]", text.strip())
    dims = len(parts) == (1 if modality == "text" else 3) and all(p.strip().isdigit() for p in parts)
    if not dims or any(int(p) < 1 for p in parts):
        article = "a" if modality == "text" else "an"
        raise BadInputError(f"--input: expected {expected} for {article} {modality} model, received {text!r}")
    return tuple(int(p) for p in parts)


def build_for_input(name: str, input_shape: Optional[Sequence[int]] = None,
                    num_classes: Optional[int] = None) -> tuple[nn.Module, tuple[int, ...]]:
    """Build registered model `name` for one input shape (default: the model's reference size).

    Args:
        name: registry name (see `shendu.models.list_models()`).
        input_shape: (C, H, W) with H == W for image models, (L,) for text models.
        num_classes: outputs; default the reference setting's, else 10.

    Returns:
        The model and the input shape it was built for.

    Raises:
        UnknownNameError: `name` is not registered (with did-you-mean suggestions).
        BadInputError: the shape has the wrong form or is below the model's `min_size`.
    """
    from shendu.models import MODELS, create_model

    meta = MODELS.meta(name)
    reference = dict(meta.get("reference", {}))
    reference_classes = reference.pop("num_classes", 10)
    num_classes = num_classes or reference_classes
    if meta.get("modality", "image") == "text":
        shape = tuple(input_shape or (TEXT_DEFAULT_LENGTH,))
        _check_text_shape(name, shape)
        reference = {k: v for k, v in reference.items() if k not in ("in_channels", "input_size")}
        return create_model(name, num_classes=num_classes, **reference), shape
    shape = tuple(input_shape or (reference.get("in_channels", 3),) + (reference.get("input_size", 32),) * 2)
    _check_image_shape(name, shape, meta.get("min_size", 1))
    reference.update(in_channels=shape[0], input_size=shape[1])
    return create_model(name, num_classes=num_classes, **reference), shape


def _check_text_shape(name: str, shape: tuple[int, ...]) -> None:
    if len(shape) != 1:
        received = "×".join(map(str, shape))
        raise BadInputError(f"{name} is a text model: expected a sequence length like 64, received {received}")


def _check_image_shape(name: str, shape: tuple[int, ...], min_size: int) -> None:
    received = "×".join(map(str, shape))
    if len(shape) != 3 or shape[1] != shape[2]:
        raise BadInputError(f"{name}: expected a square image shape CxSxS like 3x32x32, received {received}")
    if shape[1] < min_size:
        raise BadInputError(f"{name} needs images of at least {min_size}×{min_size} px, received {received} "
                            f"— try --input {shape[0]}x{min_size}x{min_size}")


def _count(n: int) -> str:
    return f"{n:,}" if n else "--"


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)}"
