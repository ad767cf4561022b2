"""The graph export (schema shendu.graph/1): nodes, shapes, edges, hierarchy, tracing fallbacks."""
import json
import re
from pathlib import Path

import pytest
import torch
from torch import fx, nn
from torch.nn.utils.rnn import pack_padded_sequence

from shendu.errors import BadInputError
from shendu.models import MODELS, create_model
from shendu.viz import GRAPH_JSON_SCHEMA, GraphTraceError, model_graph, validate_graph

DOC = Path(__file__).resolve().parents[2] / "docs" / "graph-schema.md"


def _lenet_graph() -> dict:
    return model_graph(create_model("lenet5", num_classes=10, in_channels=1, input_size=32), (1, 32, 32),
                       name="lenet5")


def test_lenet5_nodes_in_order_with_their_output_shapes():
    graph = _lenet_graph()
    assert graph["source"] == "torch.fx" and graph["trace_error"] is None and graph["params"] == 61706
    modules = [(n["target"], n["module_type"], n["output_shape"]) for n in graph["nodes"] if n["op"] == "call_module"]
    # 32 − 5 + 1 = 28, pooled to 14; 14 − 5 + 1 = 10, pooled to 5; then 16·5·5 = 400 → 120 → 84 → 10.
    assert modules == [
        ("features.0", "Conv2d", [1, 6, 28, 28]), ("features.1", "Tanh", [1, 6, 28, 28]),
        ("features.2", "AvgPool2d", [1, 6, 14, 14]), ("features.3", "Conv2d", [1, 16, 10, 10]),
        ("features.4", "Tanh", [1, 16, 10, 10]), ("features.5", "AvgPool2d", [1, 16, 5, 5]),
        ("classifier.0", "Linear", [1, 120]), ("classifier.1", "Tanh", [1, 120]),
        ("classifier.2", "Linear", [1, 84]), ("classifier.3", "Tanh", [1, 84]),
        ("classifier.4", "Linear", [1, 10]),
    ]
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["x"]["op"] == "placeholder" and nodes["x"]["output_shape"] == [1, 1, 32, 32]
    assert nodes["flatten"] == {"id": "flatten", "op": "call_method", "target": "flatten", "module_type": None,
                                "output_shape": [1, 400], "params": 0, "scope": ""}
    assert nodes["features_0"]["params"] == 6 * (25 + 1) and nodes["features_0"]["scope"] == "features.0"


def test_lenet5_edges_connect_consecutive_nodes():
    graph = _lenet_graph()
    ids = [n["id"] for n in graph["nodes"]]
    assert [(e["source"], e["target"]) for e in graph["edges"]] == list(zip(ids, ids[1:]))


def test_lenet5_hierarchy_groups_nodes_by_module():
    root = _lenet_graph()["hierarchy"]
    assert (root["scope"], root["module_type"], root["params"]) == ("", "LeNet5", 61706)
    assert root["nodes"] == ["x", "flatten", "output"]
    features = root["children"][0]
    assert (features["scope"], features["module_type"], features["params"]) == ("features", "Sequential", 156 + 2416)
    assert [(c["scope"], c["nodes"]) for c in features["children"][:2]] == [("features.0", ["features_0"]),
                                                                            ("features.1", ["features_1"])]
    assert all(c["repeat_of"] is None for c in features["children"])  # leaves are never marked


# --- the documented schema ---------------------------------------------------------------------

_SUPPORTED = {"$schema", "title", "type", "required", "additionalProperties", "properties", "$defs", "$ref",
              "const", "enum", "items", "minimum"}
_TYPES = {"object": dict, "array": list, "string": str, "null": type(None)}


def _keywords(schema) -> set:
    if isinstance(schema, list):
        return set().union(*map(_keywords, schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    inner = [v for k, v in schema.items() if k not in ("properties", "$defs")]
    inner += list(schema.get("properties", {}).values()) + list(schema.get("$defs", {}).values())
    return set(schema) | set().union(*map(_keywords, inner))


def _errors(value, schema, root, path="$") -> list[str]:
    """A minimal JSON Schema check for the keywords in _SUPPORTED (no third-party validator installed)."""
    if "$ref" in schema:
        return _errors(value, root["$defs"][schema["$ref"].rsplit("/", 1)[1]], root, path)
    if "const" in schema and value != schema["const"]:
        return [f"{path}: expected {schema['const']!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} not in {schema['enum']}"]
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if types and not any(is_int if t == "integer" else isinstance(value, _TYPES[t]) for t in types):
        return [f"{path}: expected {types}, received {type(value).__name__}"]
    errors = [f"{path}: below minimum"] if is_int and value < schema.get("minimum", value) else []
    if isinstance(value, dict):
        errors += [f"{path}: missing {k!r}" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            errors += [f"{path}: unexpected {k!r}" for k in value if k not in schema.get("properties", {})]
        for key, sub in schema.get("properties", {}).items():
            errors += _errors(value[key], sub, root, f"{path}.{key}") if key in value else []
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += _errors(item, schema["items"], root, f"{path}[{i}]")
    return errors


def test_the_documented_schema_is_the_one_in_code():
    block = re.search(r"## JSON Schema.*?```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    assert json.loads(block) == GRAPH_JSON_SCHEMA
    assert _keywords(GRAPH_JSON_SCHEMA) <= _SUPPORTED  # so the checker below ignores nothing


def test_lenet5_graph_validates_against_the_schema():
    graph = json.loads(json.dumps(_lenet_graph()))  # what a viewer reads back
    assert _errors(graph, GRAPH_JSON_SCHEMA, GRAPH_JSON_SCHEMA) == []
    validate_graph(graph)
    broken = json.loads(json.dumps(graph))
    broken["nodes"][1]["op"] = "call_moduel"
    broken["nodes"][2].pop("scope")
    assert len(_errors(broken, GRAPH_JSON_SCHEMA, GRAPH_JSON_SCHEMA)) == 2  # the checker does check
    broken = json.loads(json.dumps(graph))
    broken["edges"].append({"source": "x", "target": "nowhere"})
    broken["hierarchy"]["nodes"].remove("flatten")
    with pytest.raises(BadInputError, match="(?s)x → nowhere: unknown node.*exactly one scope"):
        validate_graph(broken)


# --- repeated blocks -------------------------------------------------------------------------


class _Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) + x)


class _Tower(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.blocks = nn.Sequential(_Block(4), _Block(4), _Block(4))
        self.widen = nn.Conv2d(4, 8, 1)
        self.tail = nn.Sequential(_Block(8), _Block(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.widen(self.blocks(self.stem(x))))


def _scopes(entry: dict) -> dict:
    found = {entry["scope"]: entry}
    for child in entry["children"]:
        found.update(_scopes(child))
    return found


def test_identical_sibling_blocks_point_to_the_first():
    graph = model_graph(_Tower(), (3, 6, 6))
    scopes = _scopes(graph["hierarchy"])
    assert [scopes[f"blocks.{i}"]["repeat_of"] for i in range(3)] == [None, "blocks.0", "blocks.0"]
    assert [scopes[f"tail.{i}"]["repeat_of"] for i in range(2)] == [None, "tail.0"]
    assert scopes["blocks.1"]["nodes"] == ["add_1"]  # the residual addition lives in its block
    assert scopes["tail"]["repeat_of"] is None  # 8-wide, not a repeat of `blocks`


@pytest.mark.skipif("resnet18" not in MODELS, reason="resnet18 is not registered")
def test_resnet18_marks_its_repeated_basic_blocks():
    graph = model_graph(create_model("resnet18", num_classes=10, in_channels=3, input_size=32), (3, 32, 32))
    validate_graph(graph)
    scopes = _scopes(graph["hierarchy"])
    assert scopes["layer1.1"]["repeat_of"] == "layer1.0"  # 64→64 both, no downsampling
    for stage in (2, 3, 4):  # block 0 downsamples (stride 2 + projection), block 1 does not: not a repeat
        assert scopes[f"layer{stage}.1"]["repeat_of"] is None
    assert scopes["layer1.0"]["module_type"] == "BasicBlock"


# --- tracing what symbolic fx cannot ---------------------------------------------------------


class _Checked(nn.Module):
    """Checks its input the house way, and has an optional argument."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor, scale=None) -> torch.Tensor:
        if x.dim() != 2:
            raise BadInputError(f"expected (B, 4), received {tuple(x.shape)}")
        y = self.fc(x)
        return y if scale is None else y * scale


def test_models_that_check_their_input_are_traced_with_concrete_values():
    graph = model_graph(_Checked(), (4,), modality="image")
    assert graph["source"] == "torch.fx-concrete"
    assert "symbolically traced variables cannot be used as inputs to control flow" in graph["trace_error"]
    # the check's `dim`/`ne` and the unused optional argument are not computation: left out
    assert [(n["op"], n["target"], n["output_shape"]) for n in graph["nodes"]] == [
        ("placeholder", "x", [1, 4]), ("call_module", "fc", [1, 2]), ("output", "output", [1, 2])]


class _PackedLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(30, 8)
        self.rnn = nn.LSTM(8, 16, batch_first=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        lengths = (tokens != 0).sum(dim=1).cpu()  # (B,)
        packed = pack_padded_sequence(self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        h_n = state[0] if isinstance(state, tuple) else state  # LSTM: (h_n, c_n)
        return self.fc(h_n[-1])  # (B, 3)


def test_packed_rnn_text_model_traces_and_leaves_no_patch_behind():
    graph = model_graph(_PackedLSTM(), (10,))
    assert graph["source"] == "torch.fx-concrete"
    targets = [n["target"] for n in graph["nodes"]]
    assert "torch.nn.utils.rnn.pack_padded_sequence" in targets and "rnn" in targets
    assert graph["nodes"][0]["output_shape"] == [1, 10]
    validate_graph(graph)
    assert pack_padded_sequence.__module__ == "torch.nn.utils.rnn" and globals()["pack_padded_sequence"] is \
        torch.nn.utils.rnn.pack_padded_sequence  # the trace rebinding was undone
    fx.symbolic_trace(create_model("lenet5", num_classes=10, in_channels=1, input_size=32))  # fx still works


class _ViaNumpy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.from_numpy(x.numpy() * 2))  # leaves torch: no tracer can follow


def test_untraceable_model_raises_a_clear_error_or_falls_back_to_modules():
    model = _ViaNumpy().train()
    with pytest.raises(GraphTraceError, match=r"cannot trace 'via_numpy' with torch\.fx \(torch\.fx: .*--module-graph"):
        model_graph(model, (4,), name="via_numpy", modality="image")
    assert issubclass(GraphTraceError, BadInputError) and model.training  # exit code 2; mode restored
    graph = model_graph(model, (4,), name="via_numpy", modality="image", fallback="modules")
    assert graph["source"] == "modules" and graph["edges"] == [] and "torch.fx-concrete" in graph["trace_error"]
    assert [(n["id"], n["module_type"], n["output_shape"], n["params"]) for n in graph["nodes"]] == [
        ("fc", "Linear", [1, 2], 10)]
    assert _errors(graph, GRAPH_JSON_SCHEMA, GRAPH_JSON_SCHEMA) == []
    validate_graph(graph)


def test_a_shape_the_model_cannot_take_is_a_bad_input_not_a_trace_error():
    with pytest.raises(BadInputError, match="forward pass failed") as info:
        model_graph(create_model("lenet5", num_classes=10, in_channels=1, input_size=32), (1, 20, 20))
    assert not isinstance(info.value, GraphTraceError)
