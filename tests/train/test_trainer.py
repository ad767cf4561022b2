"""The trainer end to end on the embedded digits: metrics, run record, package, NaN stop, resume."""
import math

import pytest

from shendu.config import ExperimentConfig
from shendu.errors import BadInputError, TrainingDivergedError
from shendu.track import open_store
from shendu.train import Trainer, train

QUICK = {"data": {"name": "digits"}, "model": {"name": "lenet5", "args": {"activation": "relu", "pool": "max"}},
         "optim": {"name": "adam", "lr": 0.003}, "train": {"epochs": 3, "batch_size": 32, "seed": 0}}


def test_quick_run_records_everything(shendu_home):
    result = train(QUICK, progress=False)
    assert result.status == "completed"
    assert result.metrics["test_accuracy"] > 0.85
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_top5_accuracy",
                 "test_loss", "test_accuracy", "test_top5_accuracy"):
        assert name in result.metrics
    record = open_store().get_run(result.run_id)
    assert record.status == "completed" and record.ended_at is not None
    assert record.config == ExperimentConfig.from_dict(QUICK).to_dict()  # the resolved config, stored
    assert record.summary["val_loss"]["best"] <= record.summary["val_loss"]["final"]
    assert record.package == result.package
    assert (shendu_home / "packages" / result.run_id / "model.safetensors").is_file()
    assert (shendu_home / "runs" / result.run_id / "checkpoint.pt").is_file()
    epochs = [row["epoch"] for row in open_store().metric_history(result.run_id, "val_accuracy")]
    assert epochs == [1, 2, 3]


def test_same_seed_same_result():
    first, second = train(QUICK, progress=False), train(QUICK, progress=False)
    assert first.metrics["test_accuracy"] == second.metrics["test_accuracy"]
    assert first.metrics["train_loss"] == pytest.approx(second.metrics["train_loss"], rel=1e-6)


def test_demo_config_reaches_95_percent():
    from shendu.cli.demo import demo_config

    result = Trainer(demo_config(), progress=False).fit()
    assert result.metrics["test_accuracy"] >= 0.95


def test_nan_loss_stops_with_a_clear_message_and_keeps_last_checkpoint(monkeypatch, shendu_home):
    from types import SimpleNamespace

    from torch.nn import functional as F

    from shendu.train import _loop
    from shendu.train._checkpoint import load_checkpoint

    calls = {"n": 0}

    def diverging(logits, target, *args, **kwargs):  # the loss blows up on the 101st training step
        calls["n"] += 1
        loss = F.cross_entropy(logits, target, *args, **kwargs)
        return loss * float("nan") if calls["n"] > 100 else loss

    monkeypatch.setattr(_loop, "F", SimpleNamespace(cross_entropy=diverging))
    config = {**QUICK, "train": {"epochs": 3, "batch_size": 16}}  # 90 steps per epoch
    trainer = Trainer(config, progress=False)
    with pytest.raises(TrainingDivergedError) as info:
        trainer.fit()
    checkpoint = shendu_home / "runs" / trainer.last_run_id / "checkpoint.pt"
    assert str(info.value) == (
        f"loss became nan at epoch 2, step 11 (optim.lr=0.003); training stopped and the last good checkpoint "
        f"(epoch 1) is kept at {checkpoint}. Try a smaller optim.lr, gradient clipping, or check the inputs for NaN."
    )
    assert load_checkpoint(checkpoint)["epoch"] == 1
    record = open_store().get_run(trainer.last_run_id)
    assert record.status == "failed" and "loss became nan" in record.error


def test_resume_of_a_completed_run_is_refused():
    result = train(QUICK, progress=False)
    with pytest.raises(BadInputError, match="already completed"):
        Trainer.resume(result.run_id)


def test_keyword_overrides():
    result = train("examples/digits-lenet.yaml", progress=False, train__epochs=1, optim__lr=0.01)
    config = open_store().get_run(result.run_id).config
    assert config["train"]["epochs"] == 1 and math.isclose(config["optim"]["lr"], 0.01)


def test_nan_in_data_is_caught(monkeypatch):
    from shendu.train import _trainer

    real = _trainer.Preprocessing.__call__

    def poisoned(self, x, device="cpu"):
        out = real(self, x, device)
        out[0, 0, 0, 0] = float("nan")
        return out

    monkeypatch.setattr(_trainer.Preprocessing, "__call__", poisoned)
    with pytest.raises(TrainingDivergedError, match="check the inputs for NaN"):
        train(QUICK, progress=False)


def test_callbacks_see_every_epoch_and_the_end():
    from shendu.train import CALLBACKS, Callback

    seen = []

    class Recorder(Callback):
        def on_run_start(self, trainer, run_id, data):
            seen.append(("start", len(data.train)))

        def on_epoch_end(self, trainer, run_id, epoch, metrics, loop):
            seen.append(("epoch", epoch, round(metrics["val_accuracy"], 6)))

        def on_run_end(self, trainer, run_id, metrics, error):
            seen.append(("end", "test_accuracy" in metrics, error))

    result = Trainer(QUICK, progress=False, callbacks=[Recorder()]).fit()
    history = open_store().metric_history(result.run_id, "val_accuracy")
    assert seen == [("start", 1437)] + [("epoch", r["epoch"], round(r["value"], 6)) for r in history] + \
        [("end", True, None)]
    with pytest.raises(BadInputError, match="unknown callback 'nope'"):
        Trainer({**QUICK, "track": {"callbacks": ["nope"]}})
    assert "nope" not in CALLBACKS
