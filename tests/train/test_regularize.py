"""Regularizers: L1 on weights, dropout override, label smoothing, and Gaussian noise at the input, at
hidden activations and on weights — each acts in training and is exactly off in evaluation."""
import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

from shendu.config import ExperimentConfig, RegularizeConfig
from shendu.data import load_dataset
from shendu.errors import BadInputError
from shendu.hub import load_package
from shendu.models import create_model
from shendu.train import train
from shendu.train._loop import AUX_WEIGHT, Loop
from shendu.train._metrics import evaluate
from shendu.train._optim import build_optimizer
from shendu.train._regularize import add_hidden_noise, apply, l1_penalty, set_dropout, weight_noise
from shendu.train._speed import Precision

FP32 = Precision("fp32", None, False)
DIGITS = {"data": {"name": "digits"}, "model": {"name": "lenet5", "args": {"activation": "relu", "pool": "max"}},
          "optim": {"name": "adam", "lr": 0.003}, "train": {"epochs": 1, "batch_size": 128, "seed": 0,
                                                            "checkpoint": False}}


def _lenet() -> nn.Module:
    torch.manual_seed(0)
    return create_model("lenet5", num_classes=10, in_channels=1, input_size=8, activation="relu")


def _batch(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def _loop(model: nn.Module, **sections) -> Loop:
    config = ExperimentConfig.from_dict(sections)
    return Loop(config, model, model, build_optimizer(model, config.optim), None, FP32, None, num_classes=10)


# -- L1 --------------------------------------------------------------------------------------------

def test_l1_penalty_is_the_sum_of_absolute_weights_without_biases_and_norms():
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(3 * 6 * 6, 4))
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-2, 2)  # biases and BN γ/β are large too: including them would show
    by_hand = sum(m.weight.detach().double().abs().sum() for m in (model[0], model[3]))
    torch.testing.assert_close(l1_penalty(model).double(), by_hand, atol=1e-4, rtol=1e-6)


def test_l1_adds_lr_times_l1_times_sign_w_to_each_weight_step_and_nothing_to_biases():
    lr, l1 = 0.1, 0.05
    plain, reg = _lenet(), _lenet()
    start = {n: p.detach().clone() for n, p in plain.named_parameters()}
    x, y = _batch()
    optim = {"name": "sgd", "lr": lr, "momentum": 0.0}
    _loop(plain, optim=optim).step(x, y, check=True)
    _loop(reg, optim=optim, regularize={"l1": l1}).step(x, y, check=True)
    for (name, p), q in zip(reg.named_parameters(), plain.parameters()):
        expected = -lr * l1 * start[name].sign() if p.ndim >= 2 else torch.zeros_like(p)
        torch.testing.assert_close(p.detach() - q.detach(), expected, atol=1e-6, rtol=0, msg=name)


def _sum_abs_weights(package: str) -> float:
    weights = load_file(f"{package}/model.safetensors")
    return sum(t.abs().sum().item() for t in weights.values() if t.ndim >= 2)


def test_training_with_strong_l1_ends_with_smaller_weights():
    plain = train(DIGITS, progress=False)
    sparse = train({**DIGITS, "regularize": {"l1": 1e-3}}, progress=False)
    assert _sum_abs_weights(sparse.package) < 0.8 * _sum_abs_weights(plain.package)


# -- dropout override ------------------------------------------------------------------------------

def test_dropout_override_sets_p_on_every_dropout_layer_and_takes_effect():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(100, 100), nn.Dropout(0.0), nn.Sequential(nn.Dropout2d(0.1)),
                          nn.AlphaDropout(0.2), nn.Linear(100, 2))
    assert set_dropout(model, 0.5) == 3
    assert [m.p for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)] == [0.5] * 3
    apply(model, RegularizeConfig(dropout=0.3))
    assert [m.p for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)] == [0.3] * 3
    layer = model[1]  # was 0: now drops about 30% of units in training, none in eval
    layer.train()
    dropped = (layer(torch.ones(200, 100)) == 0).float().mean().item()
    assert dropped == pytest.approx(0.3, abs=0.02)
    layer.eval()
    assert torch.equal(layer(torch.ones(5, 100)), torch.ones(5, 100))


# -- label smoothing -------------------------------------------------------------------------------

@pytest.mark.parametrize("eps", [0.0, 0.1, 0.4])
def test_label_smoothing_is_cross_entropy_against_the_smoothed_targets(eps):
    k = 7
    g = torch.Generator().manual_seed(0)
    logits, target = 3 * torch.randn(16, k, generator=g), torch.randint(0, k, (16,), generator=g)
    loop = _loop(nn.Identity(), regularize={"label_smoothing": eps})
    loss, main = loop.loss(logits, target)
    q = (1 - eps) * F.one_hot(target, k).double() + eps / k  # (1 − ε)·onehot + ε/K
    by_hand = -(q * logits.double().log_softmax(dim=1)).sum(dim=1).mean()
    torch.testing.assert_close(loss.double(), by_hand, atol=1e-6, rtol=0)
    assert torch.equal(main, logits)
    if eps:
        assert loss.item() != pytest.approx(F.cross_entropy(logits, target).item(), abs=1e-3)


def test_label_smoothing_also_applies_to_auxiliary_heads():
    eps, k = 0.2, 5
    g = torch.Generator().manual_seed(1)
    main, aux, target = torch.randn(8, k, generator=g), torch.randn(8, k, generator=g), torch.randint(0, k, (8,))
    loss, _ = _loop(nn.Identity(), regularize={"label_smoothing": eps}).loss((main, aux), target)

    def smoothed(logits):
        q = (1 - eps) * F.one_hot(target, k).double() + eps / k
        return -(q * logits.double().log_softmax(dim=1)).sum(dim=1).mean()

    torch.testing.assert_close(loss.double(), smoothed(main) + AUX_WEIGHT * smoothed(aux), atol=1e-6, rtol=0)


# -- noise -----------------------------------------------------------------------------------------

class _Recorder(nn.Module):
    """Wraps a model and keeps the last input it was given."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.seen = inner, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.detach().clone()
        return self.inner(x)


def test_input_noise_perturbs_training_inputs_with_the_configured_std_and_never_evaluation_inputs():
    model = _Recorder(_lenet())
    loop = _loop(model, regularize={"noise_input": 0.3})
    x, y = _batch(256)
    loop.step(x, y, check=True)
    noise = model.seen - x
    assert noise.std().item() == pytest.approx(0.3, rel=0.05) and abs(noise.mean().item()) < 0.01
    evaluate(model, x, y, 10, "val")
    assert torch.equal(model.seen, x)


def test_hidden_noise_on_every_activation_acts_in_training_and_is_off_in_eval():
    model = _lenet()
    x, _ = _batch()
    clean = model(x).detach()
    handles = add_hidden_noise(model, 0.5, [])
    assert len(handles) == 4  # the four ReLUs of LeNet-5
    first, second = model(x).detach(), model(x).detach()
    assert not torch.allclose(first, clean, atol=1e-3) and not torch.allclose(first, second, atol=1e-3)
    model.eval()
    assert torch.equal(model(x).detach(), clean)
    model.train()
    for handle in handles:
        handle.remove()
    assert torch.equal(model(x).detach(), clean)


def test_hidden_noise_on_a_named_layer_has_the_configured_std():
    model = _lenet()
    x, _ = _batch(256)
    clean = model(x).detach()
    apply(model, RegularizeConfig(noise_hidden=0.2, noise_layers=["classifier.4"]))  # the output layer
    noise = model(x).detach() - clean
    assert noise.std().item() == pytest.approx(0.2, rel=0.05) and abs(noise.mean().item()) < 0.01


def test_hidden_noise_on_an_unknown_layer_names_it():
    with pytest.raises(BadInputError) as info:
        add_hidden_noise(_lenet(), 0.1, ["classifier.4", "classifier.9"])
    assert "no module named ['classifier.9'] in the model" in str(info.value)  # only the unknown one is blamed
    assert "zoo show" in str(info.value)  # and where to look the names up
    with pytest.raises(BadInputError, match="noise_hidden"):
        apply(_lenet(), RegularizeConfig(noise_layers=["classifier.4"]))


def test_weight_noise_acts_inside_and_restores_weights_bit_for_bit():
    model = _lenet()
    x, y = _batch()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    clean = model(x).detach()
    with weight_noise(model, 0.05):
        noisy = model(x).detach()
        for n, p in model.named_parameters():
            assert torch.equal(p, before[n]) == (p.ndim < 2), n  # weights perturbed, biases not
        noise = torch.cat([(p.detach() - before[n]).flatten() for n, p in model.named_parameters() if p.ndim >= 2])
        assert noise.std().item() == pytest.approx(0.05, rel=0.05) and abs(noise.mean().item()) < 0.005
    assert not torch.allclose(noisy, clean, atol=1e-3)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n
    assert torch.equal(model(x).detach(), clean)


def test_weight_noise_restores_weights_when_the_step_fails():
    model = _lenet()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(RuntimeError), weight_noise(model, 1.0):
        raise RuntimeError("boom")
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))


def test_weight_noise_in_a_step_takes_the_gradient_at_noisy_weights_and_updates_the_clean_ones():
    lr = 0.1
    noisy_model, clean_model = _lenet(), _lenet()
    before = [p.detach().clone() for p in noisy_model.parameters()]
    x, y = _batch()
    optim = {"name": "sgd", "lr": lr, "momentum": 0.0}
    _loop(noisy_model, optim=optim, regularize={"noise_weights": 0.05}).step(x, y, check=True)
    _loop(clean_model, optim=optim).step(x, y, check=True)
    for p, q, b in zip(noisy_model.parameters(), clean_model.parameters(), before):
        torch.testing.assert_close(p.detach(), b - lr * p.grad, atol=1e-7, rtol=0)  # clean w − lr·g
    grads_differ = [not torch.allclose(p.grad, q.grad, atol=1e-6)
                    for p, q in zip(noisy_model.parameters(), clean_model.parameters())]
    assert all(grads_differ)


def test_evaluation_of_a_run_with_every_regularizer_on_is_clean():
    """The test metrics a noisy, dropped-out run reports equal a clean re-evaluation of its package."""
    config = {**DIGITS, "model": {"name": "mlp", "args": {"hidden": 64, "depth": 2, "dropout": 0.1}},
              "regularize": {"dropout": 0.5, "noise_input": 0.5, "noise_hidden": 0.5, "noise_weights": 0.05,
                             "label_smoothing": 0.1, "l1": 1e-5}}
    result = train(config, progress=False)
    test = load_dataset("digits", "test")
    clean = load_package(result.package).evaluate(test.x, test.y)
    assert result.metrics["test_accuracy"] == clean["test_accuracy"]
    assert result.metrics["test_loss"] == pytest.approx(clean["test_loss"], rel=1e-6)
    assert result.metrics["test_accuracy"] > 0.3  # well above chance (0.1): the noisy run still learned
