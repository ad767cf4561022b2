"""RBM numerics against exact enumeration of tiny models; DBN unrolling into the 2006 deep autoencoder."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.testing import assert_close

from shendu.errors import BadInputError
from shendu.generative.autoencoder import unroll
from shendu.generative.rbm import DBN, RBM, RBMTraining, train_rbm


def _states(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)))  # (2^n, n)


def _bernoulli_prob(states: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """p(states) under independent Bernoulli(mean): (S, n), (n,) → (S,)."""
    return (states * mean + (1 - states) * (1 - mean)).prod(1)


def _energy(rbm: RBM, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Independent energy E(v, h) for one v (V,) and one h (H,)."""
    u = -(rbm.visible_bias @ v) if rbm.visible == "bernoulli" else 0.5 * ((v - rbm.visible_bias) ** 2).sum()
    g = -(rbm.hidden_bias @ h) if rbm.hidden == "bernoulli" else 0.5 * ((h - rbm.hidden_bias) ** 2).sum()
    return u + g - h @ rbm.weight @ v


def _random_rbm(v: int, h: int, visible: str = "bernoulli", hidden: str = "bernoulli", seed: int = 0) -> RBM:
    torch.manual_seed(seed)
    rbm = RBM(v, h, visible, hidden).double()
    with torch.no_grad():
        rbm.weight.normal_(0, 1.0)
        rbm.visible_bias.normal_(0, 0.5)
        rbm.hidden_bias.normal_(0, 0.5)
    return rbm


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_free_energy_equals_log_sum_over_hidden_states(visible):
    rbm = _random_rbm(3, 2, visible)
    v = torch.randn(5, 3, dtype=torch.float64) if visible == "gaussian" else _states(3)[:5].double()
    hs = _states(2).double()
    with torch.no_grad():
        ours = rbm.free_energy(v)
        ref = torch.stack([-torch.logsumexp(torch.stack([-_energy(rbm, row, h) for h in hs]), 0) for row in v])
    assert_close(ours, ref, atol=1e-10, rtol=1e-10)


def test_free_energy_gaussian_hidden_equals_integral():
    rbm = _random_rbm(3, 1, "bernoulli", "gaussian")
    grid = torch.linspace(-40, 40, 400_001, dtype=torch.float64)
    with torch.no_grad():
        for v in _states(3).double():
            energies = torch.stack([_energy(rbm, v, h.view(1)) for h in grid[:3]])  # spot-check the closed form
            closed = -(rbm.visible_bias @ v) + 0.5 * (grid - rbm.hidden_bias[0]) ** 2 - grid * (rbm.weight[0] @ v)
            assert_close(energies, closed[:3])
            energies = closed
            integral = torch.trapezoid(torch.exp(-energies), grid)
            ref = -torch.log(integral) + 0.5 * math.log(2 * math.pi)  # ours drops the (2π)^(H/2) constant
            assert_close(rbm.free_energy(v.view(1, 3))[0], ref, atol=1e-8, rtol=1e-8)


def _exact_cd1(rbm: RBM, v0: torch.Tensor, start: torch.Tensor, sample_visible: bool) -> dict[str, torch.Tensor]:
    """Expected CD-1 gradient (as written to .grad) by enumerating h ~ p(h|start) and v1 ~ p(v|h)."""
    with torch.no_grad():
        h0 = rbm.hidden_mean(v0)
        pos_w, pos_b, pos_c = torch.outer(h0, v0), v0, h0
        neg_w, neg_b, neg_c = torch.zeros_like(pos_w), torch.zeros_like(pos_b), torch.zeros_like(pos_c)
        hs, vs = _states(rbm.hidden_bias.numel()).double(), _states(rbm.visible_bias.numel()).double()
        p_h = _bernoulli_prob(hs, rbm.hidden_mean(start))
        for h, ph in zip(hs, p_h):
            mean_v = rbm.visible_mean(h)
            if sample_visible:
                branches = list(zip(vs, _bernoulli_prob(vs, mean_v)))
            else:
                branches = [(mean_v, torch.tensor(1.0, dtype=torch.float64))]
            for v1, pv in branches:
                h1 = rbm.hidden_mean(v1)
                neg_w += ph * pv * torch.outer(h1, v1)
                neg_b += ph * pv * v1
                neg_c += ph * pv * h1
    return {"weight": -(pos_w - neg_w), "visible_bias": -(pos_b - neg_b), "hidden_bias": -(pos_c - neg_c)}


@pytest.mark.parametrize("sample_visible", [True, False])
@pytest.mark.parametrize("persistent", [False, True])
def test_cd1_gradient_equals_enumerated_expectation(sample_visible, persistent):
    """The batch mean over 200,000 copies of one v0 is a Monte Carlo estimate of the exact expectation; its
    standard error is below 1/√200000 ≈ 0.0022 per entry, so atol 0.012 is over 5 standard errors."""
    rbm = _random_rbm(3, 2)
    v0 = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    chain = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
    n = 200_000
    torch.manual_seed(1)
    if persistent:  # PCD: the negative phase starts from the stored chain, not from the data
        rbm.chain = chain.expand(n, 3).clone()
    rbm.contrastive_divergence(v0.expand(n, 3), k=1, persistent=persistent, sample_visible=sample_visible)
    exact = _exact_cd1(rbm, v0, chain if persistent else v0, sample_visible)
    atol = 0.012 if sample_visible or persistent else 0.006
    for name, ref in exact.items():
        assert_close(getattr(rbm, name).grad, ref, atol=atol, rtol=0)
    if persistent:
        assert rbm.chain.shape == (n, 3) and not torch.equal(rbm.chain, chain.expand(n, 3))


def test_gaussian_visible_mean_field_cd1_gradient_is_exact():
    rbm = _random_rbm(3, 2, "gaussian")
    v0 = torch.tensor([0.3, -1.2, 0.7], dtype=torch.float64)
    torch.manual_seed(2)
    rbm.contrastive_divergence(v0.expand(200_000, 3), k=1, sample_visible=False)
    for name, ref in _exact_cd1(rbm, v0, v0, sample_visible=False).items():
        assert_close(getattr(rbm, name).grad, ref, atol=0.012, rtol=0)


def _exact_log_likelihood(rbm: RBM, data: torch.Tensor) -> float:
    with torch.no_grad():
        log_z = torch.logsumexp(-rbm.free_energy(_states(data.shape[1]).to(data.dtype)), 0)
        return (-rbm.free_energy(data) - log_z).mean().item()


@pytest.mark.parametrize("persistent", [False, True])
def test_training_lowers_free_energy_and_raises_exact_likelihood(persistent):
    torch.manual_seed(0)
    prototypes = torch.tensor([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=torch.float64)
    data = prototypes[torch.randint(0, 2, (400,))]
    data = torch.where(torch.rand_like(data) < 0.05, 1 - data, data)  # 5% flipped bits
    rbm = RBM(6, 4).double()
    before_f, before_ll = rbm.free_energy(data).mean().item(), _exact_log_likelihood(rbm, data)
    # PCD oscillates with heavy momentum (its chain chases the moving model), so momentum stays at 0.5
    history = train_rbm(rbm, data, RBMTraining(epochs=30, batch_size=20, lr=0.05, momentum=0.5, weight_decay=0.0,
                                               persistent=persistent, sample_visible=True))
    after_f, after_ll = rbm.free_energy(data).mean().item(), _exact_log_likelihood(rbm, data)
    assert after_f < before_f - 1.0, (before_f, after_f)
    # the uniform start is -log(64) = -4.16 nats; the data's entropy (two modes, 5% flips) is about 1.9 nats
    assert after_ll > before_ll + 1.0, (before_ll, after_ll)
    assert history[-1]["recon_sq_error"] < history[0]["recon_sq_error"]


def test_invalid_units_are_explained():
    with pytest.raises(BadInputError, match="not a valid model"):
        RBM(3, 2, "gaussian", "gaussian")
    with pytest.raises(BadInputError, match="expected 'bernoulli' or 'gaussian'"):
        RBM(3, 2, "binary")


def test_unrolled_weights_are_the_rbm_weights_and_their_transposes():
    torch.manual_seed(0)
    dbn = DBN((784, 64, 32, 8))
    for rbm in dbn.rbms:  # make biases distinguishable from their zero init
        torch.nn.init.normal_(rbm.visible_bias)
        torch.nn.init.normal_(rbm.hidden_bias)
    model = unroll(dbn)
    encoder, decoder = model.linears()
    assert [m.weight.shape for m in encoder] == [(64, 784), (32, 64), (8, 32)]
    for i, rbm in enumerate(dbn.rbms):
        assert torch.equal(encoder[i].weight, rbm.weight) and torch.equal(encoder[i].bias, rbm.hidden_bias)
        mirror = decoder[-1 - i]
        assert torch.equal(mirror.weight, rbm.weight.t()) and torch.equal(mirror.bias, rbm.visible_bias)
    assert dbn.rbms[-1].hidden == "gaussian" and isinstance(model.encoder[-1], torch.nn.Linear)  # linear code
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():  # the unrolled net is the DBN's up-pass followed by its mean-field down-pass
        code = model.encode(x)
        assert_close(code, dbn(x.flatten(1)), atol=1e-6, rtol=1e-5)
        down = code
        for rbm in reversed(dbn.rbms):
            down = rbm.visible_mean(down)
        assert_close(torch.sigmoid(model.decode(code)).flatten(1), down, atol=1e-6, rtol=1e-5)


def test_dbn_pretraining_trains_each_layer_on_the_layer_below():
    torch.manual_seed(0)
    x = (torch.rand(300, 784) < torch.linspace(0.05, 0.6, 784)).float()
    dbn = DBN((784, 32, 16, 4))
    histories = dbn.pretrain(x, lambda i, rbm: RBMTraining(epochs=4, batch_size=50, lr=0.1 if rbm.hidden == "bernoulli"
                                                               else 0.001, momentum_switch_epoch=2))
    assert len(histories) == 3 and all(len(h) == 4 for h in histories)
    for h in histories[:2]:
        assert h[-1]["recon_sq_error"] < h[0]["recon_sq_error"]
