"""Optimizers, L2 weight decay on weights only, learning-rate schedules and gradient clipping.

Each technique is checked against an independent reference: a torch optimizer or scheduler built by
hand, or the closed-form value the technique is defined by.
"""
import math

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler

from shendu.config import ExperimentConfig, OptimConfig
from shendu.errors import BadInputError
from shendu.track import open_store
from shendu.train import train
from shendu.train._loop import Loop
from shendu.train._optim import build_optimizer, build_scheduler, clip_gradients, decay_groups
from shendu.train._speed import Precision

DIGITS = {"data": {"name": "digits"}, "model": {"name": "lenet5", "args": {"activation": "relu", "pool": "max"}},
          "train": {"epochs": 1, "batch_size": 128, "seed": 0, "checkpoint": False}}
# distinct from every default, so a hyperparameter that is not passed through shows up
HYPER = {"lr": 0.05, "momentum": 0.7, "beta1": 0.8, "beta2": 0.95, "alpha": 0.9, "weight_decay": 0.01}


def _net() -> nn.Module:
    """Conv + BatchNorm + Linear: weights (≥ 2-D), biases and norm parameters (1-D)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))


def _loss(model: nn.Module, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(8, 1, 6, 6, generator=g), torch.randint(0, 5, (8,), generator=g)
    return nn.functional.cross_entropy(model(x), y)


def _by_hand(name: str, groups: list[dict]) -> torch.optim.Optimizer:
    h = HYPER
    return {
        "sgd": lambda: torch.optim.SGD(groups, lr=h["lr"], momentum=h["momentum"]),
        "nesterov": lambda: torch.optim.SGD(groups, lr=h["lr"], momentum=h["momentum"], nesterov=True),
        "adam": lambda: torch.optim.Adam(groups, lr=h["lr"], betas=(h["beta1"], h["beta2"])),
        "adamw": lambda: torch.optim.AdamW(groups, lr=h["lr"], betas=(h["beta1"], h["beta2"])),
        "rmsprop": lambda: torch.optim.RMSprop(groups, lr=h["lr"], momentum=h["momentum"], alpha=h["alpha"]),
        "adagrad": lambda: torch.optim.Adagrad(groups, lr=h["lr"]),
    }[name]()


CASES = {"sgd": ("sgd", False), "nesterov": ("sgd", True), "adam": ("adam", False), "adamw": ("adamw", False),
         "rmsprop": ("rmsprop", False), "adagrad": ("adagrad", False)}


@pytest.mark.parametrize("case", list(CASES))
def test_optimizer_from_config_has_the_configured_class_and_hyperparameters(case):
    name, nesterov = CASES[case]
    config = ExperimentConfig.from_dict({"optim": {"name": name, "nesterov": nesterov, **HYPER}}).optim
    optimizer = build_optimizer(_net(), config)
    expected = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
                "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}[name]
    assert type(optimizer) is expected
    for group in optimizer.param_groups:
        assert group["lr"] == HYPER["lr"]
        if name in ("sgd", "rmsprop"):
            assert group["momentum"] == HYPER["momentum"]
        if name == "sgd":
            assert group["nesterov"] is nesterov
        if name in ("adam", "adamw"):
            assert group["betas"] == (HYPER["beta1"], HYPER["beta2"])
        if name == "rmsprop":
            assert group["alpha"] == HYPER["alpha"]
    assert [g["weight_decay"] for g in optimizer.param_groups] == [HYPER["weight_decay"], 0.0]


@pytest.mark.parametrize("case", list(CASES))
def test_optimizer_steps_equal_a_hand_built_torch_optimizer(case):
    name, nesterov = CASES[case]
    ours_model, ref_model = _net(), _net()
    ours = build_optimizer(ours_model, OptimConfig(name=name, nesterov=nesterov, **HYPER))
    weights = [p for n, p in ref_model.named_parameters() if n in ("0.weight", "4.weight")]
    others = [p for n, p in ref_model.named_parameters() if n not in ("0.weight", "4.weight")]
    ref = _by_hand(case, [{"params": weights, "weight_decay": HYPER["weight_decay"]},
                          {"params": others, "weight_decay": 0.0}])
    for step in range(3):  # several steps, so momentum / moment estimates / accumulators take part
        for model, optimizer in ((ours_model, ours), (ref_model, ref)):
            optimizer.zero_grad()
            _loss(model, seed=step).backward()
            optimizer.step()
    for (name_, p), q in zip(ours_model.named_parameters(), ref_model.parameters()):
        torch.testing.assert_close(p, q, atol=1e-7, rtol=0, msg=f"{case}: {name_} differs")
    start = _net()
    assert not torch.equal(ours_model[0].weight, start[0].weight)  # the steps did move the weights


def test_nesterov_without_momentum_is_a_clear_config_error():
    with pytest.raises(BadInputError, match="optim.nesterov.*optim.momentum"):
        build_optimizer(_net(), OptimConfig(name="sgd", momentum=0.0, nesterov=True))


# -- L2 weight decay: weights only -----------------------------------------------------------------

def test_decay_groups_put_weights_in_the_decayed_group_and_biases_and_norms_in_the_other():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.PReLU(), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 8), nn.LayerNorm(8), nn.Linear(8, 3))
    decayed, plain = decay_groups(model, 5e-4)
    # by layer type and name, not by the ndim rule under test
    weights = {id(m.weight) for m in model if isinstance(m, (nn.Conv2d, nn.Linear))}
    rest = {id(p) for p in model.parameters()} - weights
    assert decayed["weight_decay"] == 5e-4 and plain["weight_decay"] == 0.0
    assert {id(p) for p in decayed["params"]} == weights
    assert {id(p) for p in plain["params"]} == rest
    assert len(rest) == 3 + 2 + 1 + 2  # conv/linear biases, BN γ β, PReLU slope, LN γ β


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_weight_decay_shrinks_weights_by_one_minus_lr_wd_and_leaves_biases_alone(name):
    lr, wd = 0.1, 0.05
    model = _net()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = build_optimizer(model, OptimConfig(name=name, lr=lr, momentum=0.0, weight_decay=wd))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # only the decay term can move anything
    optimizer.step()
    for n, p in model.named_parameters():
        if n.endswith("weight") and p.ndim >= 2:
            torch.testing.assert_close(p.detach(), before[n] * (1 - lr * wd), atol=1e-8, rtol=1e-6)
            assert not torch.equal(p.detach(), before[n])
        else:  # conv/linear bias, BatchNorm γ and β
            assert torch.equal(p.detach(), before[n]), n


# -- schedules ---------------------------------------------------------------------------------------

LR = 0.1


def _lrs(config: OptimConfig, epochs: int, steps_per_epoch: int) -> list[float]:
    """The lr used at every step of the run, plus the one left after the last step."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=config.lr)
    scheduler = build_scheduler(optimizer, config, epochs, steps_per_epoch)
    seen = []
    for _ in range(epochs * steps_per_epoch):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen + [optimizer.param_groups[0]["lr"]]


def _torch_lrs(make, steps: int) -> list[float]:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR)
    scheduler = make(optimizer)
    seen = []
    for _ in range(steps):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen + [optimizer.param_groups[0]["lr"]]


def test_no_schedule_and_no_warmup_builds_no_scheduler():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR)
    assert build_scheduler(optimizer, OptimConfig(lr=LR), epochs=3, steps_per_epoch=10) is None


def test_linear_warmup_rises_as_k_plus_1_over_warmup_then_holds():
    lrs = _lrs(OptimConfig(lr=LR, warmup_epochs=1), epochs=3, steps_per_epoch=10)
    expected = [LR * (k + 1) / 10 for k in range(10)] + [LR] * 21
    torch.testing.assert_close(torch.tensor(lrs), torch.tensor(expected), atol=1e-12, rtol=1e-9)
    # torch's LinearLR from lr/warmup reaching lr after warmup-1 steps is the same ramp
    ref = _torch_lrs(lambda o: lr_scheduler.LinearLR(o, start_factor=1 / 10, end_factor=1.0, total_iters=9), 30)
    torch.testing.assert_close(torch.tensor(lrs), torch.tensor(ref), atol=1e-12, rtol=1e-9)


def test_cosine_starts_at_lr_and_reaches_zero_at_the_end():
    lrs = _lrs(OptimConfig(lr=LR, schedule="cosine"), epochs=4, steps_per_epoch=25)
    expected = [LR * 0.5 * (1 + math.cos(math.pi * k / 100)) for k in range(101)]
    torch.testing.assert_close(torch.tensor(lrs), torch.tensor(expected), atol=1e-12, rtol=1e-9)
    ref = _torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=100), 100)
    torch.testing.assert_close(torch.tensor(lrs), torch.tensor(ref), atol=1e-10, rtol=1e-6)
    assert lrs[0] == LR and lrs[-1] == pytest.approx(0.0, abs=1e-15)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_cosine_after_warmup_starts_from_the_full_lr():
    lrs = _lrs(OptimConfig(lr=LR, schedule="cosine", warmup_epochs=1), epochs=3, steps_per_epoch=10)
    expected = [LR * (k + 1) / 10 for k in range(10)] + [LR * 0.5 * (1 + math.cos(math.pi * k / 20))
                                                         for k in range(21)]
    torch.testing.assert_close(torch.tensor(lrs), torch.tensor(expected), atol=1e-12, rtol=1e-9)


def test_step_schedule_multiplies_by_gamma_every_step_epochs():
    lrs = _lrs(OptimConfig(lr=LR, schedule="step", step_epochs=2, gamma=0.5), epochs=6, steps_per_epoch=5)
    expected = [LR * 0.5 ** (k // 10) for k in range(31)]
    torch.testing.assert_close(torch.tensor(lrs), torch.tensor(expected), atol=1e-12, rtol=1e-9)
    ref = _torch_lrs(lambda o: lr_scheduler.StepLR(o, step_size=10, gamma=0.5), 30)
    torch.testing.assert_close(torch.tensor(lrs), torch.tensor(ref), atol=1e-12, rtol=1e-9)


def test_onecycle_rises_from_lr_over_25_to_lr_at_30_percent_then_anneals_to_lr_over_1e4():
    lrs = _lrs(OptimConfig(lr=LR, schedule="onecycle"), epochs=10, steps_per_epoch=10)

    def smith(k: int) -> float:  # Smith & Topin 2019 with cosine phases, peak at 30% of 100 steps
        if k < 30:
            return LR / 25 + (LR - LR / 25) * 0.5 * (1 - math.cos(math.pi * k / 30))
        return LR / 1e4 + (LR - LR / 1e4) * 0.5 * (1 + math.cos(math.pi * (k - 30) / 70))

    torch.testing.assert_close(torch.tensor(lrs), torch.tensor([smith(k) for k in range(101)]),
                               atol=1e-12, rtol=1e-9)
    assert lrs[0] == pytest.approx(LR / 25)
    assert max(lrs) == pytest.approx(LR) and lrs.index(max(lrs)) == 30
    assert lrs[-1] == pytest.approx(LR / 1e4)
    assert all(a <= b for a, b in zip(lrs[:30], lrs[1:31])) and all(a >= b for a, b in zip(lrs[30:], lrs[31:]))


def test_the_trainer_applies_the_schedule_per_step():
    config = {**DIGITS, "optim": {"name": "sgd", "lr": 0.04, "schedule": "step", "gamma": 0.5},
              "train": {**DIGITS["train"], "epochs": 3}}
    result = train(config, progress=False)
    history = open_store().metric_history(result.run_id, "lr")
    # the lr logged after epoch e is the one the next epoch starts with: 0.04 · 0.5^e
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert [row["value"] for row in history] == pytest.approx([0.02, 0.01, 0.005], rel=1e-12)


# -- gradient clipping -------------------------------------------------------------------------------

def _with_grads(scale: float) -> list[nn.Parameter]:
    g = torch.Generator().manual_seed(1)
    params = [nn.Parameter(torch.zeros(s)) for s in ((4, 3), (3,), (2, 2, 2))]
    for p in params:
        p.grad = scale * torch.randn(p.shape, generator=g)
    return params


def _global_norm(params) -> float:
    return torch.cat([p.grad.flatten() for p in params]).norm().item()


def test_clip_norm_bounds_the_global_norm_and_keeps_the_direction():
    params = _with_grads(10.0)
    before = [p.grad.clone() for p in params]
    norm = _global_norm(params)
    assert norm > 1.0
    clip_gradients(params + [nn.Parameter(torch.zeros(2))], clip_norm=1.0, clip_value=None)  # no-grad ok
    assert _global_norm(params) <= 1.0 + 1e-6
    for p, g in zip(params, before):  # the same vector, scaled by clip / ‖g‖
        torch.testing.assert_close(p.grad, g * (1.0 / norm), atol=1e-7, rtol=1e-5)


def test_clip_norm_leaves_small_gradients_untouched():
    params = _with_grads(0.01)
    before = [p.grad.clone() for p in params]
    clip_gradients(params, clip_norm=1.0, clip_value=None)
    for p, g in zip(params, before):
        assert torch.equal(p.grad, g)


def test_clip_value_puts_every_element_in_minus_v_v():
    params = _with_grads(1.0)
    before = [p.grad.clone() for p in params]
    clip_gradients(params, clip_norm=None, clip_value=0.5)
    for p, g in zip(params, before):
        assert p.grad.abs().max() <= 0.5
        assert torch.equal(p.grad, g.clamp(-0.5, 0.5))
    assert any((g.abs() > 0.5).any() for g in before)  # something was actually clipped


def test_clip_value_then_norm():
    params = _with_grads(10.0)
    clip_gradients(params, clip_norm=0.1, clip_value=0.5)
    assert _global_norm(params) <= 0.1 + 1e-6 and max(p.grad.abs().max() for p in params) <= 0.5


def test_a_training_step_moves_the_weights_by_at_most_lr_times_clip_norm():
    config = ExperimentConfig.from_dict({"optim": {"name": "sgd", "lr": 1.0, "momentum": 0.0, "clip_norm": 1e-3}})
    model = _net()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = build_optimizer(model, config.optim)
    loop = Loop(config, model, model, optimizer, None, Precision("fp32", None, False), None, num_classes=5)
    g = torch.Generator().manual_seed(0)
    loop.step(torch.randn(8, 1, 6, 6, generator=g) * 100, torch.randint(0, 5, (8,), generator=g), check=True)
    moved = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)]).norm().item()
    assert moved == pytest.approx(1e-3, rel=1e-3)  # plain SGD with lr 1: the step is the clipped gradient
