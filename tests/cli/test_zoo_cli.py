"""`shendu zoo list | show`: JSON contracts, the graph file, exit code 2 on bad names and shapes."""
import json

import pytest

from shendu.cli import main
from shendu.models import MODELS
from shendu.viz import validate_graph


def _json_last_line(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_zoo_list_json_has_every_model_with_its_reference_params(capsys):
    assert main(["zoo", "list", "--json"]) == 0
    rows = {row["name"]: row for row in _json_last_line(capsys)["models"]}
    assert set(rows) == set(MODELS.names())
    # LeNet-5 at 32×32: 6·26 + 16·151 + 120·401 + 84·121 + 10·85 (LeCun et al. 1998, full C3)
    assert rows["lenet5"] | {"reference": None} == {"name": "lenet5", "family": "lenet", "paper": "LeCun et al. 1998",
                                                    "modality": "image", "params": 61706, "reference": None}


def test_zoo_list_family_filter_and_unknown_family(capsys):
    assert main(["zoo", "list", "--family", "lenet", "--json"]) == 0
    assert [row["name"] for row in _json_last_line(capsys)["models"]] == ["lenet5"]
    assert main(["zoo", "list", "--family", "lent"]) == 2
    assert "unknown model family 'lent' — did you mean 'lenet'" in capsys.readouterr().err
    assert main(["zoo", "list"]) == 0
    assert "LeCun et al. 1998" in capsys.readouterr().out


def test_zoo_show_lenet5_json(capsys):
    assert main(["zoo", "show", "lenet5", "--input", "1x32x32", "--json"]) == 0
    shown = _json_last_line(capsys)
    assert shown["model"] == "lenet5" and shown["input_shape"] == [1, 32, 32] and shown["graph"] is None
    assert shown["totals"]["params"] == 61706 and shown["totals"]["macs"] == 423_038  # see tests/viz/test_summary.py
    assert shown["rows"][1] == {"name": "features.0", "type": "Conv2d", "depth": 2, "output_shape": [1, 6, 28, 28],
                                "params": 156, "macs": 28 * 28 * 6 * 26, "leaf": True, "reused": False}


def test_zoo_show_writes_the_graph_and_prints_the_table(tmp_path, capsys):
    out = tmp_path / "graphs" / "lenet5.json"
    assert main(["zoo", "show", "lenet5", "--input", "1x28x28", "--classes", "3", "--graph", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "features.0" in printed and "Conv2d" in printed and f"→ {out}" in printed
    graph = json.loads(out.read_text(encoding="utf-8"))
    validate_graph(graph)
    assert graph["model"] == "lenet5" and graph["input_shape"] == [1, 28, 28]
    assert graph["nodes"][-2]["output_shape"] == [1, 3]  # --classes reached the model


def test_bad_input_and_unknown_model_exit_2(capsys):
    assert main(["zoo", "show", "lenet5", "--input", "3by32"]) == 2
    assert "--input: expected CxHxW like 3x32x32 for an image model, received '3by32'" in capsys.readouterr().err
    assert main(["zoo", "show", "lenet5", "--input", "1x8x9", "--json"]) == 2
    assert "expected a square image shape CxSxS like 3x32x32, received 1×8×9" in capsys.readouterr().err
    assert main(["zoo", "show", "lenet", "--json"]) == 2
    assert "unknown model 'lenet' — did you mean 'lenet5'" in capsys.readouterr().err


TEXT_MODELS = [n for n in MODELS.names() if MODELS.meta(n).get("modality") == "text"]


@pytest.mark.skipif(not TEXT_MODELS, reason="no text model registered")
def test_zoo_show_text_model_takes_a_sequence_length(tmp_path, capsys):
    out = tmp_path / "text.json"
    assert main(["zoo", "show", TEXT_MODELS[0], "--input", "16", "--classes", "2", "--graph", str(out), "--json"]) == 0
    shown = _json_last_line(capsys)
    assert shown["modality"] == "text" and shown["input_shape"] == [16] and shown["graph"] == str(out)
    graph = json.loads(out.read_text(encoding="utf-8"))
    assert graph["nodes"][0]["output_shape"] == [1, 16]  # (B, L) token ids
    assert main(["zoo", "show", TEXT_MODELS[0], "--input", "3x32x32"]) == 2
    assert "expected a sequence length like 64 for a text model" in capsys.readouterr().err
