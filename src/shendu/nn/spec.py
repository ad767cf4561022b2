"""Declarative nets (the role of Caffe's prototxt): a YAML/JSON spec compiled to an `nn.Module`.

    name: tiny_resnet
    inputs: [x]                     # the net's one input tensor; default [x]
    layers:
      - {name: stem, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}   # input: x (the net input)
      - {name: act, type: relu}                                                    # input: stem (previous layer)
      - {name: conv, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
      - {name: sum, type: add, inputs: [act, conv]}                                # a residual connection
      - {name: pool, type: adaptive_avg_pool2d}
      - {name: flat, type: flatten}
      - {name: logits, type: linear, out_features: $num_classes}
    output: logits                  # default: the last layer's output

Every layer has a `type` from `shendu.nn.layers.LAYERS` and that type's params. `inputs` name the tensors
it reads (default: the previous layer's outputs; the net input for the first layer); `outputs` name the
tensors it writes (default: `[name]`); `name` defaults to `<type>_<k>`. Layers may be listed in any
order: they run in a topological order of the named tensors, so branches, concatenations and residual
additions are just names. Params that follow from the input (`in_channels`, `in_features`,
`num_features`) are inferred, and `$num_classes`, `$in_channels`, `$input_size` stand for the values the
net is built with, so one spec serves every dataset.

Compilation propagates a (1, C, H, W) tensor on the meta device (shapes only, no memory or compute)
through each layer, so a wrong spec fails before training with an error naming the layer:
unknown type or param, missing param, dangling input, duplicate name, mismatched shapes, a layer that
fails on its inferred input, a cycle, a layer whose output is never used, an output nobody produces.
"""
from __future__ import annotations

import copy
import inspect
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import torch
import yaml
from torch import nn

from shendu._registry import nearest
from shendu.errors import BadInputError
from shendu.nn.layers import LAYERS

SPEC_KEYS = ("name", "description", "inputs", "layers", "output")
LAYER_KEYS = ("name", "type", "inputs", "outputs")  # every other key of a layer is a param of its type
_RESERVED = set(dir(nn.ModuleDict()))  # a layer called "keys" or "training" would shadow ModuleDict's own


class SpecError(BadInputError):
    """A net spec is malformed or does not fit its input; the message names the layer."""


@dataclass(frozen=True)
class Step:
    """One layer of a compiled spec: what it reads, what it writes and the arguments of its builder."""

    name: str
    type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[str, Any]


# -- loading ---------------------------------------------------------------------------------------
def load_spec(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """The spec as a plain dict: from a YAML or JSON file, or a copy of the dict given."""
    if isinstance(source, dict):
        return copy.deepcopy(source)
    if not isinstance(source, (str, Path)):
        raise SpecError(f"net spec: expected a file path or a dict, received {type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise SpecError(f"net spec file not found: {path} (expected a YAML or JSON file such as "
                        f"examples/nets/lenet.yaml; relative paths start at the working directory {Path.cwd()})")
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"net spec {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"net spec {path}: expected a mapping with 'layers', received {type(raw).__name__}")
    return raw


# -- compiling -------------------------------------------------------------------------------------
def compile_spec(spec: str | Path | dict[str, Any], input_shape: Sequence[int],
                 variables: dict[str, Any] | None = None) -> "SpecNet":
    """Check a spec, infer every layer's input shape and build the net.

    Args:
        spec: a path to a YAML/JSON file, or the spec dict.
        input_shape: the shape of the net input without the batch dimension, e.g. (1, 28, 28).
        variables: values for `$name` references in params; `in_channels` defaults to the input's
            leading dimension. The `net_spec` model passes `num_classes`, `in_channels` and `input_size`.

    Raises:
        SpecError: the spec is malformed or does not fit the input; the message names the layer.
    """
    raw = load_spec(spec)
    known = {"in_channels": int(input_shape[0])} if len(input_shape) else {}
    known.update(variables or {})
    name, net_input, steps, output = _normalize(raw, known)
    steps = _topological_order(steps, net_input, output)
    steps, shapes = _infer_shapes(steps, net_input, input_shape)
    return SpecNet(name, net_input, output, steps, shapes, raw)


def _normalize(raw: dict[str, Any], variables: dict[str, Any]) -> tuple[str, str, list[Step], str]:
    """Fill the defaults (names, inputs, outputs), resolve `$variables` and check each layer's params."""
    _check_keys("net spec", raw, SPEC_KEYS, "top-level key")
    inputs = _names(raw.get("inputs", ["x"]), "net spec 'inputs'")
    if len(inputs) != 1:  # one input keeps forward(x) traceable by torch.fx (no *args)
        raise SpecError(f"net spec 'inputs': expected one input such as [x], received {list(inputs)}")
    layers = raw.get("layers")
    if not isinstance(layers, list) or not layers:
        raise SpecError("net spec: 'layers' must be a non-empty list of layers such as "
                        f"{{type: conv2d, out_channels: 6, kernel_size: 5}}, received {layers!r}")
    names = _layer_names(layers)
    steps: list[Step] = []
    previous = inputs
    for layer, name in zip(layers, names):
        where = f"layer {name!r}"
        _check_keys(where, layer, LAYER_KEYS + param_names(layer["type"]), "param", layer["type"])
        params = {k: v for k, v in layer.items() if k not in LAYER_KEYS}
        check_layer_params(layer["type"], params, where)
        params = {k: _substitute(v, variables, where) for k, v in params.items()}
        step_inputs = _names(layer.get("inputs", list(previous)), f"{where} 'inputs'")
        outputs = _names(layer.get("outputs", [name]), f"{where} 'outputs'")
        steps.append(Step(name, layer["type"], step_inputs, outputs, params))
        previous = outputs
    output = raw.get("output", steps[-1].outputs[0])
    if not isinstance(output, str):
        raise SpecError(f"net spec 'output': expected the name of a tensor, received {output!r}")
    return str(raw.get("name", "net")), inputs[0], steps, output


def _layer_names(layers: list[Any]) -> list[str]:
    """Each layer's name (given, or `<type>_<k>`), after checking it is a mapping with a known type."""
    given: dict[str, int] = {}
    for index, layer in enumerate(layers):
        named = isinstance(layer, dict) and isinstance(layer.get("name"), str)
        where = f"layer {layer['name']!r}" if named else f"layer #{index + 1}"
        if not isinstance(layer, dict):
            raise SpecError(f"{where}: expected a mapping such as {{type: relu}}, received {layer!r}")
        check_layer_type(layer.get("type"), where)
        if "name" in layer:
            name = layer["name"]
            if not isinstance(name, str) or not name or "." in name or name in _RESERVED:
                raise SpecError(f"{where}: layer names must be non-empty strings without '.', other than "
                                f"nn.ModuleDict attributes such as 'keys'; received {name!r}")
            if name in given:
                raise SpecError(f"layer #{index + 1}: name {name!r} is already used by layer #{given[name] + 1}; "
                                "layer names must be unique")
            given[name] = index
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        name = layer.get("name", "")
        while not name or (name in given and "name" not in layer):  # `<type>_<k>`, skipping names in use
            counts[layer["type"]] = counts.get(layer["type"], 0) + 1
            name = f"{layer['type']}_{counts[layer['type']]}"
        given[name] = given.get(name, -1)
        names.append(name)
    return names


def check_layer_type(layer_type: Any, where: str) -> None:
    """An unknown type names the nearest registered ones and lists them all."""
    if not isinstance(layer_type, str) or layer_type not in LAYERS:
        close = nearest(layer_type, LAYERS.names()) if isinstance(layer_type, str) else []
        hint = f" — did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise SpecError(f"{where}: unknown layer type {layer_type!r}{hint} (valid: {', '.join(LAYERS.names())})")


def check_layer_params(layer_type: str, params: dict[str, Any], where: str) -> None:
    """Unknown params list the valid ones; missing required params are named (the inferred ones aside)."""
    signature = inspect.signature(LAYERS.get(layer_type)).parameters
    inferred = LAYERS.meta(layer_type).get("infer", {})
    _check_keys(where, params, tuple(signature), "param", layer_type)
    required = [p for p, info in signature.items() if info.default is info.empty]
    missing = [p for p in required if p not in params and p not in inferred]
    if missing:
        raise SpecError(f"{where}: {layer_type} needs {', '.join(repr(m) for m in missing)} "
                        f"({_describe_params(layer_type)})")


def param_names(layer_type: str) -> tuple[str, ...]:
    """The params a layer type accepts, in its builder's order (inferred ones included)."""
    return tuple(inspect.signature(LAYERS.get(layer_type)).parameters)


def _describe_params(layer_type: str) -> str:
    inferred = LAYERS.meta(layer_type).get("infer", {})
    given = [p for p in param_names(layer_type) if p not in inferred]
    text = f"valid: {', '.join(given) or 'none'}"
    return text + (f"; inferred from the input: {', '.join(inferred)}" if inferred else "")


def _check_keys(where: str, mapping: Any, valid: tuple[str, ...], what: str, layer_type: str | None = None) -> None:
    if not isinstance(mapping, dict):
        raise SpecError(f"{where}: expected a mapping, received {mapping!r}")
    for key in mapping:
        if key not in valid:
            close = nearest(str(key), list(valid))
            hint = f" — did you mean {close[0]!r}?" if close else ""
            listing = _describe_params(layer_type) if layer_type else f"valid: {', '.join(valid)}"
            kind = f" for {layer_type}" if layer_type else ""
            raise SpecError(f"{where}: unknown {what} {key!r}{kind}{hint} ({listing})")


def _names(value: Any, where: str) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n for n in names):
        raise SpecError(f"{where}: expected a tensor name or a list of names, received {value!r}")
    return tuple(names)


def _substitute(value: Any, variables: dict[str, Any], where: str) -> Any:
    """Replace "$name" strings (also inside lists) by the net's variables."""
    if isinstance(value, list):
        return [_substitute(v, variables, where) for v in value]
    if not (isinstance(value, str) and value.startswith("$")):
        return value
    key = value[1:]
    if key not in variables:
        close = nearest(key, list(variables))
        hint = f" — did you mean '${close[0]}'?" if close else ""
        known = ", ".join(f"${v}" for v in variables) or "none"
        raise SpecError(f"{where}: unknown variable {value!r}{hint} (known: {known})")
    return variables[key]


# -- the graph -------------------------------------------------------------------------------------
def _topological_order(steps: list[Step], net_input: str, output: str) -> list[Step]:
    """Order the layers so each runs after the producers of its inputs (stable: listing order wins ties)."""
    producer: dict[str, str | None] = {net_input: None}
    for step in steps:
        for tensor in step.outputs:
            if tensor in producer:
                by = f"layer {producer[tensor]!r}" if producer[tensor] else "the net input"
                raise SpecError(f"layer {step.name!r}: output {tensor!r} is already produced by {by}; "
                                "tensor names must be unique")
            producer[tensor] = step.name
    known = list(producer)
    for step in steps:
        for tensor in step.inputs:
            if tensor not in producer:
                raise SpecError(f"layer {step.name!r}: input {tensor!r} is not produced by any layer or net input"
                                f"{_did_you_mean(tensor, known)} (known: {', '.join(known)})")
    if output not in producer:
        raise SpecError(f"net spec 'output': {output!r} is not produced by any layer{_did_you_mean(output, known)} "
                        f"(known: {', '.join(known)})")
    _check_all_used(steps, output)
    ordered: list[Step] = []
    done: set[str] = {net_input}
    pending = list(steps)
    while pending:
        ready = next((s for s in pending if all(t in done for t in s.inputs)), None)
        if ready is None:
            raise SpecError(_describe_cycle(pending, producer))
        ordered.append(ready)
        pending.remove(ready)
        done.update(ready.outputs)
    return ordered


def _did_you_mean(name: str, known: list[str]) -> str:
    close = nearest(name, known)
    return f" — did you mean {close[0]!r}?" if close else ""


def _check_all_used(steps: list[Step], output: str) -> None:
    used = {output} | {t for step in steps for t in step.inputs}
    for step in steps:
        if not used.intersection(step.outputs):
            raise SpecError(f"layer {step.name!r}: its output {', '.join(map(repr, step.outputs))} is never used "
                            f"and is not the net output {output!r}; remove the layer or read its output")


def _describe_cycle(pending: list[Step], producer: dict[str, str | None]) -> str:
    # Every pending layer waits for another pending one, so following "waits for" must revisit a layer.
    by_name = {s.name: s for s in pending}
    path: list[str] = []
    current = pending[0].name
    while current not in path:
        path.append(current)
        current = next(producer[t] for t in by_name[current].inputs if producer[t] in by_name)
    cycle = path[path.index(current):] + [current]
    return (f"layer {cycle[0]!r}: layers form a cycle {' ← '.join(cycle)} (each reads an output of the next); "
            "a net spec must be acyclic")


# -- shape inference -------------------------------------------------------------------------------
def _infer_shapes(steps: list[Step], net_input: str, input_shape: Sequence[int]
                  ) -> tuple[list[Step], dict[str, tuple[int, ...]]]:
    """Run each layer on meta tensors of batch 1, recording shapes and filling inferred params."""
    with torch.device("meta"), torch.no_grad():
        tensors = {net_input: torch.empty(1, *map(int, input_shape))}
        inferred = []
        for step in steps:
            step, outputs = _infer_step(step, tensors)
            tensors.update(outputs)
            inferred.append(step)
    return inferred, {name: tuple(t.shape) for name, t in tensors.items()}


def _infer_step(step: Step, tensors: dict[str, torch.Tensor]) -> tuple[Step, dict[str, torch.Tensor]]:
    where, meta = f"layer {step.name!r}", LAYERS.meta(step.type)
    shapes = {name: tuple(tensors[name].shape) for name in step.inputs}
    seen = ", ".join(f"{name} {_fmt(shape)}" for name, shape in shapes.items())
    if meta.get("arity", 1) == 1 and len(shapes) != 1:
        raise SpecError(f"{where}: {step.type} takes 1 input, received {len(shapes)} ({seen}); "
                        "merge them first with an add or concat layer")
    if meta.get("arity") == "many" and len(shapes) < 2:
        raise SpecError(f"{where}: {step.type} merges 2 or more inputs, received {len(shapes)} ({seen}); "
                        "list them, e.g. inputs: [a, b]")
    problem = meta.get("check", lambda *_: None)(shapes, step.params)
    if problem:
        raise SpecError(f"{where}: {problem}")
    params = {**step.params, **_inferred_params(step, shapes, where)}
    try:
        module = LAYERS.get(step.type)(**params).eval()  # eval: batch-norm statistics of one sample are fine
    except Exception as exc:  # a bad value (negative size, wrong type): say which layer and which params
        raise SpecError(f"{where}: {step.type} could not be built with {params}: {exc}") from exc
    try:
        result = module(*(tensors[name] for name in step.inputs))
    except Exception as exc:  # torch's own message, with the layer and the shape it was given
        raise SpecError(f"{where}: {step.type} failed on its input {seen}: {str(exc).strip()}") from exc
    results = tuple(result) if isinstance(result, (tuple, list)) else (result,)
    if len(results) != len(step.outputs):
        raise SpecError(f"{where}: {step.type} returns {len(results)} tensor(s) but the layer names "
                        f"{len(step.outputs)} output(s) {list(step.outputs)}")
    return replace(step, params=params), dict(zip(step.outputs, results))


def _inferred_params(step: Step, shapes: dict[str, tuple[int, ...]], where: str) -> dict[str, Any]:
    (source, shape), *_ = shapes.items()
    values = {}
    for param, infer in LAYERS.meta(step.type).get("infer", {}).items():
        try:
            values[param] = infer(shape)
        except ValueError as exc:
            raise SpecError(f"{where}: cannot infer {param} of {step.type} from input {source}: {exc}") from None
        if param in step.params and step.params[param] != values[param]:
            raise SpecError(f"{where}: {param} is {step.params[param]} but input {source} {_fmt(shape)} gives "
                            f"{values[param]}; leave {param} out to infer it")
    return values


def _fmt(shape: Sequence[int]) -> str:
    return str(tuple(int(s) for s in shape))


# -- the module ------------------------------------------------------------------------------------
class SpecNet(nn.Module):
    """A compiled net spec: its layers in topological order, each reading and writing named tensors.

    Attributes:
        layers: the layer modules by name (`net.layers["conv1"]`).
        steps: the execution order, each step with its inputs, outputs and full builder arguments
            (inferred ones included).
        shapes: every named tensor's shape for a batch of 1, as inferred at compile time.
        spec: the spec as given (before defaults and variables), for saving and round-trips.
    """

    def __init__(self, name: str, net_input: str, output: str, steps: list[Step],
                 shapes: dict[str, tuple[int, ...]], spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec_name, self.input_name, self.output_name = name, net_input, output
        self.steps, self.shapes, self.spec = tuple(steps), shapes, spec
        self.layers = nn.ModuleDict({step.name: LAYERS.get(step.type)(**step.params) for step in steps})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensors = {self.input_name: x}  # every named tensor so far; the steps read and extend it
        for step in self.steps:
            result = self.layers[step.name](*(tensors[name] for name in step.inputs))
            tensors.update(zip(step.outputs, result if len(step.outputs) > 1 else (result,)))
        return tensors[self.output_name]

    def extra_repr(self) -> str:
        return f"name={self.spec_name!r}, input={self.input_name!r}, output={self.output_name!r}"
