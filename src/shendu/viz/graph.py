"""A model's dataflow graph as JSON (schema "shendu.graph/1", documented in docs/graph-schema.md).

torch.fx records every module call and tensor operation of one forward pass as a node; running the
traced graph on one sample attaches output shapes and proves the graph computes what the model
does. The export adds the module hierarchy, so a viewer can fold a model into its blocks and
collapse repeated ones (`repeat_of`). The [tracking] and [studio] views read this format; change it
only with a new schema version.

Plain symbolic tracing fails on any `if` over a tensor — and most zoo models check their input
(`if x.dim() < 3: raise …`). `_ConcreteTracer` then traces again carrying the sample's real values
next to the proxies, so such branches follow the sample: the graph of this input, not of every input.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import operator
from typing import Any, Iterator, Optional, Sequence

import torch
from torch import fx, nn
from torch.nn.utils import rnn as rnn_utils

from shendu.errors import BadInputError
from shendu.viz.summary import forward_error, infer_modality, example_input

SCHEMA = "shendu.graph/1"
_SHAPE_KEY = "shendu_output_shape"
SOURCES = ("torch.fx", "torch.fx-concrete", "modules")
OPS = ("placeholder", "call_module", "call_function", "call_method", "get_attr", "output")

_SHAPE = {"type": ["array", "null"], "items": {"type": "integer", "minimum": 0}}
# The contract with the viewers, as a JSON Schema (draft 2020-12). docs/graph-schema.md shows the same
# document and a test keeps the two equal.
GRAPH_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "shendu.graph/1",
    "type": "object",
    "required": ["schema", "model", "source", "trace_error", "input_shape", "params", "nodes", "edges", "hierarchy"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": SCHEMA},
        "model": {"type": "string"},
        "source": {"enum": list(SOURCES)},
        "trace_error": {"type": ["string", "null"]},
        "input_shape": {"type": "array", "items": {"type": "integer", "minimum": 1}},
        "params": {"type": "integer", "minimum": 0},
        "nodes": {"type": "array", "items": {"$ref": "#/$defs/node"}},
        "edges": {"type": "array", "items": {"$ref": "#/$defs/edge"}},
        "hierarchy": {"$ref": "#/$defs/scope"},
    },
    "$defs": {
        "node": {
            "type": "object",
            "required": ["id", "op", "target", "module_type", "output_shape", "params", "scope"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string"},
                "op": {"enum": list(OPS)},
                "target": {"type": "string"},
                "module_type": {"type": ["string", "null"]},
                "output_shape": _SHAPE,
                "params": {"type": "integer", "minimum": 0},
                "scope": {"type": "string"},
            },
        },
        "edge": {
            "type": "object",
            "required": ["source", "target"],
            "additionalProperties": False,
            "properties": {"source": {"type": "string"}, "target": {"type": "string"}},
        },
        "scope": {
            "type": "object",
            "required": ["scope", "name", "module_type", "params", "nodes", "children", "repeat_of"],
            "additionalProperties": False,
            "properties": {
                "scope": {"type": "string"},
                "name": {"type": "string"},
                "module_type": {"type": "string"},
                "params": {"type": "integer", "minimum": 0},
                "nodes": {"type": "array", "items": {"type": "string"}},
                "children": {"type": "array", "items": {"$ref": "#/$defs/scope"}},
                "repeat_of": {"type": ["string", "null"]},
            },
        },
    },
}


class GraphTraceError(BadInputError):
    """torch.fx cannot trace the model (usually Python control flow that depends on tensor values)."""


def model_graph(model: nn.Module, input_shape: Sequence[int], *, name: Optional[str] = None,
                fallback: Optional[str] = None, modality: Optional[str] = None) -> dict[str, Any]:
    """Export `model`'s graph for one sample of `input_shape` (batch 1, eval mode) as a JSON-able dict.

    Tracing tries `torch.fx.symbolic_trace` first (a graph valid for every input). If the forward
    branches on tensors — input checks like `if x.dim() < 3: raise …` are enough — it traces again
    with the sample's real values deciding each branch ("torch.fx-concrete": the graph of this input
    shape). Either graph is kept only if running it reproduces the model's output.

    Args:
        model: any nn.Module.
        input_shape: one sample's shape without the batch dimension, (C, H, W) or (L,) for text.
        name: the model's name in the export; defaults to its class name.
        fallback: "modules" to export the module tree (with output shapes, without dataflow edges)
            when neither trace works, instead of raising.
        modality: "image" or "text"; by default "text" for a 1-D `input_shape`, else "image".

    Raises:
        GraphTraceError: neither trace works and no fallback was asked for.
        BadInputError: the forward pass fails on this input shape, or `fallback` is unknown.
    """
    if fallback not in (None, "modules"):
        raise BadInputError(f"model_graph fallback: expected None or 'modules', received {fallback!r}")
    name = name or type(model).__name__
    x = example_input(model, input_shape, modality or infer_modality(input_shape))
    was_training = model.training
    model.eval()  # the graph users see is the inference graph: no auxiliary heads, no dropout branches
    try:
        expected = _run(model, x, name)
        traced, source, reason = _trace(model, x, expected)
        if traced is None and fallback != "modules":
            raise GraphTraceError(f"cannot trace {name!r} with torch.fx ({reason}) — export the module tree "
                                  "instead with fallback='modules' (CLI: zoo show --graph FILE --module-graph)")
        if traced is None:
            return _export(model, name, input_shape, "modules", _module_nodes(model, x, name), [], reason)
        # the sample's placeholder, not those of optional arguments fixed at their defaults
        kept = [node for i, node in enumerate(traced.graph.nodes) if i == 0 or node.users or node.op != "placeholder"]
        nodes = [_fx_node(node, model) for node in kept]
        edges = [{"source": source_node.name, "target": node.name}
                 for node in kept for source_node in node.all_input_nodes]
        return _export(model, name, input_shape, source, nodes, edges, reason)
    finally:
        model.train(was_training)


def _run(model: nn.Module, x: torch.Tensor, name: str) -> Any:
    try:
        with torch.no_grad():
            return model(x)
    except Exception as exc:  # the model's own forward rejects this sample: the input's fault
        raise forward_error(name, x, exc) from exc


def _trace(model: nn.Module, x: torch.Tensor, expected: Any) -> tuple[Optional[fx.GraphModule], str, Optional[str]]:
    """(graph module with shapes, source, why symbolic tracing failed) or (None, "modules", reasons)."""
    reasons: list[str] = []
    for source, tracer in (("torch.fx", fx.Tracer()), ("torch.fx-concrete", _ConcreteTracer(x))):
        try:
            with torch.no_grad():
                graph = _prune(tracer.trace(model, concrete_args=_default_args(model)))
                traced = fx.GraphModule(model, graph, class_name=type(model).__name__)
                output = _ShapeRecorder(traced).run(x)
            torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-6, check_dtype=False,
                                       msg="the traced graph does not reproduce the model's output")
        except Exception as exc:  # fx raises TraceError, TypeError, AttributeError… depending on the construct
            reasons.append(f"{source}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            continue
        return traced, source, reasons[0] if reasons else None
    return None, "modules", "; ".join(reasons)


def _prune(graph: fx.Graph) -> fx.Graph:
    """Drop what is not computation: unused results of functions and methods — input checks whose
    values only fed Python `if`s, fx's asserts on arguments fixed at their defaults — unless they
    mutate a tensor in place. (fx's eliminate_dead_code would also drop in-place method calls.)"""
    for node in reversed(list(graph.nodes)):  # users before their inputs, so chains go in one pass
        if not node.users and node.op in ("call_function", "call_method") and not _mutates(node):
            graph.erase_node(node)
    return graph


def _mutates(node: fx.Node) -> bool:
    name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
    in_place = name.endswith("_") and not name.endswith("__")  # x.relu_(), torch.relu_(x)
    return in_place or bool(node.kwargs.get("inplace")) or node.target in (operator.setitem, operator.delitem)


class _ShapeRecorder(fx.Interpreter):
    """Runs the traced graph and notes each node's output shape. (fx's ShapeProp does the same but
    rebuilds tuple subclasses with metadata inside, which fails on an RNN's PackedSequence.)"""

    def run_node(self, node: fx.Node) -> Any:
        result = super().run_node(node)
        node.meta[_SHAPE_KEY] = [int(d) for d in result.shape] if isinstance(result, torch.Tensor) else None
        return result


def _default_args(model: nn.Module) -> Optional[dict[str, Any]]:
    """Optional forward arguments as constants: as placeholders, `if lengths is None` would see a Proxy."""
    params = list(inspect.signature(model.forward).parameters.values())[1:]
    defaults = {p.name: p.default for p in params if p.default is not p.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return defaults or None


class _ValueProxy(fx.Proxy):
    """A Proxy that knows the value it stands for in the sample's forward pass, so Python control
    flow (`if`, `len`, `int`, unpacking) follows the sample instead of failing."""

    @property
    def concrete(self) -> Any:
        return self.tracer.values[self.node]  # type: ignore[attr-defined]

    def __bool__(self) -> bool:
        return bool(self.concrete)

    def __len__(self) -> int:
        return len(self.concrete)

    def __index__(self) -> int:
        return operator.index(self.concrete)

    def __int__(self) -> int:
        return int(self.concrete)

    def __float__(self) -> float:
        return float(self.concrete)

    def __iter__(self) -> Iterator[fx.Proxy]:
        return iter([self[i] for i in range(len(self.concrete))])

    def __getattr__(self, attr: str) -> "_ValueAttribute":
        if attr.startswith("__") and attr.endswith("__"):  # protocol probes (`__array__`…) are not graph nodes
            raise AttributeError(attr)
        return _ValueAttribute(self, attr)


class _ValueAttribute(_ValueProxy, fx.proxy.Attribute):
    """`x.shape`, `x.dim`: fx's lazy attribute proxy, with the value behaviour above."""


# torch functions that turn their tensor arguments into Python data (`torch.as_tensor(lengths)`): the
# concrete tracer records each as one node instead of tracing into it. (fx's own `autowrap_functions`
# would do this, but its generated code registers the dotted name globally and breaks later traces.)
_OPAQUE_FUNCTIONS = (rnn_utils.pack_padded_sequence, rnn_utils.pad_packed_sequence, rnn_utils.pack_sequence,
                     rnn_utils.pad_sequence)


class _ConcreteTracer(fx.Tracer):
    """fx tracing that also runs every recorded operation on the sample's real values."""

    def __init__(self, example: torch.Tensor) -> None:
        super().__init__()
        self.example = example
        self.values: dict[fx.Node, Any] = {}
        self._computing = False  # while True, module calls and attribute reads are real, not recorded

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _ValueProxy(node, self)

    def trace(self, root: Any, concrete_args: Optional[dict[str, Any]] = None) -> fx.Graph:
        with self._opaque_calls_recorded(root):
            return super().trace(root, concrete_args)

    @contextlib.contextmanager
    def _opaque_calls_recorded(self, root: nn.Module) -> Iterator[None]:
        """Rebind the opaque functions, under the names the model's code uses, for the trace's duration.
        Other threads calling them meanwhile are unaffected: without proxy arguments the wrapper just calls."""
        namespaces = {id(ns): ns for ns in [vars(rnn_utils)] + [getattr(type(m).forward, "__globals__", {})
                                                                 for m in root.modules()]}
        patched = []
        for namespace in namespaces.values():
            for key, value in list(namespace.items()):
                if any(value is fn for fn in _OPAQUE_FUNCTIONS):
                    patched.append((namespace, key, value))
                    namespace[key] = self._recorded(value)
        try:
            yield
        finally:
            for namespace, key, value in patched:
                namespace[key] = value

    def _recorded(self, fn: Any) -> Any:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            proxies: list[fx.Proxy] = []
            fx.node.map_aggregate((args, kwargs), lambda a: proxies.append(a) if isinstance(a, fx.Proxy) else None)
            if self._computing or not proxies:
                return fn(*args, **kwargs)
            return self.create_proxy("call_function", fn, args, kwargs)

        return call

    def create_proxy(self, kind: str, target: Any, args: tuple, kwargs: dict, name: Optional[str] = None,
                     type_expr: Any = None, proxy_factory_fn: Any = None) -> Any:
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        if kind == "output":
            return proxy
        self.values[proxy.node] = value = self._compute(kind, target, args, kwargs)
        if type(value) in (tuple, list):  # a real tuple of proxies, so `isinstance(out, tuple)` still holds
            return type(value)(proxy[i] for i in range(len(value)))
        return proxy

    def _compute(self, kind: str, target: Any, args: tuple, kwargs: dict) -> Any:
        args, kwargs = fx.node.map_aggregate((args, kwargs), self._value)
        self._computing = True
        try:
            if kind == "placeholder":  # the sample, then optional arguments fixed at their defaults
                first = not any(node.op == "placeholder" for node in self.values)
                return self.example if first else (args[0] if args else None)
            if kind == "get_attr":
                return _get_attr(self.root, target)
            if kind == "call_function":
                return target(*args, **kwargs)
            if kind == "call_method":
                return getattr(args[0], target)(*args[1:], **kwargs)
            return self.root.get_submodule(target).forward(*args, **kwargs)  # call_module
        finally:
            self._computing = False

    def _value(self, arg: Any) -> Any:
        return self.values[arg.node] if isinstance(arg, fx.Proxy) else arg

    def call_module(self, m: nn.Module, forward: Any, args: tuple, kwargs: dict) -> Any:
        return forward(*args, **kwargs) if self._computing else super().call_module(m, forward, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict) -> Any:
        return attr_val if self._computing else super().getattr(attr, attr_val, parameter_proxy_cache)


def _export(model: nn.Module, name: str, input_shape: Sequence[int], source: str, nodes: list[dict],
            edges: list[dict], trace_error: Optional[str]) -> dict[str, Any]:
    return {"schema": SCHEMA, "model": name, "source": source, "trace_error": trace_error,
            "input_shape": [int(d) for d in input_shape], "params": sum(p.numel() for p in model.parameters()),
            "nodes": nodes, "edges": edges, "hierarchy": _hierarchy(model, nodes)}


def _fx_node(node: fx.Node, model: nn.Module) -> dict[str, Any]:
    module_type, params, scope = None, 0, _scope(node)
    if node.op == "call_module":
        module = model.get_submodule(node.target)
        module_type, params = type(module).__name__, sum(p.numel() for p in module.parameters())
    elif node.op == "get_attr":
        value = _get_attr(model, node.target)
        params = value.numel() if isinstance(value, nn.Parameter) else 0
    return {"id": node.name, "op": node.op, "target": _target(node), "module_type": module_type,
            "output_shape": node.meta.get(_SHAPE_KEY), "params": params, "scope": scope}


def _scope(node: fx.Node) -> str:
    """The dotted path of the module whose forward created the node ("" for the model itself)."""
    if node.op == "call_module":
        return str(node.target)  # a leaf module call is its own scope, so it folds with its module
    if node.op == "get_attr":
        return str(node.target).rpartition(".")[0]
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    key, value = list(stack.items())[-1]  # innermost module; values are (qualified path, module class)
    return str(value[0] if isinstance(value, tuple) else key)


def _target(node: fx.Node) -> str:
    """Module path, method or attribute name, or the function's importable name ("torch.cat", "operator.add")."""
    target = node.target
    if isinstance(target, str):
        return target
    module = (getattr(target, "__module__", None) or "").replace("_operator", "operator")
    qualname = getattr(target, "__name__", None) or repr(target)
    return f"{module}.{qualname}" if module else qualname


def _get_attr(model: nn.Module, target: str) -> Any:
    owner, _, attr = target.rpartition(".")
    return getattr(model.get_submodule(owner) if owner else model, attr)


def _module_nodes(model: nn.Module, x: torch.Tensor, name: str) -> list[dict[str, Any]]:
    """The fallback: one node per leaf-module call, in call order, with output shapes from forward hooks."""
    calls: list[tuple[str, nn.Module, Any]] = []
    leaves = {module: path for path, module in model.named_modules() if path and not any(module.children())}
    hooks = [module.register_forward_hook(lambda mod, _inputs, out: calls.append((leaves[mod], mod, out)))
             for module in leaves]
    try:
        with torch.no_grad():
            model(x)
    except Exception as exc:
        raise forward_error(name, x, exc) from exc
    finally:
        for hook in hooks:
            hook.remove()
    nodes, seen = [], {}
    for path, module, out in calls:
        seen[path] = seen.get(path, 0) + 1
        suffix = "" if seen[path] == 1 else f"_{seen[path] - 1}"  # a module called twice gets two nodes
        shape = list(out.shape) if isinstance(out, torch.Tensor) else None
        nodes.append({"id": path.replace(".", "_") + suffix, "op": "call_module", "target": path,
                      "module_type": type(module).__name__, "output_shape": shape,
                      "params": sum(p.numel() for p in module.parameters()), "scope": path})
    return nodes


def _hierarchy(model: nn.Module, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The tree of module scopes that hold nodes, children in order of first use; siblings with the
    same structure point to the first of them through `repeat_of`."""
    root = _scope_entry(model, "")
    entries = {"": root}
    for node in nodes:
        _entry(model, entries, node["scope"])["nodes"].append(node["id"])
    by_id = {node["id"]: node for node in nodes}
    _mark_repeats(root, model, by_id)
    return root


def _scope_entry(model: nn.Module, scope: str) -> dict[str, Any]:
    module = model.get_submodule(scope)
    return {"scope": scope, "name": scope.rpartition(".")[2], "module_type": type(module).__name__,
            "params": sum(p.numel() for p in module.parameters()), "nodes": [], "children": [], "repeat_of": None}


def _entry(model: nn.Module, entries: dict[str, dict], scope: str) -> dict[str, Any]:
    if scope not in entries:
        parent = _entry(model, entries, scope.rpartition(".")[0])
        entries[scope] = _scope_entry(model, scope)
        parent["children"].append(entries[scope])
    return entries[scope]


def _mark_repeats(entry: dict[str, Any], model: nn.Module, by_id: dict[str, dict]) -> str:
    """Set `repeat_of` on blocks (scopes with children) identical to an earlier sibling; return the
    entry's structural signature: module types and hyperparameters (extra_repr), child names, and
    the operations, targets relative to the scope and output shapes of its own nodes."""
    first: dict[str, str] = {}
    parts = []
    for child in entry["children"]:
        signature = _mark_repeats(child, model, by_id)
        if child["children"] and signature in first:
            child["repeat_of"] = first[signature]
        first.setdefault(signature, child["scope"])
        parts.append(f"{child['name']}={signature}")
    ops = [(by_id[i]["op"], _relative(by_id[i], entry["scope"]), by_id[i]["output_shape"]) for i in entry["nodes"]]
    module = model.get_submodule(entry["scope"])
    text = repr((entry["module_type"], module.extra_repr(), parts, ops))
    return hashlib.sha1(text.encode()).hexdigest()


def _relative(node: dict[str, Any], scope: str) -> str:
    """A module or attribute target relative to `scope`, so that layer1.0's and layer1.1's conv1 match."""
    if node["op"] in ("call_module", "get_attr") and scope and node["target"].startswith(scope):
        return node["target"][len(scope):].lstrip(".")
    return node["target"]


def validate_graph(graph: dict[str, Any]) -> None:
    """Check the cross-references a JSON Schema cannot express: unique node ids, edges between
    existing nodes, every node in exactly one scope, `repeat_of` naming an earlier sibling.

    Raises:
        BadInputError: listing every problem found.
    """
    problems = []
    if graph.get("schema") != SCHEMA:
        problems.append(f"schema: expected {SCHEMA!r}, received {graph.get('schema')!r}")
    ids = [node["id"] for node in graph.get("nodes", [])]
    if len(set(ids)) != len(ids):
        problems.append("nodes: ids are not unique")
    problems += [f"edge {e['source']} → {e['target']}: unknown node" for e in graph.get("edges", [])
                 if e["source"] not in ids or e["target"] not in ids]
    placed: list[str] = []
    stack = [graph.get("hierarchy", {"nodes": [], "children": []})]
    while stack:
        entry = stack.pop()
        placed += entry["nodes"]
        siblings = [child["scope"] for child in entry["children"]]
        problems += [f"scope {c['scope']}: repeat_of {c['repeat_of']!r} is not an earlier sibling"
                     for i, c in enumerate(entry["children"]) if c["repeat_of"] not in (None, *siblings[:i])]
        stack += entry["children"]
    if sorted(placed) != sorted(ids):
        problems.append("hierarchy: every node must appear in exactly one scope's nodes")
    if problems:
        raise BadInputError("invalid shendu graph:\n" + "\n".join(f"  - {p}" for p in problems))
