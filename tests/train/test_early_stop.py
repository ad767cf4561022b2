"""Early stopping stops at the right epoch, on any tracked metric, and survives a checkpoint round trip."""
import pytest

from shendu.config import EarlyStopConfig
from shendu.errors import BadInputError
from shendu.track import open_store
from shendu.train import train
from shendu.train._early_stop import EarlyStopping


def _stop_epoch(values: list[float], metric: str = "val_loss", **config) -> int | None:
    """The epoch after which training stops for this metric sequence (None: never)."""
    stopper = EarlyStopping(EarlyStopConfig(metric=metric, **config))
    for epoch, value in enumerate(values, start=1):
        if stopper.update(epoch, {metric: value, "train_loss": 0.0}):
            return epoch
    return None


def test_loss_that_stops_improving_stops_after_patience_bad_epochs():
    assert _stop_epoch([1.0, 0.8, 0.85, 0.9, 0.95], patience=2) == 4
    assert _stop_epoch([1.0, 0.8, 0.85, 0.9, 0.95], patience=3) == 5
    assert _stop_epoch([1.0, 0.8, 0.85, 0.9, 0.95], patience=4) is None


def test_an_improvement_resets_the_count():
    assert _stop_epoch([1.0, 1.1, 0.9, 1.0, 0.8, 0.85, 0.86], patience=2) == 7


def test_equal_is_not_an_improvement():
    assert _stop_epoch([0.5, 0.5], patience=1) == 2


def test_accuracy_like_metrics_are_maximized():
    rising = [0.5, 0.6, 0.7, 0.8, 0.9]
    assert _stop_epoch(rising, metric="val_accuracy", patience=1) is None
    assert _stop_epoch(rising, metric="val_loss", patience=1) == 2  # the same numbers as a loss: worse each epoch
    assert _stop_epoch([0.5, 0.7, 0.69, 0.68], metric="val_top5_accuracy", patience=2) == 4


def test_min_delta_is_the_improvement_required():
    # 1.0 → 0.95 → 0.92: each below the previous, but never by 0.1 below the best (1.0)
    assert _stop_epoch([1.0, 0.95, 0.92], patience=2, min_delta=0.1) == 3
    assert _stop_epoch([1.0, 0.95, 0.92], patience=2, min_delta=0.01) is None
    assert _stop_epoch([0.5, 0.55, 0.65], metric="val_accuracy", patience=2, min_delta=0.1) is None  # 0.65 > 0.6


def test_best_and_note_name_the_metric_and_epoch():
    stopper = EarlyStopping(EarlyStopConfig(metric="val_loss", patience=2))
    for epoch, value in enumerate([1.0, 0.8, 0.85, 0.9], start=1):
        stop = stopper.update(epoch, {"val_loss": value})
    assert stop and (stopper.best, stopper.best_epoch, stopper.bad_epochs) == (0.8, 2, 2)
    assert stopper.note(4) == "early stop after epoch 4: val_loss did not improve for 2 epochs (best 0.8000 at epoch 2)"


def test_patience_zero_never_stops():
    assert _stop_epoch([1.0, 2.0, 3.0, 4.0, 5.0], patience=0) is None
    assert EarlyStopping(EarlyStopConfig(metric="nothing_tracked")).update(1, {"val_loss": 1.0}) is False


def test_an_untracked_metric_is_a_clear_error():
    stopper = EarlyStopping(EarlyStopConfig(metric="val_acuracy", patience=2))
    with pytest.raises(BadInputError, match=r"val_acuracy.*\['train_loss', 'val_accuracy'\]"):
        stopper.update(1, {"val_accuracy": 0.5, "train_loss": 1.0})


def test_state_dict_round_trip_continues_the_count():
    config = EarlyStopConfig(metric="val_loss", patience=3)
    first = EarlyStopping(config)
    for epoch, value in enumerate([1.0, 0.7, 0.8], start=1):
        first.update(epoch, {"val_loss": value})
    second = EarlyStopping(config)
    second.load_state_dict(first.state_dict())
    assert second.state_dict() == first.state_dict() == {"best": 0.7, "best_epoch": 2, "bad_epochs": 1}
    assert not second.update(4, {"val_loss": 0.75})
    assert second.update(5, {"val_loss": 0.71})  # third epoch without beating 0.7


DIGITS = {"data": {"name": "digits"}, "model": {"name": "lenet5", "args": {"activation": "relu", "pool": "max"}},
          "optim": {"name": "adam", "lr": 0.003}, "train": {"epochs": 10, "batch_size": 128, "seed": 0}}


def test_a_run_ends_early_and_the_record_says_why():
    # the lr is tracked every epoch and constant without a schedule: it never improves
    config = {**DIGITS, "train": {**DIGITS["train"], "early_stop": {"metric": "lr", "patience": 2}}}
    result = train(config, progress=False)
    store = open_store()
    assert result.status == "completed"
    assert [row["epoch"] for row in store.metric_history(result.run_id, "train_loss")] == [1, 2, 3]
    assert "early stop after epoch 3: lr did not improve for 2 epochs (best 0.0030 at epoch 1)" in \
        store.get_run(result.run_id).notes
    assert "test_accuracy" in result.metrics


def test_a_run_whose_accuracy_stalls_stops_on_val_accuracy():
    # with an lr of 1e-7 the weights barely move: the (maximized) val_accuracy of epoch 1 is never beaten
    config = {**DIGITS, "optim": {"name": "sgd", "lr": 1e-7, "momentum": 0.0},
              "train": {**DIGITS["train"], "early_stop": {"metric": "val_accuracy", "patience": 1}}}
    result = train(config, progress=False)
    store = open_store()
    history = store.metric_history(result.run_id, "val_accuracy")
    assert [row["epoch"] for row in history] == [1, 2]
    best = history[0]["value"]
    assert f"early stop after epoch 2: val_accuracy did not improve for 1 epoch (best {best:.4f} at epoch 1)" in \
        store.get_run(result.run_id).notes


def test_test_metrics_of_an_early_stopped_run_are_logged_at_the_last_trained_epoch():
    config = {**DIGITS, "train": {**DIGITS["train"], "early_stop": {"metric": "lr", "patience": 1}}}
    result = train(config, progress=False)
    history = open_store().metric_history(result.run_id, "test_accuracy")
    assert [row["epoch"] for row in history] == [2]
