"""VAE / GAN / char-RNN / autoencoder pieces against torch.distributions, NumPy and hand-computed values."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence
from torch.testing import assert_close

from shendu.errors import BadInputError
from shendu.generative import pictures
from shendu.generative.autoencoder import Autoencoder, ConvAutoencoder
from shendu.generative.char_rnn import CharRNN, Vocabulary
from shendu.generative.gan import DCGAN
from shendu.generative.objectives import corrupt, recon_sq_error, reconstruction_loss, sparsity_penalty
from shendu.generative.vae import VAE, vae_terms


def test_vae_terms_match_torch_distributions(seed):
    x = torch.bernoulli(torch.rand(6, 1, 4, 4))
    logits, mu, log_var = torch.randn(6, 1, 4, 4), torch.randn(6, 3), torch.randn(6, 3)
    terms = vae_terms(logits, x, mu, log_var)
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * log_var)), Normal(0.0, 1.0)).sum() / 6
    recon = -Bernoulli(logits=logits).log_prob(x).sum() / 6
    assert_close(terms["kl"], kl, atol=1e-5, rtol=1e-5)
    assert_close(terms["recon"], recon, atol=1e-5, rtol=1e-5)
    assert_close(terms["elbo"], -(kl + recon), atol=1e-5, rtol=1e-5)


def test_vae_reparameterization_passes_gradients_to_mean_and_variance(seed):
    model = VAE(latent=2, hidden=8, image_shape=(1, 4, 4))
    x = torch.rand(5, 1, 4, 4)
    logits, mu, log_var = model(x)
    assert logits.shape == x.shape and mu.shape == log_var.shape == (5, 2)
    (-vae_terms(logits, x, mu, log_var)["elbo"]).backward()
    assert model.mu.weight.grad.abs().sum() > 0 and model.log_var.weight.grad.abs().sum() > 0
    assert model.sample(3).shape == (3, 1, 4, 4)


def test_reconstruction_metrics_match_numpy(seed):
    logits, x = torch.randn(4, 1, 3, 3), torch.rand(4, 1, 3, 3)
    p, t = 1 / (1 + np.exp(-logits.numpy().astype(np.float64))), x.numpy().astype(np.float64)
    ce = -(t * np.log(p) + (1 - t) * np.log(1 - p)).reshape(4, -1).sum(1).mean()
    sq = ((p - t) ** 2).reshape(4, -1).sum(1).mean()
    assert reconstruction_loss(logits, x).item() == pytest.approx(ce, rel=1e-5)
    assert recon_sq_error(logits, x).item() == pytest.approx(sq, rel=1e-5)
    code = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    assert sparsity_penalty(code, 0.1).item() == pytest.approx(0.1 * (3.0 + 0.5) / 2)


def test_corruptions_have_the_stated_statistics():
    g = torch.Generator().manual_seed(0)
    x = torch.full((200_000,), 0.5)
    masked = corrupt(x, "masking", 0.3, g)
    assert (masked == 0).float().mean().item() == pytest.approx(0.3, abs=0.005)  # SE 0.001
    sp = corrupt(x, "salt_pepper", 0.2, g)
    assert (sp == 1).float().mean().item() == pytest.approx(0.1, abs=0.004)
    assert (sp == 0).float().mean().item() == pytest.approx(0.1, abs=0.004)
    noisy = corrupt(x, "gaussian", 0.1, g)
    assert noisy.std().item() == pytest.approx(0.1, rel=0.02) and 0 <= noisy.min() and noisy.max() <= 1
    assert corrupt(x, "none", 0.5) is x
    with pytest.raises(BadInputError, match="expected a fraction"):
        corrupt(x, "masking", 1.5)


def test_autoencoder_shapes_and_linear_code():
    model = Autoencoder((16, 8, 2), image_shape=(1, 4, 4))
    x = torch.rand(3, 1, 4, 4)
    assert model.encode(x).shape == (3, 2) and model(x).shape == x.shape
    assert isinstance(model.encoder[-1], torch.nn.Linear)  # the code layer is linear
    with pytest.raises(BadInputError, match="inputs = C·H·W = 16"):
        Autoencoder((15, 2), image_shape=(1, 4, 4))
    conv = ConvAutoencoder(in_channels=3, input_size=32, code_size=5, width=4)
    y = torch.rand(2, 3, 32, 32)
    assert conv.encode(y).shape == (2, 5) and conv(y).shape == y.shape


def test_dcgan_shapes_ranges_and_init(seed):
    gan = DCGAN(latent=8, in_channels=1, input_size=28, width=8)
    fake = gan.generator(torch.randn(4, 8))
    assert fake.shape == (4, 1, 28, 28) and fake.abs().max() <= 1
    assert gan.discriminator(fake).shape == (4,)
    images = gan.sample(5)
    assert images.shape == (5, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    conv = gan.discriminator.net[0].weight
    assert conv.std().item() == pytest.approx(0.02, rel=0.2)  # N(0, 0.02) as in Radford et al.


def test_char_rnn_temperature_sampling_follows_the_softmax(seed):
    model = CharRNN(vocab_size=4, hidden=8, layers=1)
    with torch.no_grad():
        logits = model(torch.tensor([[2]]))[0][0, -1]
    for temperature in (0.5, 2.0):
        expected = torch.softmax(logits / temperature, -1)
        g = torch.Generator().manual_seed(1)
        counts = torch.bincount(torch.tensor([model.sample([2], 1, temperature, g)[0] for _ in range(4000)]),
                                minlength=4).float()
        assert_close(counts / 4000, expected, atol=0.03, rtol=0)  # SE ≤ 0.008 per class
    assert model.sample([2], 1, 0.0)[0] == int(logits.argmax())
    with pytest.raises(BadInputError, match="non-empty prime"):
        model.sample([], 3)


def test_vocabulary_round_trip_and_unknown_characters():
    vocab = Vocabulary.from_text("深度学习 deep")
    assert vocab.decode(vocab.encode("深度 deep")) == "深度 deep"
    with pytest.raises(BadInputError, match="not in the vocabulary"):
        vocab.encode("xyz")


def test_tile_places_images_row_major_with_gaps():
    images = torch.zeros(3, 1, 2, 2)
    images[1] = 0.5
    grid = pictures.tile(images, rows=2)  # 2 columns × 2 rows, 1-pixel white gaps
    assert grid.shape == (5, 5)
    assert grid[0, 3] == 0.5 and grid[0, 2] == 1.0 and grid[3, 0] == 0.0 and grid[4, 4] == 1.0


def test_interpolation_and_code_scatter(tmp_path):
    line = pictures.interpolate(torch.zeros(3), torch.ones(3), 5)
    assert_close(line[:, 0], torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    path = pictures.code_scatter(torch.randn(50, 6), torch.arange(50) % 10, tmp_path / "c.png", "codes")
    assert path.stat().st_size > 5000 and path.read_bytes()[:4] == b"\x89PNG"
