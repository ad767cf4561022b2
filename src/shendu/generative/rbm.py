"""Restricted Boltzmann machines trained with contrastive divergence, and the greedy DBN stack.

An RBM has visible units v, hidden units h and the energy

    E(v, h) = U(v) + G(h) - hᵀWv,   U(v) = -bᵀv (Bernoulli) or ‖v - b‖²/2 (Gaussian, unit variance)
                                     G(h) = -cᵀh (Bernoulli) or ‖h - c‖²/2 (Gaussian: the linear code layer
                                     of Hinton & Salakhutdinov 2006)

W has the nn.Linear layout (n_hidden, n_visible), so the unrolled encoder layer takes W as it is
and the decoder layer takes Wᵀ. Gradients are the CD-k / persistent-CD estimates (Hinton 2002;
Tieleman 2008), written into `.grad` with the sign a torch optimizer minimizes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import torch
from torch import nn
from torch.nn import functional as F

from shendu.errors import BadInputError

Units = Literal["bernoulli", "gaussian"]


class RBM(nn.Module):
    """One RBM layer.

    Args:
        n_visible: number of visible units.
        n_hidden: number of hidden units.
        visible: "bernoulli" (binary / [0, 1] probabilities) or "gaussian" (real values, unit variance).
        hidden: "bernoulli" or "gaussian" (linear units with unit-variance noise).
    """

    def __init__(self, n_visible: int, n_hidden: int, visible: Units = "bernoulli",
                 hidden: Units = "bernoulli") -> None:
        super().__init__()
        for name, kind in (("visible", visible), ("hidden", hidden)):
            if kind not in ("bernoulli", "gaussian"):
                raise BadInputError(f"RBM {name} units: expected 'bernoulli' or 'gaussian', received {kind!r}")
        if visible == hidden == "gaussian":  # the energy has no lower bound: the model is not normalizable
            raise BadInputError("RBM with Gaussian visible and Gaussian hidden units is not a valid model; "
                                "make one side 'bernoulli'")
        self.visible, self.hidden = visible, hidden
        self.weight = nn.Parameter(torch.randn(n_hidden, n_visible) * 0.01)  # (H, V), small random as in Hinton 2010
        self.visible_bias = nn.Parameter(torch.zeros(n_visible))
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden))
        self.chain: torch.Tensor | None = None  # persistent-CD fantasy particles, (B, V)

    # -- conditionals --------------------------------------------------------------------------------
    def hidden_mean(self, v: torch.Tensor) -> torch.Tensor:
        """E[h | v]: sigmoid for Bernoulli hidden units, the linear input for Gaussian ones. (B, H)"""
        a = F.linear(v, self.weight, self.hidden_bias)
        return torch.sigmoid(a) if self.hidden == "bernoulli" else a

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        """E[v | h]. (B, V)"""
        a = F.linear(h, self.weight.t(), self.visible_bias)
        return torch.sigmoid(a) if self.visible == "bernoulli" else a

    @staticmethod
    def _sample(mean: torch.Tensor, kind: str) -> torch.Tensor:
        return torch.bernoulli(mean) if kind == "bernoulli" else mean + torch.randn_like(mean)

    def sample_hidden(self, v: torch.Tensor) -> torch.Tensor:
        return self._sample(self.hidden_mean(v), self.hidden)

    def sample_visible(self, h: torch.Tensor) -> torch.Tensor:
        return self._sample(self.visible_mean(h), self.visible)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """The hidden means: what the next layer of a DBN is trained on."""
        return self.hidden_mean(v)

    # -- monitoring ------------------------------------------------------------------------------------
    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -log Σ_h exp(-E(v, h)) up to a constant, one value per row. (B,)"""
        a = F.linear(v, self.weight, self.hidden_bias)  # (B, H)
        if self.visible == "bernoulli":
            visible_term = -(v @ self.visible_bias)
        else:
            visible_term = 0.5 * ((v - self.visible_bias) ** 2).sum(1)
        if self.hidden == "bernoulli":
            return visible_term - F.softplus(a).sum(1)
        # ∫ exp(-‖h - c‖²/2 + hᵀWv) dh = (2π)^(H/2) exp(‖a‖²/2 - ‖c‖²/2)
        return visible_term - 0.5 * (a ** 2).sum(1) + 0.5 * (self.hidden_bias ** 2).sum()

    def reconstruct(self, v: torch.Tensor) -> torch.Tensor:
        """Mean-field reconstruction v → E[h|v] → E[v|h], the usual monitoring quantity."""
        return self.visible_mean(self.hidden_mean(v))

    # -- learning ------------------------------------------------------------------------------------------
    def contrastive_divergence(self, v0: torch.Tensor, k: int = 1, persistent: bool = False,
                               sample_visible: bool = True) -> torch.Tensor:
        """Write the CD-k (or PCD-k) gradient of the negative log-likelihood into `.grad`.

        Positive statistics use E[h|v0]; the negative phase runs k Gibbs steps from the data (CD) or from
        the persistent chain (PCD) and uses E[h|v_k] at the end, as in Hinton's practical guide (2010).

        Args:
            v0: a batch of data, (B, V).
            k: Gibbs steps.
            persistent: continue the chain kept from the previous call instead of restarting at the data.
            sample_visible: sample v during the chain; False uses the means E[v|h] (less noise, common for
                real-valued pixel intensities).

        Returns:
            The negative-phase visible states v_k, (B, V).
        """
        with torch.no_grad():
            h0 = self.hidden_mean(v0)
            start = v0
            if persistent and self.chain is not None and self.chain.shape == v0.shape:
                start = self.chain
            h = self.sample_hidden(start)
            vk = start
            for step in range(k):
                mean = self.visible_mean(h)
                vk = self._sample(mean, self.visible) if sample_visible else mean
                hk = self.hidden_mean(vk)
                if step < k - 1:
                    h = self._sample(hk, self.hidden)
            if persistent:
                self.chain = vk.detach().clone()
            n = v0.shape[0]
            self.weight.grad = -(h0.t() @ v0 - hk.t() @ vk) / n  # (H, V)
            self.visible_bias.grad = -(v0 - vk).mean(0)
            self.hidden_bias.grad = -(h0 - hk).mean(0)
        return vk


@dataclass
class RBMTraining:
    """Hyperparameters of one RBM's training (defaults: Hinton & Salakhutdinov 2006 supporting material)."""

    epochs: int = 10
    batch_size: int = 100
    lr: float = 0.1
    momentum: float = 0.9
    initial_momentum: float = 0.5
    momentum_switch_epoch: int = 5
    weight_decay: float = 2e-4
    k: int = 1
    persistent: bool = False
    sample_visible: bool = False
    seed: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def train_rbm(rbm: RBM, x: torch.Tensor, cfg: RBMTraining,
              on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> list[dict[str, float]]:
    """Train `rbm` on rows of `x` (N, V) with CD-k / PCD-k and SGD with momentum.

    Weight decay applies to the weights only. Each epoch reports the mean free energy of the data and the
    squared reconstruction error per example (sum over visible units, mean over rows).
    """
    generator = torch.Generator().manual_seed(cfg.seed)
    optimizer = torch.optim.SGD([{"params": [rbm.weight], "weight_decay": cfg.weight_decay},
                                 {"params": [rbm.visible_bias, rbm.hidden_bias], "weight_decay": 0.0}],
                                lr=cfg.lr, momentum=cfg.initial_momentum)
    history = []
    for epoch in range(1, cfg.epochs + 1):
        momentum = cfg.initial_momentum if epoch <= cfg.momentum_switch_epoch else cfg.momentum
        for group in optimizer.param_groups:
            group["momentum"] = momentum
        order = torch.randperm(x.shape[0], generator=generator)
        error, seen = 0.0, 0
        for start in range(0, x.shape[0], cfg.batch_size):
            batch = x[order[start:start + cfg.batch_size]]
            rbm.contrastive_divergence(batch, cfg.k, cfg.persistent, cfg.sample_visible)
            optimizer.step()
            with torch.no_grad():
                error += ((rbm.reconstruct(batch) - batch) ** 2).sum().item()
            seen += batch.shape[0]
        with torch.no_grad():
            free = rbm.free_energy(x[:10_000]).mean().item()
        row = {"epoch": epoch, "recon_sq_error": error / seen, "free_energy": free}
        history.append(row)
        if on_epoch:
            on_epoch(epoch, row)
    return history


def layer_units(position: int, depth: int, visible: Units, code: Units) -> tuple[Units, Units]:
    """Unit types of RBM `position` in a stack: the data's type at the bottom, `code` at the top hidden layer."""
    v = visible if position == 0 else "bernoulli"
    h = code if position == depth - 1 else "bernoulli"
    return v, h


class DBN(nn.Module):
    """A greedy layer-wise stack of RBMs (Hinton, Osindero & Teh 2006).

    Args:
        sizes: layer widths from the data up, e.g. (784, 1000, 500, 250, 30).
        visible: unit type of the data layer.
        code: unit type of the top hidden layer ("gaussian" = the linear 30-D code of the 2006 paper).
    """

    def __init__(self, sizes: tuple[int, ...] | list[int] = (784, 1000, 500, 250, 30), visible: Units = "bernoulli",
                 code: Units = "gaussian") -> None:
        super().__init__()
        if len(sizes) < 2:
            raise BadInputError(f"DBN sizes: expected at least two layer widths such as [784, 500], received {sizes}")
        depth = len(sizes) - 1
        self.sizes = tuple(int(s) for s in sizes)
        self.rbms = nn.ModuleList(RBM(sizes[i], sizes[i + 1], *layer_units(i, depth, visible, code))
                                  for i in range(depth))

    def pretrain(self, x: torch.Tensor, layer_cfg: Callable[[int, RBM], RBMTraining],
                 on_epoch: Callable[[int, int, dict[str, float]], None] | None = None) -> list[list[dict[str, float]]]:
        """Train each RBM on the hidden means of the one below, bottom up. Returns each layer's history."""
        histories = []
        data = x
        for i, rbm in enumerate(self.rbms):
            report = (lambda epoch, row, i=i: on_epoch(i, epoch, row)) if on_epoch else None
            histories.append(train_rbm(rbm, data, layer_cfg(i, rbm), report))
            with torch.no_grad():
                data = torch.cat([rbm.hidden_mean(data[s:s + 4096]) for s in range(0, data.shape[0], 4096)])
        return histories

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Deterministic up-pass: the top layer's hidden means. (B, sizes[-1])"""
        for rbm in self.rbms:
            v = rbm.hidden_mean(v)
        return v
