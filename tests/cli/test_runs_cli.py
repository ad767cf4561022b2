"""`shendu runs ...` as a user meets it: filters and group-by, compare, export, delete, tags and notes; exit
codes 0 / 2 / 1, the --json last line, bilingual help."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from shendu.cli import main
from shendu.cli._common import console
from shendu.track import open_store


def _last_json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def runs() -> dict[str, str]:
    """Four finished runs in the test's own SHENDU_HOME: two ResNet-20 seeds, a LeNet-5, and an MLP."""
    store, ids = open_store(), {}
    specs = {"r0": ("resnet20", 0.1, 0.90, ["baseline"]), "r1": ("resnet20", 0.1, 0.86, []),
             "le": ("lenet5", 0.05, 0.97, ["baseline"]), "mlp": ("mlp", 0.01, 0.70, [])}
    for name, (model, lr, acc, tags) in specs.items():
        config = {"model": {"name": model}, "optim": {"name": "sgd", "lr": lr}, "track": {"tags": tags}}
        run_id = store.create_run(config=config, seed=0, model=model, dataset="digits", name=name)
        store.log_metrics(run_id, {"val_accuracy": acc - 0.1, "val_loss": 1.0}, epoch=1)
        store.log_metrics(run_id, {"val_accuracy": acc, "val_loss": 1.0 - acc}, epoch=2)
        store.log_metrics(run_id, {"test_accuracy": acc - 0.01}, epoch=2)
        store.finish(run_id, "completed")
        ids[name] = run_id
    return ids


def test_list_filter_sort_and_json(runs: dict[str, str], capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 160)  # a terminal, not pytest's 80-column capture
    assert main(["runs", "list", "--filter", "model.name=resnet20 and val_accuracy>0.88", "--json"]) == 0
    assert [r["name"] for r in _last_json(capsys)["runs"]] == ["r0"]
    assert main(["runs", "list", "--sort", "-val_accuracy", "--limit", "2", "--json"]) == 0
    listed = _last_json(capsys)["runs"]
    assert [r["name"] for r in listed] == ["le", "r0"] and listed[0]["tags"] == ["baseline"]
    assert main(["runs", "list", "--filter", "tag=baseline", "--sort=-val_accuracy.best"]) == 0
    out = capsys.readouterr().out
    assert runs["le"] in out and runs["r0"] in out and runs["mlp"] not in out
    assert "val_accuracy.best" in out and "0.9700" in out and "baseline" in out  # the sorted metric is shown
    assert main(["runs", "list", "--filter", "optim.lr>1"]) == 0
    assert "No run matches." in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--filter", "model.name=resnet20 and (val_accuracy>0.9"],
     "bad filter at position 42: expected ')' to close the '(' at position 25"),
    (["--filter", "val_acc>0.9"], "no run has a metric 'val_acc' — did you mean 'val_accuracy'"),
    (["--filter", "optim.lrr>0.1"], "unknown config key 'optim.lrr' — did you mean 'optim.lr'"),
    (["--sort", "tag"], "runs cannot be sorted by tag"),
    (["--group-by", "val_accuracy"], "'val_accuracy' is a metric; group by a config key"),
    (["--status", "done"], "unknown run status 'done'"),
])
def test_bad_input_exits_2_and_says_what(runs, capsys: pytest.CaptureFixture[str], argv: list[str],
                                         message: str) -> None:
    assert main(["runs", "list", *argv]) == 2
    assert message in capsys.readouterr().err


def test_group_by_mean_std(runs, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "list", "--group-by", "model.name", "--sort", "-count", "--json"]) == 0
    result = _last_json(capsys)
    assert result["group_by"] == "model.name"
    groups = {g["key"]: g for g in result["groups"]}
    assert result["groups"][0]["key"] == "resnet20" and groups["resnet20"]["count"] == 2
    stats = groups["resnet20"]["metrics"]["val_accuracy"]
    assert_allclose([stats["mean"], stats["std"]], [np.mean([0.90, 0.86]), np.std([0.90, 0.86], ddof=1)],
                    rtol=1e-12)
    assert groups["mlp"]["metrics"]["val_accuracy"] == {"n": 1, "mean": 0.70, "std": None}
    assert main(["runs", "list", "--group-by", "optim.lr", "--metric", "test_accuracy"]) == 0
    out = capsys.readouterr().out
    assert "0.8700 ± 0.0283" in out  # test_accuracy of the two lr=0.1 runs: 0.89, 0.85
    assert "0.6900 (n=1)" in out and "val_loss" not in out


def test_compare(runs, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "compare", runs["r0"], runs["le"][:-1], "--json"]) == 0
    result = _last_json(capsys)
    assert [r["id"] for r in result["runs"]] == [runs["r0"], runs["le"]]
    assert result["config_diff"] == {"model.name": ["resnet20", "lenet5"], "optim.lr": [0.1, 0.05]}
    assert result["metrics"]["val_accuracy"] == [{"final": 0.90, "best": 0.90}, {"final": 0.97, "best": 0.97}]
    assert main(["runs", "compare", runs["r0"], runs["r1"]]) == 0
    out = capsys.readouterr().out
    assert "optim.lr" not in out and "0.9000 (0.9000)" in out and "0.8600 (0.8600)" in out
    assert main(["runs", "compare", runs["r0"]]) == 2
    assert "compare needs two or more run ids" in capsys.readouterr().err


def test_export_csv_json_and_stdout(runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "runs.csv"
    assert main(["runs", "export", "--csv", str(target), "--filter", "val_accuracy>0.8"]) == 0
    assert f"Wrote 3 run(s) × 18 columns to {target}" in capsys.readouterr().out
    with open(target, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["id", "name", "status", "model", "dataset", "seed", "created", "tags",
                             "model.name", "optim.lr", "optim.name", "track.tags",
                             "test_accuracy.final", "test_accuracy.best", "val_accuracy.final", "val_accuracy.best",
                             "val_loss.final", "val_loss.best"]
    assert [row["name"] for row in rows] == ["le", "r1", "r0"]
    assert main(["runs", "export", "--json", "-", "--sort", "name", "--limit", "1"]) == 0
    captured = capsys.readouterr()
    assert [row["name"] for row in json.loads(captured.out)] == ["le"]
    assert "Wrote 1 run(s)" in captured.err  # the data alone on standard output
    assert main(["runs", "export"]) == 2
    assert "give exactly one of --csv FILE or --json FILE" in capsys.readouterr().err


def test_delete_asks_first(runs, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                           shendu_home: Path) -> None:
    checkpoints = shendu_home / "runs" / runs["mlp"]
    checkpoints.mkdir(parents=True)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert main(["runs", "delete", runs["mlp"]]) == 1
    captured = capsys.readouterr()
    assert runs["mlp"] in captured.out and "Delete 1 run(s)? [y/N]" in captured.err
    assert "Nothing deleted." in captured.err
    assert open_store().get_run(runs["mlp"]).name == "mlp"  # declined: still there
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert main(["runs", "delete", runs["mlp"], "--json"]) == 0
    result = _last_json(capsys)
    assert result == {"deleted": [{"id": runs["mlp"], "status": "completed", "metrics": 5, "artifacts": 0,
                                   "files": []}]}
    assert checkpoints.is_dir()  # no --files: the folders stay
    assert main(["runs", "delete", runs["r1"], "--yes", "--files"]) == 0
    assert "Deleted 1 run(s)." in capsys.readouterr().out
    assert main(["runs", "list", "--json"]) == 0
    assert sorted(r["name"] for r in _last_json(capsys)["runs"]) == ["le", "r0"]
    assert main(["runs", "delete", runs["mlp"], "--yes"]) == 2
    assert f"no run '{runs['mlp']}'" in capsys.readouterr().err


def test_tags_and_notes(runs, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "tag", runs["r1"][:-1], "seed-study", "bn", "--json"]) == 0
    assert _last_json(capsys) == {"run_id": runs["r1"], "tags": ["bn", "seed-study"]}
    assert main(["runs", "untag", runs["r1"], "bn"]) == 0
    assert f"{runs['r1']} tags: seed-study" in capsys.readouterr().out
    assert main(["runs", "note", runs["r1"], "diverged once at lr 0.5", "--json"]) == 0
    assert _last_json(capsys) == {"run_id": runs["r1"], "notes": ["diverged once at lr 0.5"]}
    assert main(["runs", "show", runs["r1"]]) == 0
    out = capsys.readouterr().out
    assert "tags: seed-study" in out and "note: diverged once at lr 0.5" in out
    assert main(["runs", "list", "--filter", "tag~seed*", "--json"]) == 0
    assert [r["name"] for r in _last_json(capsys)["runs"]] == ["r1"]


@pytest.mark.parametrize("command, english, chinese", [
    ("compare", "Compare runs side by side", "并排比较运行"),
    ("export", "Export one row per run", "导出每次运行一行"),
    ("delete", "Delete runs with their metrics", "删除运行及其指标"),
    ("tag", "Add tags to a run", "为运行添加标签"),
    ("list", "Group by a config key or column", "按配置项或列分组"),
])
def test_help_is_bilingual(command: str, english: str, chinese: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps the help text
    assert english in out and chinese in out
