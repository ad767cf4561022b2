"""Mixed precision and memory format: chosen by detection, bf16 autocast really used, and the
channels-last probe leaves no trace on the model or the random stream."""
import pytest
import torch
from torch import nn

from shendu.errors import BadInputError
from shendu.train import _speed, train
from shendu.train._loop import Loop
from shendu.train._speed import Precision, bf16_supported, channels_last_helps, resolve_precision

CPU = torch.device("cpu")
DIGITS = {"data": {"name": "digits"}, "model": {"name": "lenet5", "args": {"activation": "relu", "pool": "max"}},
          "optim": {"name": "adam", "lr": 0.01}, "train": {"epochs": 2, "batch_size": 128, "seed": 0,
                                                            "checkpoint": False}}


@pytest.mark.parametrize("supported, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_picks_bf16_exactly_when_it_is_supported(monkeypatch, supported, expected):
    monkeypatch.setattr(_speed, "bf16_supported", lambda device: supported)
    precision = resolve_precision("auto", CPU)
    assert precision.name == expected
    assert precision.dtype == (torch.bfloat16 if supported else None) and precision.scaler is False


def test_auto_follows_this_machines_detection():
    assert resolve_precision("auto", CPU).name == ("bf16" if bf16_supported(CPU) else "fp32")


def test_explicit_precisions():
    assert resolve_precision("fp32", CPU) == Precision("fp32", None, False)
    assert resolve_precision("bf16", CPU) == Precision("bf16", torch.bfloat16, False)


def test_fp16_on_the_cpu_is_refused_with_the_way_out():
    with pytest.raises(BadInputError, match="fp16 needs a CUDA device.*use bf16 or auto"):
        resolve_precision("fp16", CPU)


def test_bf16_autocast_computes_in_bf16_and_fp32_does_not():
    layer = nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with resolve_precision("bf16", CPU).autocast(CPU):
        assert layer(x).dtype == torch.bfloat16
    with resolve_precision("fp32", CPU).autocast(CPU):
        assert layer(x).dtype == torch.float32


def test_a_bf16_run_trains_in_bf16_and_matches_fp32_accuracy(monkeypatch):
    dtypes: list[torch.dtype] = []
    real_loss = Loop.loss

    def spy(self, output, target):
        dtypes.append(output.dtype)
        return real_loss(self, output, target)

    monkeypatch.setattr(Loop, "loss", spy)
    fp32 = train(DIGITS, progress=False)
    assert set(dtypes) == {torch.float32}
    dtypes.clear()
    bf16 = train({**DIGITS, "train": {**DIGITS["train"], "precision": "bf16"}}, progress=False)
    assert set(dtypes) == {torch.bfloat16}  # the logits of every step came out of bf16 autocast
    assert bf16.status == "completed" and bf16.metrics["test_accuracy"] > 0.8
    assert abs(bf16.metrics["test_accuracy"] - fp32.metrics["test_accuracy"]) <= 0.04


def _probe_model() -> nn.Module:
    """Conv (so the probe runs), BatchNorm (running stats move in training) and Dropout (draws random numbers)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5),
                         nn.Flatten(), nn.Linear(8 * 8 * 8, 4))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_channels_last_probe_leaves_weights_and_rng_unchanged(precision):
    model = _probe_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 4, (16,))
    rng = torch.get_rng_state()
    helps = channels_last_helps(model, x, y, resolve_precision(precision, CPU), repeats=2)
    assert isinstance(helps, bool)
    assert torch.equal(torch.get_rng_state(), rng)
    after = model.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    assert model[0].weight.is_contiguous()  # back in the default memory format
    assert all(p.grad is None for p in model.parameters())


def test_channels_last_probe_skips_models_without_convolutions():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    assert channels_last_helps(model, torch.randn(4, 3, 2, 2), torch.zeros(4, dtype=torch.long),
                               resolve_precision("fp32", CPU)) is False
