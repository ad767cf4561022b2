"""The 2006 workflow as three library calls: pretrain a DBN, unroll it, fine-tune the autoencoder.

    dbn = pretrain_dbn(x, (784, 1000, 500, 250, 30), epochs=50)   # greedy CD-1, layer by layer
    model = unroll(dbn)                                           # encoder W, decoder Wᵀ
    finetune(model, x, epochs=200)                                # backprop on the pixel cross-entropy

Fine-tuning uses Adam on the cross-entropy (the paper used conjugate gradients on the same objective);
that choice is stated wherever figures are reported.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from shendu.generative.objectives import reconstruction_loss
from shendu.generative.rbm import DBN, RBM, RBMTraining


def layer_training(rbm: RBM, epochs: int, batch_size: int = 100, seed: int = 0, lr: float | None = None,
                   k: int = 1, persistent: bool = False) -> RBMTraining:
    """Paper settings: lr 0.1 for Bernoulli layers, 0.001 for the linear (Gaussian) code layer and for
    Gaussian visible units; momentum 0.5 then 0.9; weight decay 2e-4."""
    gaussian = rbm.hidden == "gaussian" or rbm.visible == "gaussian"
    return RBMTraining(epochs=epochs, batch_size=batch_size, lr=lr if lr else (0.001 if gaussian else 0.1),
                       momentum_switch_epoch=min(5, max(epochs // 2, 1)), k=k, persistent=persistent, seed=seed)


def pretrain_dbn(x: torch.Tensor, sizes: tuple[int, ...] = (784, 1000, 500, 250, 30), epochs: int = 50,
                 batch_size: int = 100, seed: int = 0, code: str = "gaussian", visible: str = "bernoulli",
                 k: int = 1, persistent: bool = False,
                 on_epoch: Callable[[int, int, dict[str, float]], None] | None = None) -> DBN:
    """Greedy layer-wise pretraining on rows of `x` (N, sizes[0]); returns the trained DBN."""
    torch.manual_seed(seed)
    dbn = DBN(sizes, visible=visible, code=code)
    dbn.pretrain(x, lambda i, rbm: layer_training(rbm, epochs, batch_size, seed + i, k=k, persistent=persistent),
                 on_epoch)
    return dbn


@torch.no_grad()
def test_sq_error(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> float:
    """Σ_pixels (x̂ - x)², mean over the rows of `x` (N, D) in [0, 1]."""
    model.eval()
    total = 0.0
    for start in range(0, x.shape[0], batch_size):
        batch = x[start:start + batch_size]
        recon = torch.sigmoid(model(batch)).flatten(1)
        total += ((recon - batch) ** 2).sum().item()
    return total / x.shape[0]


def finetune(model: nn.Module, x: torch.Tensor, epochs: int, lr: float = 1e-3, batch_size: int = 100, seed: int = 0,
             on_epoch: Callable[[int, dict[str, float]], None] | None = None,
             x_test: torch.Tensor | None = None) -> list[dict[str, float]]:
    """Backprop fine-tuning with Adam on the per-image pixel cross-entropy; rows of `x` are (N, D) in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(x.shape[0], generator=generator)
        total = 0.0
        for start in range(0, x.shape[0], batch_size):
            batch = x[order[start:start + batch_size]]
            loss = reconstruction_loss(model(batch).flatten(1), batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.shape[0]
        row = {"epoch": epoch, "train_loss": total / x.shape[0]}
        if x_test is not None:
            row["test_recon_sq_error"] = test_sq_error(model, x_test)
        history.append(row)
        if on_epoch:
            on_epoch(epoch, row)
    return history
