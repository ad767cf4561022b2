"""The graph drawing (shendu.viz.graph_html and `shendu viz graph`): standalone offline HTML, a layered
top-to-bottom layout, every node in exactly one box, repeated blocks folded (ResNet-152 stays small)."""
import json
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from torch import nn

from shendu.models import create_model
from shendu.viz import build_for_input, model_graph
from shendu.viz.graph_html import _crossings, _separate, graph_layout, render_graph_html


@pytest.fixture
def package(tmp_path):
    """An untrained LeNet-5 package for 1×28×28 images (the graph and the export need no training)."""
    from shendu.hub._package import save_package
    from shendu.train import Preprocessing

    model = create_model("lenet5", num_classes=10, in_channels=1, input_size=28)
    preprocessing = Preprocessing.fit(torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8))
    return save_package(tmp_path / "pkg", model, model_name="lenet5", model_args={}, num_classes=10, in_channels=1,
                        input_size=28, preprocessing=preprocessing, classes=[str(i) for i in range(10)], metrics={},
                        config={})


def _lenet_graph() -> dict:
    return model_graph(create_model("lenet5", num_classes=10, in_channels=1, input_size=32), (1, 32, 32),
                       name="lenet5")


def _box_of(layout: dict) -> dict[str, dict]:
    return {member: box for box in layout["boxes"] for member in box["members"]}


def assert_layered_and_standalone(layout: dict, graph: dict) -> None:
    """Every node in exactly one box; every edge goes down the page; the page loads nothing from outside."""
    members = [m for box in layout["boxes"] for m in box["members"]]
    assert sorted(members) == sorted(n["id"] for n in graph["nodes"])
    boxes = {box["id"]: box for box in layout["boxes"]}
    for edge in layout["edges"]:
        assert boxes[edge["source"]]["y"] < boxes[edge["target"]]["y"], edge
    page = layout["html"]
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    for external in ("http:", "https:", "<link", "<script src", "@import", "url(http"):
        assert external not in page


def test_lenet5_every_layer_is_a_box_with_its_type_and_shape(tmp_path):
    graph = _lenet_graph()
    layout = render_graph_html(graph, tmp_path / "lenet.html")
    assert_layered_and_standalone(layout, graph)
    assert len(layout["boxes"]) == len(graph["nodes"]) == 14 and layout["folded"] == []
    page = (tmp_path / "lenet.html").read_text(encoding="utf-8")
    for node in graph["nodes"]:
        if node["op"] == "call_module":
            assert f">{node['target']}<" in page and f">{node['module_type']}<" in page
    assert ">1×6×28×28 · 156 params<" in page and ">1×10 · 850 params<" in page
    assert len(layout["edges"]) == len(graph["edges"])
    ys = [box["y"] for box in layout["boxes"]]
    assert ys == sorted(ys) and len(set(ys)) == 14  # a chain: one box per layer, top to bottom
    assert len({box["x"] for box in layout["boxes"]}) == 1  # ... and a straight one


def test_resnet152_folds_its_36_block_stage_and_stays_readable(tmp_path):
    model, shape = build_for_input("resnet152", (3, 32, 32), 10)
    graph = model_graph(model, shape, name="resnet152")
    layout = render_graph_html(graph, tmp_path / "resnet152.html")
    assert_layered_and_standalone(layout, graph)
    assert len(graph["nodes"]) > 500 and len(layout["boxes"]) < 80
    labels = [f["label"] for f in layout["folded"]]
    assert labels == ["layer1.1–layer1.2 ×2 (Bottleneck)", "layer2.1–layer2.7 ×7 (Bottleneck)",
                      "layer3.1–layer3.35 ×35 (Bottleneck)", "layer4.1–layer4.2 ×2 (Bottleneck)"]
    page = (tmp_path / "resnet152.html").read_text(encoding="utf-8")
    assert "×35" in page and "layer3.1–layer3.35 ×35 (Bottleneck)" in page
    stage = next(box for box in layout["boxes"] if box["label"].startswith("layer3.1–"))
    assert stage["members"] == [n["id"] for n in graph["nodes"] if n["scope"].split(".")[:2] in
                                [["layer3", str(k)] for k in range(1, 36)]]
    assert stage["output_shape"] == [1, 1024, 8, 8]
    assert stage["params"] == sum(sum(p.numel() for p in model.layer3[k].parameters()) for k in range(1, 36))
    assert len(layout["html"]) < 400_000


def test_barycenter_ordering_removes_avoidable_crossings():
    # x → a, b;  b → c;  a → d;  c, d → cat. Declared in the order a, b, c, d the edges a→d and b→c cross;
    # sorting c and d by the position of their inputs uncrosses them.
    ids = ["x", "a", "b", "c", "d", "cat", "output"]
    edges = [("x", "a"), ("x", "b"), ("b", "c"), ("a", "d"), ("c", "cat"), ("d", "cat"), ("cat", "output")]
    graph = {"schema": "shendu.graph/1", "model": "toy", "source": "torch.fx", "trace_error": None,
             "input_shape": [4], "params": 0,
             "nodes": [{"id": i, "op": "call_function" if i not in ("x", "output") else
                        {"x": "placeholder", "output": "output"}[i], "target": "torch.relu", "module_type": None,
                        "output_shape": [1, 4], "params": 0, "scope": ""} for i in ids],
             "edges": [{"source": a, "target": b} for a, b in edges],
             "hierarchy": {"scope": "", "name": "", "module_type": "Toy", "params": 0, "nodes": ids, "children": [],
                           "repeat_of": None}}
    layout = graph_layout(graph)
    boxes = {box["id"]: box for box in layout["boxes"]}
    assert boxes["a"]["x"] < boxes["b"]["x"] and boxes["d"]["x"] < boxes["c"]["x"]
    rows = [["x"], ["a", "b"], ["c", "d"]]
    assert _crossings(rows, {"x": ["a", "b"], "a": ["d"], "b": ["c"], "c": [], "d": []}) == 1  # by hand


def test_rows_are_separated_by_least_squares_isotonic_regression():
    # Three boxes 10 wide that all want x = 0 must sit 34 apart (10 + GAP 24), centred on 0.
    assert _separate([0.0, 0.0, 0.0], [10.0, 10.0, 10.0]) == pytest.approx([-34.0, 0.0, 34.0])
    assert _separate([-100.0, 0.0, 100.0], [10.0, 10.0, 10.0]) == pytest.approx([-100.0, 0.0, 100.0])  # room
    assert _separate([0.0, 0.0, 90.0], [10.0, 10.0, 10.0]) == pytest.approx([-17.0, 17.0, 90.0])


def test_traced_through_leaf_modules_and_small_blocks_fold(tmp_path):
    class Scale(nn.Module):  # no sub-modules; fx traces its forward into three operations
        def forward(self, x):
            return torch.tanh(x * 2.0 + 1.0)

    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.scale, self.out = nn.Linear(4, 4), Scale(), nn.Linear(4, 2)

        def forward(self, x):
            return self.out(self.scale(self.fc(x)))

    graph = model_graph(Toy(), (4,), modality="image")
    layout = graph_layout(graph)
    assert [f["label"] for f in layout["folded"]] == ["scale (Scale)"]
    assert [box["label"] for box in layout["boxes"]][1:4] == ["fc (Linear)", "scale (Scale)", "out (Linear)"]

    # Past max_boxes, blocks fold smallest first: LeNet's two Sequentials become two boxes.
    small = graph_layout(_lenet_graph(), max_boxes=6)
    assert [box["label"] for box in small["boxes"]] == ["x (input)", "features (Sequential)", "flatten",
                                                        "classifier (Sequential)", "output"]
    everything = graph_layout(_lenet_graph(), collapse=False, max_boxes=6)
    assert len(everything["boxes"]) == 14


def test_module_tree_graph_without_edges_is_drawn_in_call_order(tmp_path):
    from shendu.viz.graph import _export, _module_nodes  # what model_graph(fallback="modules") writes

    model = create_model("lenet5", num_classes=10, in_channels=1, input_size=32)
    graph = _export(model, "lenet5", (1, 32, 32), "modules", _module_nodes(model, torch.zeros(1, 1, 32, 32), "lenet5"),
                    [], "torch.fx: (forced for the test)")
    layout = render_graph_html(graph, tmp_path / "tree.svg")
    assert layout["implicit_edges"] and len(layout["edges"]) == 10
    assert [box["id"] for box in sorted(layout["boxes"], key=lambda b: b["y"])] == [n["id"] for n in graph["nodes"]]
    root = ET.parse(tmp_path / "tree.svg").getroot()  # a standalone SVG file: namespaced, well-formed
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and 'stroke-dasharray' in (tmp_path / "tree.svg").read_text()


# -- CLI ---------------------------------------------------------------------------------------------
def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_graph_of_a_model_name_a_graph_file_and_a_package(tmp_path, cli, capsys, package):
    out = tmp_path / "graph.html"
    assert cli(["viz", "graph", "lenet5", "--input", "1x32x32", "--out", str(out), "--json"]) == 0
    result = _last_json(capsys)
    assert result["file"] == str(out) and len(result["boxes"]) == 14 and out.is_file()
    assert cli(["zoo", "show", "resnet20", "--input", "3x32x32", "--graph", str(tmp_path / "r20.json"), "--json"]) == 0
    capsys.readouterr()
    assert cli(["viz", "graph", str(tmp_path / "r20.json"), "--out", str(tmp_path / "r20.html")]) == 0
    assert "folded layer1.0–layer1.2 ×3 (BasicBlock)" in capsys.readouterr().out
    assert cli(["viz", "graph", str(package), "--out", str(tmp_path / "pkg.html"), "--json"]) == 0
    result = _last_json(capsys)
    assert result["model"] == "lenet5" and result["input_shape"] == [1, 28, 28]  # the package's own input
    assert cli(["viz", "graph", "lenet", "--out", str(out)]) == 2
    assert "did you mean 'lenet5'" in capsys.readouterr().err
    assert cli(["viz", "graph", "lenet5", "--out", str(tmp_path / "g.png")]) == 2


def test_cli_netron_missing_says_how_to_install_and_exits_1(tmp_path, cli, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "netron", None)  # import netron → ImportError
    assert cli(["viz", "graph", "lenet5", "--netron", "--out", str(tmp_path / "g.html")]) == 1
    assert "pip install netron" in capsys.readouterr().err
    assert not (tmp_path / "g.html").exists()  # checked before any work


@pytest.mark.parametrize("target", ["model name", "package"])
def test_cli_netron_gets_the_exported_onnx_file(tmp_path, cli, capsys, monkeypatch, package, target):
    import onnx
    import onnx.numpy_helper

    started, waited = [], []
    fake = types.SimpleNamespace(start=lambda path: started.append(path) or "localhost:8080",
                                 wait=lambda: waited.append(True))
    monkeypatch.setitem(sys.modules, "netron", fake)
    args = ["lenet5", "--input", "1x28x28"] if target == "model name" else [str(package)]
    assert cli(["viz", "graph", *args, "--netron", "--out", str(tmp_path / "g.html"), "--json"]) == 0
    result = _last_json(capsys)
    onnx_file = Path(result["onnx"])
    assert started == [str(onnx_file)] and waited == [True] and (tmp_path / "g.html").is_file()
    proto = onnx.load(str(onnx_file))  # one self-contained file: LeNet's 61,706 float32 weights are inside
    onnx.checker.check_model(proto)
    assert sum(onnx.numpy_helper.to_array(t).size for t in proto.graph.initializer) >= 61_706  # + a few constants
