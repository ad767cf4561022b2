"""TensorBoard event files, read back with TensorBoard's own EventAccumulator and checked against the run
database, the checkpoint's weights and the training images; failure, resume and the switches."""
from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

from shendu.data import load_dataset
from shendu.track import open_store
from shendu.track._tensorboard import IMAGES_TAG, PARAMS_PREFIX, flat_hparams
from shendu.train import Trainer, _loop, train
from shendu.train._checkpoint import load_checkpoint

CONFIG = {"data": {"name": "digits"}, "model": {"name": "lenet5"}, "train": {"epochs": 3}}
KEEP_ALL = {"scalars": 0, "histograms": 0, "images": 0, "tensors": 0, "compressedHistograms": 0}


def _read(folder: Path) -> event_accumulator.EventAccumulator:
    acc = event_accumulator.EventAccumulator(str(folder), size_guidance=KEEP_ALL)
    acc.Reload()
    return acc


def _tb_scalars(acc: event_accumulator.EventAccumulator) -> dict[str, list[tuple[int, float]]]:
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _db_scalars(run_id: str, db: str | None = None) -> dict[str, list[tuple[int, float]]]:
    found: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for row in open_store(db).metric_history(run_id):
        found[row["name"]].append((row["epoch"], row["value"]))
    return dict(found)


def _assert_same_scalars(tb: dict, db: dict) -> None:
    assert sorted(tb) == sorted(db)
    for name, rows in db.items():
        assert [step for step, _ in tb[name]] == [epoch for epoch, _ in rows], name
        # TensorBoard keeps float32 (simple_value); the database keeps float64
        assert [value for _, value in tb[name]] == pytest.approx([value for _, value in rows], rel=1e-6, abs=1e-12)


def _hparams(acc: event_accumulator.EventAccumulator) -> dict[str, plugin_data_pb2.HParamsPluginData]:
    try:
        content = acc.PluginTagToContent("hparams")
    except KeyError:  # no hparams written
        return {}
    return {tag: plugin_data_pb2.HParamsPluginData.FromString(data) for tag, data in content.items()}


def test_event_files_match_the_run(shendu_home):
    result = train(CONFIG, progress=False)
    folder = shendu_home / "tb" / result.run_id
    record = open_store().get_run(result.run_id)
    assert [a["path"] for a in record.artifacts if a["kind"] == "tensorboard"] == [str(folder)]
    acc = _read(folder)

    # every metric of every epoch, and the test metrics at the last epoch, as the database has them
    db = _db_scalars(result.run_id)
    assert {"train_loss", "val_accuracy", "lr", "test_accuracy"} <= set(db)
    _assert_same_scalars(_tb_scalars(acc), db)

    # a histogram of every parameter each epoch; epoch 3's is the checkpoint's tensor (saved at epoch 3)
    weights = load_checkpoint(shendu_home / "runs" / result.run_id / "checkpoint.pt")["model"]
    params = {k for k in weights if k.endswith(("weight", "bias"))}
    assert set(acc.Tags()["histograms"]) == {PARAMS_PREFIX + name for name in params}
    for name in params:
        events = acc.Histograms(PARAMS_PREFIX + name)
        assert [e.step for e in events] == [1, 2, 3]
        histo, tensor = events[-1].histogram_value, weights[name].double()
        assert histo.num == tensor.numel()
        assert (histo.min, histo.max) == pytest.approx((tensor.min().item(), tensor.max().item()), rel=1e-6)
        assert histo.sum == pytest.approx(tensor.sum().item(), rel=1e-4, abs=1e-5)

    # the first 16 training images, 8 per row, pixel for pixel
    (image,) = acc.Images(IMAGES_TAG)
    assert image.step == 0 and (image.width, image.height) == (8 * 8, 2 * 8)
    shown = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)).convert("L"))
    first = load_dataset("digits", "train", progress=False).x[:16, 0].numpy()  # (16, 8, 8)
    expected = first.reshape(2, 8, 8, 8).transpose(0, 2, 1, 3).reshape(16, 64)  # rows of 8 tiles
    np.testing.assert_array_equal(shown, expected)

    # the HPARAMS tab: the config's scalar keys, and the run's metrics as its metric columns
    plugin = _hparams(acc)
    start = plugin["_hparams_/session_start_info"].session_start_info.hparams
    assert start["optim.lr"].number_value == pytest.approx(1e-3)
    assert start["model.name"].string_value == "lenet5" and start["train.epochs"].number_value == 3
    assert "track.tags" not in start and "track.db" not in start  # a list and a null: no hparams type
    metrics = plugin["_hparams_/experiment"].experiment.metric_infos
    assert {m.name.tag for m in metrics} == set(db)
    assert plugin["_hparams_/session_end_info"].session_end_info.status == api_pb2.STATUS_SUCCESS


@pytest.mark.parametrize("checkpoint", [True, False], ids=["from-checkpoint", "from-scratch"])
def test_failed_run_leaves_readable_files_and_resume_appends(shendu_home, monkeypatch, checkpoint):
    config = {**CONFIG, "train": {**CONFIG["train"], "checkpoint": checkpoint}}
    real_epoch, on_disk = _loop.Loop.epoch, []

    def power_cut_in_epoch_3(self, x, y, epoch, bar):
        if epoch == 3:
            on_disk.extend(_tb_scalars(_read(next((shendu_home / "tb").iterdir())))["train_loss"])
            raise RuntimeError("power cut")
        return real_epoch(self, x, y, epoch, bar)

    monkeypatch.setattr(_loop.Loop, "epoch", power_cut_in_epoch_3)
    with pytest.raises(RuntimeError, match="power cut"):
        train(config, progress=False)
    (run,) = open_store().list_runs()
    assert run.status == "failed"
    folder = shendu_home / "tb" / run.id
    assert [step for step, _ in on_disk] == [1, 2]  # readable while the run is still going (a SIGKILL keeps them)
    failed = _read(folder)
    _assert_same_scalars(_tb_scalars(failed), _db_scalars(run.id))
    assert "test_loss" not in failed.Tags()["scalars"] and _hparams(failed) == {}  # written at the end of a success

    monkeypatch.setattr(_loop.Loop, "epoch", real_epoch)
    Trainer.resume(run.id, progress=False).fit()
    assert len(list(folder.glob("events.out.tfevents.*"))) == 2  # appended, same folder
    acc = _read(folder)
    # from-scratch replays epochs 1-2: the resumed writer's purge step hides the first attempt's copies
    # (scalars and histograms); from-checkpoint continues at epoch 3
    _assert_same_scalars(_tb_scalars(acc), _db_scalars(run.id))
    assert len(acc.Tags()["histograms"]) == 10  # LeNet-5: 5 weights, 5 biases
    for tag in acc.Tags()["histograms"]:
        assert [e.step for e in acc.Histograms(tag)] == [1, 2, 3], tag
    assert [e.step for e in acc.Images(IMAGES_TAG)] == [0]
    assert "_hparams_/session_start_info" in _hparams(acc)
    kinds = [a["kind"] for a in open_store().get_run(run.id).artifacts]
    assert kinds.count("tensorboard") == 1


def test_parts_switch_off_and_the_database_url_stays_out(shendu_home):
    db = f"sqlite:///{shendu_home / 'elsewhere.db'}"  # stands in for postgresql://user:password@host/runs
    track = {"tensorboard_histograms": False, "tensorboard_images": 0, "db": db}
    result = train({**CONFIG, "train": {"epochs": 1}, "track": track}, progress=False)
    acc = _read(shendu_home / "tb" / result.run_id)
    assert acc.Tags()["histograms"] == [] and acc.Tags()["images"] == []
    _assert_same_scalars(_tb_scalars(acc), _db_scalars(result.run_id, db))
    start = _hparams(acc)["_hparams_/session_start_info"].session_start_info.hparams
    assert "track.db" not in start and start["track.tensorboard_images"].number_value == 0
    for events in (shendu_home / "tb" / result.run_id).glob("events.out.tfevents.*"):
        assert db.encode() not in events.read_bytes()


def test_switched_off_writes_nothing(shendu_home):
    result = train({**CONFIG, "train": {"epochs": 1}, "track": {"tensorboard": False}}, progress=False)
    assert result.status == "completed"
    assert not (shendu_home / "tb").exists()
    assert [a["kind"] for a in open_store().get_run(result.run_id).artifacts if a["kind"] == "tensorboard"] == []


def test_flat_hparams_keeps_scalar_leaves_under_dotted_keys():
    config = {"optim": {"lr": 0.1, "clip_norm": None}, "model": {"name": "m", "args": {"width": 2}},
              "track": {"tags": ["a"], "tensorboard": True}}
    assert flat_hparams(config) == {"optim.lr": 0.1, "model.name": "m", "model.args.width": 2,
                                    "track.tensorboard": True}
