"""Filtering, sorting and grouping runs (`_query.py`), the summary and tag rows behind them, compare, export
and delete — on SQLite and, when SHENDU_TEST_PG is set, PostgreSQL."""
from __future__ import annotations

import csv
import json
import secrets
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sqlalchemy import func, select, text

from shendu.errors import BadInputError
from shendu.track import RunStore
from shendu.track import _migrate
from shendu.track._query import Comparison, FilterError, Logical, Negation, parse_filter
from shendu.track._schema import Artifact, Metric, RunSummary, RunTag

# name: (model, dataset, seed, config, {metric: values per epoch}, final status or None for still running)
RUNS = {
    "A": ("resnet20", "cifar10", 0,
          {"model": {"name": "resnet20", "args": {"width": 16}}, "optim": {"name": "sgd", "lr": 0.1},
           "train": {"compile": False, "seed": 0}, "track": {"tags": ["baseline"]}},
          {"val_accuracy": [0.5, 0.93, 0.91], "val_loss": [1.0, 0.3, 0.35]}, "completed"),
    "B": ("resnet20", "cifar10", 1,
          {"model": {"name": "resnet20", "args": {"width": 32}}, "optim": {"name": "sgd", "lr": 0.01},
           "train": {"compile": False, "seed": 1}, "track": {"tags": ["baseline", "bn"]}},
          {"val_accuracy": [0.6, 0.88], "val_loss": [0.9, 0.5]}, "completed"),
    "C": ("lenet5", "mnist", 0,
          {"model": {"name": "lenet5", "args": {}}, "optim": {"name": "adam", "lr": 0.003},
           "train": {"compile": True, "seed": 0}, "track": {"tags": []}},
          {"val_accuracy": [0.97], "val_loss": [0.1]}, "failed"),
    "D-mlp": ("mlp", "digits", 2,
              {"model": {"name": "mlp", "args": {"hidden": [64, 32]}}, "optim": {"name": "sgd"},
               "train": {"seed": 2}, "track": {}},
              {}, None),
    None: ("resnet56", "cifar10", 1,
           {"model": {"name": "resnet56", "args": {"width": 16}}, "optim": {"name": "sgd", "lr": 0.1},
            "train": {"compile": False, "seed": 1}, "track": {"tags": ["ablation"]}},
           {"val_accuracy": [0.8], "test_accuracy": [0.79]}, "completed"),
}
E = None  # the run without a name; newest first the runs list as E, D-mlp, C, B, A


def _make_runs(store: RunStore, runs: dict = RUNS) -> tuple[str, dict]:
    """The runs above in a sweep of their own (the PostgreSQL database is shared by every test)."""
    sweep, ids = f"t{secrets.token_hex(4)}", {}
    for name, (model, dataset, seed, config, metrics, status) in runs.items():
        run_id = store.create_run(config=config, seed=seed, model=model, dataset=dataset, name=name)
        store.link(run_id, sweep=sweep)
        for epoch in range(max((len(v) for v in metrics.values()), default=0)):
            store.log_metrics(run_id, {m: v[epoch] for m, v in metrics.items() if epoch < len(v)}, epoch=epoch + 1)
        if status:
            store.finish(run_id, status)
        ids[name] = run_id
    return sweep, ids


@pytest.fixture
def made(any_store: RunStore) -> tuple[RunStore, str, dict]:
    sweep, ids = _make_runs(any_store)
    return any_store, sweep, ids


def _names(store: RunStore, sweep: str, **kwargs) -> list:
    return [run.name for run in store.list_runs(None, sweep=sweep, **kwargs)]


# -- the parser -------------------------------------------------------------------------------------------
def test_precedence_and_field_kinds() -> None:
    tree = parse_filter("status=completed or model.name=resnet20 and not (val_accuracy.best>=0.9 or tag~b*)")
    assert isinstance(tree, Logical) and tree.op == "or"
    left, right = tree.items
    assert (left.field.kind, left.field.name, left.value.text) == ("column", "status", "completed")
    assert isinstance(right, Logical) and right.op == "and"  # `and` binds tighter than `or`
    config, negated = right.items
    assert (config.field.kind, config.field.path, config.op) == ("config", ("model", "name"), "=")
    assert isinstance(negated, Negation) and isinstance(negated.item, Logical)
    metric, tag = negated.item.items
    assert (metric.field.kind, metric.field.name, metric.field.summary, metric.value.number) == (
        "metric", "val_accuracy", "best", 0.9)
    assert (tag.field.kind, tag.op, tag.value.text) == ("tag", "~", "b*")
    assert [c.index for c in (left, config, metric, tag)] == [0, 1, 2, 3]


@pytest.mark.parametrize("text, kind, number, keyword", [
    ("optim.lr>=1e-3", "config", 1e-3, None),
    ("optim.lr==.5", "config", 0.5, None),
    ('model.name="resnet 20"', "config", None, None),
    ("model.args.width='16'", "config", None, None),  # quoted: text, never a number
    ("train.compile=TRUE", "config", None, "true"),
    ("track.name!=null", "config", None, "null"),
    ("val_accuracy.final<-1", "metric", -1.0, None),
    ("seed>=2", "column", 2.0, None),
])
def test_values(text: str, kind: str, number: float | None, keyword: str | None) -> None:
    tree = parse_filter(text)
    assert isinstance(tree, Comparison)
    assert (tree.field.kind, tree.value.number, tree.value.keyword) == (kind, number, keyword)


@pytest.mark.parametrize("text, position, message", [
    ("", 1, "expected a comparison such as model.name=resnet20, got an empty filter"),
    ("   ", 4, "got an empty filter"),
    ("model.name=", 12, "expected a value after '=' (a number, a word, \"quoted text\", true, false or null), "
                        "got the end of the filter"),
    ("model.name resnet20", 12, "expected an operator (= != > >= < <= ~) after 'model.name', got 'resnet20'"),
    ("(status=completed", 18, "expected ')' to close the '(' at position 1 (or 'and' / 'or'), "
                              "got the end of the filter"),
    ("status=completed)", 17, "expected 'and', 'or' or the end of the filter, got ')' (no '(' is open)"),
    ("status=completed model=mlp", 18, "expected 'and', 'or' or the end of the filter, got 'model'"),
    ("status=completed and", 21, "expected a field — a config key (optim.lr), a column (status, model, dataset, "
                                 "tag, name, sweep) or a metric (val_accuracy) — got the end of the filter"),
    ("=resnet20", 1, "expected a field"),
    ("9lives=1", 1, "expected a field"),
    ("val_accuracy>high", 14, "val_accuracy is a number; expected a number after '>', got 'high'"),
    ("val_accuracy~0.9", 13, "'~' matches text, and val_accuracy is a number"),
    ("tag>a", 4, "tags compare with = != ~ only, got '>'"),
    ("status=runing", 8, "unknown status 'runing' — did you mean 'running'? (valid: running, completed, failed)"),
    ("name='abc", 6, "unterminated quoted value: expected a closing '"),
    ("name!abc", 5, "expected '!=' (negate a comparison with 'not'), got '!'"),
    ("optim.lr>null", 9, "null compares with = or != only (absent / present), got '>'"),
    ("name=and", 6, "expected a value after '='"),
    ("not", 4, "expected a field"),
])
def test_errors_say_where_and_what(text: str, position: int, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    assert caught.value.position == position
    shown = str(caught.value)
    assert shown.startswith(f"bad filter at position {position}: ")
    assert message in shown
    assert shown.endswith(f"\n  {text}\n  {' ' * (position - 1)}^")  # a caret under the spot
    assert isinstance(caught.value, BadInputError)  # exit code 2 on the command line


# -- filtering ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("where, expected", [
    ("model.name=resnet20", ["B", "A"]),
    ("model=resnet20", ["B", "A"]),
    ('model.name="resnet20"', ["B", "A"]),
    ("model.name~resnet*", [E, "B", "A"]),
    ("model~RES", [E, "B", "A"]),  # substring, any case
    ("model.name~net", [E, "C", "B", "A"]),
    ("optim.lr>0.05", [E, "A"]),
    ("optim.lr<=0.01", ["C", "B"]),
    ("optim.lr=null", ["D-mlp"]),  # absent
    ("optim.lr!=null", [E, "C", "B", "A"]),
    ("not optim.lr>0.05", ["D-mlp", "C", "B"]),  # a comparison with an absent value is false
    ("train.compile=true", ["C"]),
    ("train.compile=false", [E, "B", "A"]),
    ("model.args.width=16", [E, "A"]),
    ("model.args.width='16'", [E, "A"]),  # text of the number
    ("model.args.width>=32", ["B"]),
    ("model.args.hidden~64", ["D-mlp"]),  # a list, matched on its JSON text
    ("val_accuracy>0.9", ["C", "A"]),  # the final value
    ("val_accuracy.best>=0.93", ["C", "A"]),
    ("val_accuracy.final<0.9", [E, "B"]),
    ("val_accuracy=null", ["D-mlp"]),
    ("not val_accuracy>0.85", [E, "D-mlp"]),
    ("test_accuracy>0", [E]),
    ("tag=baseline", ["B", "A"]),
    ("tag!=baseline", [E, "D-mlp", "C"]),
    ("tag~B*", ["B", "A"]),
    ("tag=null", ["D-mlp", "C"]),
    ("tag=bn or tag=ablation", [E, "B"]),
    ("status=completed", [E, "B", "A"]),
    ("status!=completed", ["D-mlp", "C"]),
    ("name~mlp", ["D-mlp"]),
    ("name=null", [E]),
    ("not name=B", [E, "D-mlp", "C", "A"]),  # a NULL name is not 'B'
    ("seed>=1", [E, "D-mlp", "B"]),
    ("model.name=resnet20 and val_accuracy>0.9", ["A"]),
    ("(model.name=lenet5 or tag=ablation) and not status=failed", [E]),
    ("optim.name=sgd and (val_accuracy>0.85 or tag=null)", ["D-mlp", "B", "A"]),
    ("not (optim.name=sgd or model=lenet5)", []),
])
def test_filter(made, where: str, expected: list) -> None:
    store, sweep, _ = made
    assert _names(store, sweep, where=where) == expected


def test_filter_with_limit_and_status(made) -> None:
    store, sweep, _ = made
    assert _names(store, sweep, where="model.name~res*") == [E, "B", "A"]
    assert [r.name for r in store.list_runs(2, sweep=sweep, where="model.name~res*")] == [E, "B"]
    assert [r.name for r in store.list_runs(5, "completed", sweep=sweep, where="val_accuracy>0.85")] == ["B", "A"]


@pytest.mark.parametrize("sort, expected", [
    ("-val_accuracy", ["C", "A", "B", E, "D-mlp"]),  # absent last
    ("val_accuracy.best", [E, "B", "A", "C", "D-mlp"]),
    ("optim.lr", ["C", "B", E, "A", "D-mlp"]),  # ties newest first
    ("-optim.lr", [E, "A", "B", "C", "D-mlp"]),
    ("name", ["A", "B", "C", "D-mlp", E]),
    ("-seed", ["D-mlp", E, "B", "C", "A"]),
    ("created", ["A", "B", "C", "D-mlp", E]),
])
def test_sort(made, sort: str, expected: list) -> None:
    store, sweep, _ = made
    assert _names(store, sweep, sort=sort) == expected
    assert [r.name for r in store.list_runs(2, sweep=sweep, sort=sort)] == expected[:2]


def test_typos_are_errors_not_empty_lists(made) -> None:
    store, sweep, _ = made
    with pytest.raises(BadInputError, match=r"no run has a metric 'val_acc' — did you mean 'val_accuracy'"):
        store.list_runs(sweep=sweep, where="val_acc>0.5")
    with pytest.raises(BadInputError, match=r"unknown config key 'optim.lrr' — did you mean 'optim.lr'"):
        store.list_runs(sweep=sweep, where="optim.lrr>0.5")
    with pytest.raises(BadInputError, match=r"unknown config key 'model.nmae' — did you mean 'model.name'"):
        store.group_runs("model.nmae", sweep=sweep)
    with pytest.raises(BadInputError, match=r"unknown config key 'model.nmae'"):  # narrowed to no run by SQL
        store.list_runs(sweep=sweep, where="model.nmae=resnet20")
    assert _names(store, sweep, where="model.args.hidden!=null") == ["D-mlp"]  # one run has it: not a typo
    with pytest.raises(FilterError, match=r"bad sort key at position 2: expected created, a column"):
        store.list_runs(sort="-(")


# -- the rows behind it -------------------------------------------------------------------------------------
def _summary_rows(store: RunStore, run_id: str) -> dict:
    with store._read() as session:
        rows = session.execute(select(RunSummary.metric, RunSummary.final, RunSummary.best)
                               .where(RunSummary.run_id == run_id)).all()
    return {metric: {"final": final, "best": best} for metric, final, best in rows}


def test_summary_rows_follow_log_metrics_and_rewind(any_store: RunStore) -> None:
    run_id = any_store.create_run(config={}, seed=0, model="mlp", dataset="digits")
    for epoch, (loss, acc) in enumerate([(1.0, 0.5), (0.4, 0.9), (0.7, 0.8)], start=1):
        any_store.log_metrics(run_id, {"train_loss": loss, "val_accuracy": acc}, epoch=epoch)
    any_store.log_metrics(run_id, {"test_accuracy": 0.85}, epoch=3)
    assert _summary_rows(any_store, run_id) == any_store.get_run(run_id).summary == {
        "train_loss": {"final": 0.7, "best": 0.4}, "val_accuracy": {"final": 0.8, "best": 0.9},
        "test_accuracy": {"final": 0.85, "best": 0.85}}
    any_store.rewind(run_id, after_epoch=1)  # a resumed run drops what it replays; test_accuracy goes too
    assert _summary_rows(any_store, run_id) == any_store.get_run(run_id).summary == {
        "train_loss": {"final": 1.0, "best": 1.0}, "val_accuracy": {"final": 0.5, "best": 0.5}}


def test_tags_from_config_and_commands(any_store: RunStore) -> None:
    run_id = any_store.create_run(config={"track": {"tags": ["baseline", " bn ", "baseline"]}}, seed=0,
                                  model="mlp", dataset="digits")
    assert any_store.get_run(run_id).tags == ["baseline", "bn"]  # stripped, no duplicate
    assert any_store.tag(run_id[:-1], ["zz", "bn"]) == ["baseline", "bn", "zz"]  # a unique prefix will do
    assert any_store.untag(run_id, ["baseline", "never-had"]) == ["bn", "zz"]
    assert any_store.get_run(run_id).tags == ["bn", "zz"]
    assert any_store.add_notes(run_id, ["lr too high"]) == ["lr too high"]
    with pytest.raises(BadInputError, match="tag must be a non-empty string"):
        any_store.tag(run_id, [" "])
    with pytest.raises(BadInputError, match="tag is 101 characters long, at most 100 fit"):
        any_store.tag(run_id, ["x" * 101])
    with pytest.raises(BadInputError, match="config track.tags must be a list of strings, got str"):
        any_store.create_run(config={"track": {"tags": "baseline"}}, seed=0, model="mlp", dataset="digits")


# -- grouping -----------------------------------------------------------------------------------------------
def _groups(store: RunStore, sweep: str, by: str, **kwargs) -> dict:
    return {g.key: g for g in store.group_runs(by, sweep=sweep, **kwargs)}


def test_group_by_against_numpy(any_store: RunStore) -> None:
    rng = np.random.default_rng(0)
    finals = {lr: rng.uniform(0.5, 1.0, size=(4, 2)) for lr in (0.1, 0.01, 0.001)}  # 4 runs, 2 metrics
    runs = {f"lr{lr}-{k}": ("mlp", "digits", k, {"optim": {"lr": lr}}, {"val_accuracy": [0.1, v[0]],
                                                                        "val_loss": [9.0, v[1]]}, "completed")
            for lr, values in finals.items() for k, v in enumerate(values)}
    sweep, _ = _make_runs(any_store, runs)
    groups = _groups(any_store, sweep, "optim.lr")
    assert sorted(groups) == [0.001, 0.01, 0.1]
    for lr, values in finals.items():
        group = groups[lr]
        assert group.count == 4 and sorted(group.metrics) == ["val_accuracy", "val_loss"]
        for column, metric in enumerate(("val_accuracy", "val_loss")):
            stats = group.metrics[metric]
            assert stats.n == 4
            assert_allclose(stats.mean, np.mean(values[:, column]), rtol=1e-12, atol=0)
            assert_allclose(stats.std, np.std(values[:, column], ddof=1), rtol=1e-9, atol=0)


def test_group_by_keys_filters_and_sorting(made) -> None:
    store, sweep, ids = made
    by_model = _groups(store, sweep, "model.name")
    assert {k: sorted(g.run_ids) for k, g in by_model.items()} == {
        "resnet20": sorted([ids["A"], ids["B"]]), "lenet5": [ids["C"]], "mlp": [ids["D-mlp"]], "resnet56": [ids[E]]}
    stats = by_model["resnet20"].metrics["val_accuracy"]
    assert_allclose([stats.mean, stats.std], [np.mean([0.91, 0.88]), np.std([0.91, 0.88], ddof=1)], rtol=1e-12)
    assert by_model["lenet5"].metrics["val_accuracy"].std is None  # one run: no spread to report
    assert by_model["mlp"].metrics == {}
    by_tag = _groups(store, sweep, "tag")  # a run is in the group of each of its tags
    assert {k: g.count for k, g in by_tag.items()} == {"baseline": 2, "bn": 1, "ablation": 1, None: 2}
    by_lr = _groups(store, sweep, "optim.lr")
    assert {k: g.count for k, g in by_lr.items()} == {0.1: 2, 0.01: 1, 0.003: 1, None: 1}
    done = _groups(store, sweep, "dataset", where="status=completed and val_accuracy>0")
    assert {k: g.count for k, g in done.items()} == {"cifar10": 3}
    assert_allclose(done["cifar10"].metrics["val_accuracy"].mean, np.mean([0.91, 0.88, 0.8]), rtol=1e-12)
    keys = [g.key for g in store.group_runs("model.name", sweep=sweep, sort="-val_accuracy")]
    assert keys == ["lenet5", "resnet20", "resnet56", "mlp"]  # groups without the metric last
    assert [g.key for g in store.group_runs("model.name", sweep=sweep, sort="-count", limit=2)][0] == "resnet20"
    assert [g.key for g in store.group_runs("model", sweep=sweep)] == ["lenet5", "mlp", "resnet20", "resnet56"]
    only = store.group_runs("model", sweep=sweep, metrics=["val_loss"])
    assert {name for g in only for name in g.metrics} == {"val_loss"}
    with pytest.raises(FilterError, match="'val_accuracy' is a metric; group by a config key"):
        store.group_runs("val_accuracy", sweep=sweep)
    with pytest.raises(BadInputError, match="groups sort by count, the group key"):
        store.group_runs("model", sweep=sweep, sort="optim.lr")


# -- compare, export, delete --------------------------------------------------------------------------------
def test_compare_shows_only_what_differs(made) -> None:
    store, _, ids = made
    result = store.compare_runs([ids["A"], ids["B"][:-2], ids["D-mlp"]])
    assert [r.id for r in result.runs] == [ids["A"], ids["B"], ids["D-mlp"]]
    assert result.config == {
        "model.args.hidden": [None, None, [64, 32]],
        "model.args.width": [16, 32, None],
        "model.name": ["resnet20", "resnet20", "mlp"],
        "optim.lr": [0.1, 0.01, None],
        "track": [None, None, {}],
        "track.tags": [["baseline"], ["baseline", "bn"], None],
        "train.compile": [False, False, None],
        "train.seed": [0, 1, 2],
    }  # optim.name is sgd in all three: not shown
    assert result.metrics == {
        "val_accuracy": [{"final": 0.91, "best": 0.93}, {"final": 0.88, "best": 0.88}, None],
        "val_loss": [{"final": 0.35, "best": 0.3}, {"final": 0.5, "best": 0.5}, None]}
    assert json.loads(json.dumps(result.to_json()))["config_diff"]["optim.lr"] == [0.1, 0.01, None]
    with pytest.raises(BadInputError, match="compare needs two or more run ids"):
        store.compare_runs([ids["A"]])


def test_export_csv_and_json(made, tmp_path: Path) -> None:
    store, sweep, ids = made
    result = store.export_runs(tmp_path / "runs.csv", "csv", where=f"sweep={sweep}")
    assert (result.runs, result.path) == (5, str(tmp_path / "runs.csv"))
    with open(tmp_path / "runs.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "id", "name", "status", "model", "dataset", "seed", "created", "tags",
        "model.args", "model.args.hidden", "model.args.width", "model.name", "optim.lr", "optim.name", "track",
        "track.tags", "train.compile", "train.seed",
        "test_accuracy.final", "test_accuracy.best", "val_accuracy.final", "val_accuracy.best",
        "val_loss.final", "val_loss.best"]
    a = next(row for row in rows if row["id"] == ids["A"])
    assert (a["name"], a["status"], a["model"], a["dataset"], a["seed"], a["tags"]) == (
        "A", "completed", "resnet20", "cifar10", "0", '["baseline"]')
    assert (a["optim.lr"], a["train.compile"], a["model.args.hidden"], a["test_accuracy.final"]) == (
        "0.1", "false", "", "")
    assert (float(a["val_accuracy.final"]), float(a["val_accuracy.best"])) == (0.91, 0.93)
    assert [row["id"] for row in rows] == [ids[n] for n in (E, "D-mlp", "C", "B", "A")]

    store.export_runs(tmp_path / "runs.json", "json", where=f"sweep={sweep} and val_accuracy>0.9", sort="name")
    exported = json.loads((tmp_path / "runs.json").read_text(encoding="utf-8"))
    assert [row["name"] for row in exported] == ["A", "C"]
    assert all(list(row) == list(exported[0]) for row in exported)  # every column in every object
    assert exported[0]["tags"] == ["baseline"] and exported[0]["model.args.width"] == 16
    assert (exported[0]["model.args"], exported[1]["model.args"]) == (None, {})  # null where a run lacks it
    with pytest.raises(BadInputError, match="the folder .*missing.* does not exist"):
        store.export_runs(tmp_path / "missing" / "runs.csv", "csv")


def test_delete_removes_rows_and_only_files_under_home(store: RunStore, shendu_home: Path, tmp_path: Path) -> None:
    sweep, ids = _make_runs(store)
    doomed, kept = ids["A"], ids["B"]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not shendu's")
    folders = [shendu_home / sub / doomed for sub in ("runs", "packages", "tb")]
    for folder in folders:
        folder.mkdir(parents=True)
        (folder / "file").write_text("x")
    (folders[0] / "escape").symlink_to(outside, target_is_directory=True)  # a link out of SHENDU_HOME
    store.add_artifact(doomed, "checkpoint", folders[0] / "checkpoint.pt")
    store.add_artifact(doomed, "log", outside / "keep.txt")  # recorded, but not under SHENDU_HOME
    store.set_package(doomed, folders[1])

    plan = store.delete_runs([doomed[:-1]], files=True, dry_run=True)
    assert plan == [{"id": doomed, "status": "completed", "metrics": 6, "artifacts": 2,
                     "files": sorted(str(f) for f in folders)}]
    assert all(f.exists() for f in folders) and store.get_run(doomed)  # a dry run deletes nothing
    assert store.delete_runs([doomed, doomed], files=True) == plan
    assert not any(f.exists() for f in folders)
    assert (outside / "keep.txt").read_text() == "not shendu's"  # neither the link's target nor the artifact
    assert all((shendu_home / sub).is_dir() for sub in ("runs", "packages", "tb"))
    with store._read() as session:
        for table in (Metric, Artifact, RunSummary, RunTag):
            assert session.scalar(select(func.count()).select_from(table).where(table.run_id == doomed)) == 0
        assert session.scalar(select(func.count()).select_from(Metric).where(Metric.run_id == kept)) == 4
    assert [r.name for r in store.list_runs(sweep=sweep, where="tag=baseline")] == ["B"]

    with pytest.raises(BadInputError, match=f"run {ids['D-mlp']} is still running; stop its process first"):
        store.delete_runs([ids["D-mlp"]])
    store.delete_runs([kept])  # without files=True the folders stay
    assert store.get_run(ids["C"]).status == "failed"


def test_migration_backfills_summary_and_tags(shendu_home: Path) -> None:
    from alembic import command

    store = RunStore(f"sqlite:///{shendu_home / 'old.db'}")
    run_id = store.create_run(config={}, seed=0, model="mlp", dataset="digits")
    store.log_metrics(run_id, {"val_accuracy": 0.7}, epoch=1)
    store.log_metrics(run_id, {"val_accuracy": 0.6}, epoch=2)
    with store._writer.begin() as connection:
        command.downgrade(_migrate._alembic_config(connection), "0002")  # as a database of the previous release
        connection.execute(text("UPDATE runs SET config = :c"), {"c": '{"track": {"tags": ["old", "old", ""]}}'})
    store.close()
    reopened = RunStore(store.url)  # upgraded to 0003 on open
    assert _summary_rows(reopened, run_id) == {"val_accuracy": {"final": 0.6, "best": 0.7}}
    assert reopened.get_run(run_id).tags == ["old"]
    assert [r.id for r in reopened.list_runs(where="tag=old and val_accuracy.best>0.65")] == [run_id]
    reopened.close()
