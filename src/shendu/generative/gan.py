"""DCGAN (Radford, Metz & Chintala 2016) for 28×28 / 32×32-style images, with the paper's stabilizers:
strided (transposed) convolutions instead of pooling, BatchNorm in both nets except the generator output
and the discriminator input, ReLU in G with a tanh output, LeakyReLU(0.2) in D, N(0, 0.02) init, Adam(2e-4, β1 0.5).
Images are in [-1, 1] inside the GAN; `sample()` returns [0, 1].
"""
from __future__ import annotations

import torch
from torch import nn

from shendu.errors import BadInputError


def _init(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z (B, latent) → image (B, C, S, S) in [-1, 1], upsampling ×4 from S/4."""

    def __init__(self, latent: int, channels: int, size: int, width: int) -> None:
        super().__init__()
        self.latent, self.side, self.width = latent, size // 4, width
        self.project = nn.Sequential(nn.Linear(latent, 2 * width * self.side ** 2, bias=False),
                                     nn.BatchNorm1d(2 * width * self.side ** 2), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh())  # (B, w, S/2, S/2) → (B, C, S, S)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z).view(z.shape[0], 2 * self.width, self.side, self.side)  # (B, 2w, S/4, S/4)
        return self.net(x)


class Discriminator(nn.Module):
    """image (B, C, S, S) → one real/fake logit (B,)."""

    def __init__(self, channels: int, size: int, width: int) -> None:
        super().__init__()
        side = size // 4
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),  # (B, w, S/2, S/2)
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * side * side, 1))  # (B, 2w, S/4, S/4) → (B, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class DCGAN(nn.Module):
    """Generator and discriminator in one module (one state dict, one package).

    Args:
        latent: size of z.
        in_channels: image channels.
        input_size: image side, a multiple of 4.
        width: base channel count of both nets.
    """

    def __init__(self, latent: int = 64, in_channels: int = 1, input_size: int = 28, width: int = 64) -> None:
        super().__init__()
        if input_size % 4:
            raise BadInputError(f"dcgan input_size: expected a multiple of 4, received {input_size}")
        self.latent = latent
        self.generator = Generator(latent, in_channels, input_size, width)
        self.discriminator = Discriminator(in_channels, input_size, width)
        self.apply(_init)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n generated images in [0, 1]. (n, C, S, S)"""
        was = self.generator.training
        self.generator.eval()
        z = torch.randn(n, self.latent, generator=generator, device=next(self.parameters()).device)
        images = (self.generator(z) + 1) / 2
        self.generator.train(was)
        return images
