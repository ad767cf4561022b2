"""LRN against an independent NumPy implementation of Krizhevsky et al. 2012 §3.3, and its relation to
torch's LocalResponseNorm (which divides α by n)."""
import numpy as np
import pytest
import torch
from torch.testing import assert_close

from shendu.errors import BadInputError
from shendu.nn.lrn import LRN


def lrn_reference(a: np.ndarray, n: int, k: float, alpha: float, beta: float) -> np.ndarray:
    """The paper's formula, literally: b_i = a_i / (k + α Σ_{j=max(0, i−n/2)}^{min(N−1, i+n/2)} a_j²)^β."""
    channels = a.shape[1]
    out = np.empty_like(a)
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        out[:, i] = a[:, i] / (k + alpha * (a[:, lo : hi + 1] ** 2).sum(axis=1)) ** beta
    return out


@pytest.mark.parametrize("n,k,alpha,beta,scale", [
    (5, 2.0, 1e-4, 0.75, 30.0),  # the paper's constants, on activations large enough for LRN to matter
    (5, 1.0, 0.5, 0.75, 1.0),  # a strong α so every neighbour visibly enters the sum
    (3, 0.5, 0.2, 1.0, 2.0),
    (1, 1.0, 1.0, 0.5, 1.0),  # window of the channel alone
    (9, 2.0, 0.1, 0.75, 1.0),  # window wider than the 7 channels: clipped at both edges
])
def test_lrn_matches_the_paper_formula_in_numpy(n, k, alpha, beta, scale, seed):
    x = torch.randn(2, 7, 4, 3) * scale
    ours = LRN(n, alpha=alpha, beta=beta, k=k)(x)
    ref = lrn_reference(x.double().numpy(), n, k, alpha, beta)
    assert_close(ours, torch.from_numpy(ref).float(), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_ours_with_alpha_equals_torch_local_response_norm_with_alpha_times_n(n, seed):
    x = torch.randn(2, 8, 5, 5) * 3
    ours = LRN(n, alpha=0.05, beta=0.75, k=2.0)(x)
    assert_close(ours, torch.nn.LocalResponseNorm(n, alpha=0.05 * n, beta=0.75, k=2.0)(x), atol=1e-6, rtol=1e-5)
    # The same α in torch's layer normalizes n times less: the conventions differ (n > 1).
    assert not torch.allclose(ours, torch.nn.LocalResponseNorm(n, alpha=0.05, beta=0.75, k=2.0)(x))


def test_lrn_defaults_are_the_papers_and_it_has_no_parameters():
    layer = LRN()
    assert (layer.size, layer.k, layer.alpha, layer.beta) == (5, 2.0, 1e-4, 0.75)
    assert list(layer.parameters()) == []


def test_lrn_gradient_matches_finite_differences(seed):
    x = torch.randn(1, 6, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LRN(3, alpha=0.3, beta=0.75, k=1.0), (x,))


def test_lrn_accepts_1d_feature_maps_and_rejects_flat_vectors():
    x = torch.randn(2, 6, 10)  # (B, C, L)
    ref = lrn_reference(x.double().numpy(), 5, 2.0, 0.1, 0.75)
    assert_close(LRN(alpha=0.1)(x), torch.from_numpy(ref).float(), atol=1e-6, rtol=1e-5)
    with pytest.raises(BadInputError, match=r"received shape \(2, 6\)"):
        LRN()(torch.randn(2, 6))
    with pytest.raises(BadInputError, match="at least 1 channel"):
        LRN(0)
