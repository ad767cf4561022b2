"""Keras-like Python APIs over the net-spec compiler: `Sequential([...])` and a small functional graph.

    from shendu.nn.sequential import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential

    model = Sequential([Conv2d(6, 5), ReLU(), MaxPool2d(2), Flatten(), Linear(10)], input_shape=(1, 28, 28))
    model = Sequential([{"type": "conv2d", "out_channels": 6, "kernel_size": 5}, "relu", "flatten", Linear(10)])

The design, in one place:

- A `Layer` is a *description* (a `LAYERS` type and its params), not a module: `Conv2d(6, 5)` is
  `Layer("conv2d", 6, 5)`, positional arguments binding to the type's params in order, the inferred ones
  (`in_channels`, `in_features`, `num_features`) skipped. Unknown types and params fail right here.
- `Sequential` and `Graph` only write a net spec (`model.spec`, a plain dict you can save as YAML) and
  compile it with `shendu.nn.spec.compile_spec`: one implementation of shape inference and errors.
- Input sizes are inferred when the input shape is known: pass `input_shape=(C, H, W)` (without the
  batch), call `model.build(input_shape)`, or let the first forward call build it. Until it is built the
  model has no parameters, so build it before creating an optimizer.

The functional graph expresses branches and merges, each Layer called once on symbolic tensors:

    x = Input()
    a = ReLU()(Conv2d(16, 3, padding=1)(x))
    b = Conv2d(16, 3, padding=1)(a)
    y = Linear(10)(Flatten()(AdaptiveAvgPool2d(1)(Add()(a, b))))
    model = Graph(x, y, input_shape=(3, 32, 32))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import nn

from shendu.errors import BadInputError
from shendu.nn.layers import LAYERS
from shendu.nn.spec import LAYER_KEYS, SpecNet, check_layer_params, check_layer_type, compile_spec, param_names


class Layer:
    """A layer description: `Layer("conv2d", 6, 5, stride=2)` (positional args follow the type's params).

    Args:
        layer_type: a `LAYERS` name such as "conv2d".
        *args: params in the order of the type's builder, inferred ones skipped
            (conv2d: out_channels, kernel_size, stride, padding, …).
        name: the layer's name in the spec (default `<type>_<k>`).
        **params: params by name.
    """

    def __init__(self, layer_type: str, *args: Any, name: str | None = None, **params: Any) -> None:
        check_layer_type(layer_type, "Layer")
        inferred = LAYERS.meta(layer_type).get("infer", {})
        positional = [p for p in param_names(layer_type) if p not in inferred]
        where = f"{layer_type} layer" + (f" {name!r}" if name else "")
        if len(args) > len(positional):
            raise BadInputError(f"{where}: takes at most {len(positional)} positional params "
                                f"({', '.join(positional) or 'none'}), received {len(args)}")
        by_position = dict(zip(positional, args))
        for param in by_position.keys() & params.keys():
            raise BadInputError(f"{where}: {param} given both by position and by name")
        params = {**by_position, **params}
        check_layer_params(layer_type, params, where)
        self.type, self.name, self.params = layer_type, name, params
        self._called = False

    def to_dict(self) -> dict[str, Any]:
        """The layer as a spec entry: {"name"?, "type", **params}."""
        return {**({"name": self.name} if self.name else {}), "type": self.type, **self.params}

    def __call__(self, *inputs: "Symbol") -> "Symbol":
        """Functional API: this layer applied to symbolic tensors (an `Input()` or other layers' outputs)."""
        if self._called:
            raise BadInputError(f"{self!r} was already called; a Layer describes one layer with its own "
                                "weights (shared weights are not expressible in a net spec): create another")
        if not inputs or not all(isinstance(i, Symbol) for i in inputs):
            raise BadInputError(f"{self!r}: expected symbolic tensors from Input() or other layers, "
                                f"received {[type(i).__name__ for i in inputs]}")
        self._called = True
        return Symbol(self, inputs)

    def __repr__(self) -> str:
        args = [f"name={self.name!r}"] * bool(self.name) + [f"{k}={v!r}" for k, v in self.params.items()]
        return f"Layer({self.type!r}{''.join(', ' + a for a in args)})"


def _shortcut(layer_type: str, title: str) -> Callable[..., Layer]:
    def make(*args: Any, **params: Any) -> Layer:
        return Layer(layer_type, *args, **params)

    make.__name__ = make.__qualname__ = title
    make.__doc__ = f"`Layer({layer_type!r}, …)`: positional args follow the {layer_type} params in order."
    return make


Conv1d, Conv2d, Linear = _shortcut("conv1d", "Conv1d"), _shortcut("conv2d", "Conv2d"), _shortcut("linear", "Linear")
MaxPool1d, MaxPool2d = _shortcut("max_pool1d", "MaxPool1d"), _shortcut("max_pool2d", "MaxPool2d")
AvgPool2d = _shortcut("avg_pool2d", "AvgPool2d")
AdaptiveAvgPool2d = _shortcut("adaptive_avg_pool2d", "AdaptiveAvgPool2d")
AdaptiveMaxPool1d = _shortcut("adaptive_max_pool1d", "AdaptiveMaxPool1d")
Flatten, Identity = _shortcut("flatten", "Flatten"), _shortcut("identity", "Identity")
PadTo = _shortcut("pad_to", "PadTo")
BatchNorm1d, BatchNorm2d = _shortcut("batch_norm1d", "BatchNorm1d"), _shortcut("batch_norm2d", "BatchNorm2d")
Dropout, LRN = _shortcut("dropout", "Dropout"), _shortcut("lrn", "LRN")
ReLU, Tanh, Sigmoid = _shortcut("relu", "ReLU"), _shortcut("tanh", "Tanh"), _shortcut("sigmoid", "Sigmoid")
LeakyReLU, PReLU = _shortcut("leaky_relu", "LeakyReLU"), _shortcut("prelu", "PReLU")
ELU, GELU, Softmax = _shortcut("elu", "ELU"), _shortcut("gelu", "GELU"), _shortcut("softmax", "Softmax")
Add, Concat = _shortcut("add", "Add"), _shortcut("concat", "Concat")


# -- the compiled module ----------------------------------------------------------------------------
class SpecModule(nn.Module):
    """A net spec compiled when its input shape is known (at construction, `build()` or the first call).

    Args:
        spec: the net spec dict (see `shendu.nn.spec`).
        input_shape: the input's shape without the batch, e.g. (1, 28, 28); None to build later.
        variables: values for `$name` params such as `{"num_classes": 10}`.
    """

    def __init__(self, spec: dict[str, Any], input_shape: Sequence[int] | None = None,
                 variables: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.spec, self.variables = spec, dict(variables or {})
        self.net: SpecNet | None = None
        if input_shape is not None:
            self.build(input_shape)

    def build(self, input_shape: Sequence[int]) -> "SpecModule":
        """Compile for `input_shape` (no batch dimension); a second call rebuilds with fresh weights."""
        self.net = compile_spec(self.spec, tuple(int(s) for s in input_shape), self.variables)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.net is None:  # lazy: the first batch tells the input shape
            self.build(x.shape[1:]).to(x.device)
        return self.net(x)


class Sequential(SpecModule):
    """Layers applied one after another, each reading the previous one's output.

    Args:
        layers: `Layer`s (`Conv2d(6, 5)`), spec dicts (`{"type": "relu"}`) or type names (`"relu"`).
        input_shape: the input's shape without the batch; None to build on `build()` or the first call.
        variables: values for `$name` params, e.g. `{"num_classes": 10}` for `Linear("$num_classes")`.
        name: the spec's name.
    """

    def __init__(self, layers: Sequence[Layer | dict[str, Any] | str], input_shape: Sequence[int] | None = None,
                 variables: dict[str, Any] | None = None, name: str = "sequential") -> None:
        spec = {"name": name, "layers": [_as_layer(item, i).to_dict() for i, item in enumerate(layers)]}
        super().__init__(spec, input_shape, variables)


def _as_layer(item: Layer | dict[str, Any] | str, index: int) -> Layer:
    if isinstance(item, Layer):
        return item
    if isinstance(item, str):
        return Layer(item)
    if isinstance(item, dict) and "type" in item:
        wired = [key for key in ("inputs", "outputs") if key in item]
        if wired:
            raise BadInputError(f"Sequential layer #{index + 1}: {', '.join(wired)} are not allowed (each layer "
                                "reads the previous one); use a net spec or Graph for branches")
        params = {k: v for k, v in item.items() if k not in LAYER_KEYS}
        return Layer(item["type"], name=item.get("name"), **params)
    raise BadInputError(f"Sequential layer #{index + 1}: expected a Layer such as Conv2d(6, 5), a dict with a "
                        f"'type' or a type name such as 'relu', received {item!r}")


# -- the functional graph ---------------------------------------------------------------------------
@dataclass(eq=False)
class Symbol:
    """A tensor in a graph being described (no data): the output of `layer` applied to `inputs`."""

    layer: Layer | None
    inputs: tuple["Symbol", ...] = ()
    name: str = ""  # the net input's name; a layer's output is named after its layer in the spec


def Input(name: str = "x") -> Symbol:  # noqa: N802  (capitalized like the Layer shortcuts, as in Keras)
    """The graph's input tensor."""
    return Symbol(None, (), name)


class Graph(SpecModule):
    """A net described by calling Layers on symbolic tensors, from `net_input` to `output`.

    Args:
        net_input: the `Input()` the graph starts from.
        output: the symbolic tensor the net returns.
        input_shape, variables: as for `Sequential`.
        name: the spec's name.
    """

    def __init__(self, net_input: Symbol, output: Symbol, input_shape: Sequence[int] | None = None,
                 variables: dict[str, Any] | None = None, name: str = "graph") -> None:
        super().__init__(graph_spec(net_input, output, name), input_shape, variables)


def graph_spec(net_input: Symbol, output: Symbol, name: str = "graph") -> dict[str, Any]:
    """The net spec of the layers between `net_input` and `output`, producers before their readers."""
    nodes = _postorder(output)
    strays = {s.name for node in nodes for s in node.inputs if s.layer is None and s is not net_input}
    if strays or output is net_input:
        raise BadInputError(f"Graph: the output must be computed from the graph's input {net_input.name!r} only "
                            f"(other inputs: {sorted(strays) or 'none'}; layers between them: {len(nodes)})")
    taken = {net_input.name} | {node.layer.name for node in nodes if node.layer.name}
    names, counts, layers = {id(net_input): net_input.name}, {}, []
    for node in nodes:
        layer_name = node.layer.name
        while layer_name is None or (layer_name in taken and node.layer.name is None):
            counts[node.layer.type] = counts.get(node.layer.type, 0) + 1
            layer_name = f"{node.layer.type}_{counts[node.layer.type]}"
        taken.add(layer_name)
        names[id(node)] = layer_name
        inputs = [names[id(s)] for s in node.inputs]
        layers.append({"name": layer_name, "type": node.layer.type, **node.layer.params, "inputs": inputs})
    return {"name": name, "inputs": [net_input.name], "layers": layers, "output": names[id(output)]}


def _postorder(output: Symbol) -> list[Symbol]:
    order: list[Symbol] = []
    seen: set[int] = set()

    def visit(symbol: Symbol) -> None:
        if id(symbol) in seen or symbol.layer is None:
            return
        seen.add(id(symbol))
        for parent in symbol.inputs:
            visit(parent)
        order.append(symbol)

    visit(output)
    return order
