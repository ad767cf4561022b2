"""The variational autoencoder of Kingma & Welling (2014): Gaussian q(z|x), N(0, I) prior, Bernoulli p(x|z).

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) ‖ N(0, I)),   KL = ½ Σ (μ² + σ² - 1 - log σ²)   (their eq. 10)

One Monte Carlo sample of z = μ + σ·ε per example (the reparameterization trick), as in the paper.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class VAE(nn.Module):
    """An MLP VAE: `input → hidden (tanh) → (μ, log σ²)`, `z → hidden (tanh) → logits`.

    Args:
        latent: size of z (Kingma & Welling's MNIST runs: 3 to 200; 20 is the usual comparison).
        hidden: width of the one hidden layer on each side (the paper: 500 for MNIST).
        image_shape: (C, H, W) of the input.
    """

    def __init__(self, latent: int = 20, hidden: int = 500, image_shape: tuple[int, int, int] = (1, 28, 28)) -> None:
        super().__init__()
        c, h, w = image_shape
        self.image_shape, self.latent = tuple(image_shape), latent
        self.encoder = nn.Sequential(nn.Linear(c * h * w, hidden), nn.Tanh())
        self.mu = nn.Linear(hidden, latent)
        self.log_var = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, c * h * w))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(x.flatten(1))  # (B, C·H·W) → (B, hidden)
        return self.mu(hidden), self.log_var(hidden)  # (B, latent) each

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(z.shape[0], *self.image_shape)  # (B, C, H, W) logits

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction logits, μ and log σ² for one reparameterized sample z = μ + σ·ε."""
        mu, log_var = self.encode(x)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        return self.decode(z), mu, log_var

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images drawn from the prior, as pixel means in [0, 1]. (n, C, H, W)"""
        z = torch.randn(n, self.latent, generator=generator, device=self.mu.weight.device)
        return torch.sigmoid(self.decode(z))


def vae_terms(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor,
              log_var: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-example means over the batch (nats): reconstruction -E_q[log p(x|z)], KL, and the ELBO."""
    n = x.shape[0]
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / n
    kl = 0.5 * (mu ** 2 + log_var.exp() - 1 - log_var).sum() / n
    return {"recon": recon, "kl": kl, "elbo": -(recon + kl)}
