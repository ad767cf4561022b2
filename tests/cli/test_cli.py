"""The CLI as a user meets it: exit codes, --json last line, messages on bad input."""
import json

import pytest

from shendu.cli import main

QUICK = ["--set", "train.epochs=2"]


def _json_last_line(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out.strip().splitlines()[-1])


def test_train_json_contract(capsys):
    assert main(["train", "examples/digits-lenet.yaml", *QUICK, "--json"]) == 0
    result = _json_last_line(capsys)
    assert set(result) == {"run_id", "status", "metrics", "package"}
    assert result["status"] == "completed" and result["package"].startswith("/")
    assert 0.0 <= result["metrics"]["test_accuracy"] <= 1.0

    assert main(["runs", "show", result["run_id"], "--json"]) == 0
    shown = _json_last_line(capsys)
    assert shown["id"] == result["run_id"] and shown["status"] == "completed"
    assert main(["runs", "list"]) == 0
    assert result["run_id"] in capsys.readouterr().out

    assert main(["eval", result["package"], "--data", "digits", "--split", "test", "--json"]) == 0
    evaluated = _json_last_line(capsys)
    assert evaluated["metrics"]["test_accuracy"] == pytest.approx(result["metrics"]["test_accuracy"])


def test_unknown_config_key_exits_2_with_hint(capsys):
    assert main(["train", "examples/digits-lenet.yaml", "--set", "optim.lrr=0.1"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'optim.lrr' — did you mean 'optim.lr'?" in err


def test_bad_input_with_json_still_ends_with_json(capsys):
    assert main(["train", "examples/digits-lenet.yaml", "--set", "train.epochs=zero", "--json"]) == 2
    result = _json_last_line(capsys)
    assert result["status"] == "failed" and result["run_id"] is None
    assert "train.epochs: expected an integer" in result["error"]


def test_model_args_checked_before_a_run_is_created(capsys):
    assert main(["train", "examples/digits-lenet.yaml", "--set", "model.name=mlp", "--json"]) == 2
    result = _json_last_line(capsys)
    assert result["run_id"] is None
    assert "model 'mlp' has no argument 'model.args.activation'" not in result["error"]
    assert "model 'mlp' has no argument 'model.args.pool'" in result["error"]


def test_unknown_dataset_and_missing_config(capsys):
    assert main(["data", "info", "mnsit"]) == 2
    assert "did you mean 'mnist'" in capsys.readouterr().err
    assert main(["train", "nowhere.yaml"]) == 2
    assert "config file not found: nowhere.yaml" in capsys.readouterr().err


def test_runs_show_unknown(capsys):
    assert main(["runs", "show", "nope"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


def test_data_list_and_info(capsys):
    assert main(["data", "list", "--json"]) == 0
    names = {row["name"] for row in _json_last_line(capsys)["datasets"]}
    assert {"digits", "mnist", "fashion_mnist", "cifar10"} <= names
    assert main(["data", "info", "mnist"]) == 0
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().out


def test_predict_command(capsys, tmp_path):
    from PIL import Image

    from shendu.data import load_dataset

    assert main(["train", "examples/digits-lenet.yaml", *QUICK, "--json"]) == 0
    package = _json_last_line(capsys)["package"]
    path = tmp_path / "x.png"
    Image.fromarray(load_dataset("digits", "test").x[0, 0].numpy(), mode="L").save(path)
    assert main(["predict", package, str(path), "--json"]) == 0
    rows = _json_last_line(capsys)["predictions"]
    assert rows[0]["file"] == str(path) and rows[0]["label"] in [str(i) for i in range(10)]


def test_chinese_messages(capsys, monkeypatch):
    monkeypatch.setenv("SHENDU_LANG", "zh")
    assert main(["runs", "list"]) == 0
    assert "还没有运行记录" in capsys.readouterr().out
    assert main(["runs", "show", "nope"]) == 2
    assert "错误" in capsys.readouterr().err


def test_help_is_bilingual(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "train, inspect" in out and "训练" in out
