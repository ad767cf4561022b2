"""TextConv against an independent NumPy implementation of Kim 2014 §2: every window's dot product with
each filter, the activation, then the max over time (atol 1e-5)."""
import numpy as np
import pytest
import torch
from torch.testing import assert_close

from shendu.errors import BadInputError
from shendu.nn.text import TextConv

NUMPY_ACTIVATIONS = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z))}


def text_conv_reference(layer: TextConv, x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """c_t = f(Σ W ⊙ x_{t:t+h−1} + b) for every window t, then max_t; sentences zero-padded to the widest
    filter; with `lengths`, only windows starting at t <= max(length − h, 0)."""
    act = NUMPY_ACTIVATIONS[type(layer.branches[0][1]).__name__.lower()]
    batch, length, embed = x.shape
    padded = np.concatenate([x, np.zeros((batch, max(0, max(layer.widths) - length), embed))], axis=1)
    features = []
    for branch in layer.branches:
        conv = branch[0]
        weight, bias = conv.weight.detach().double().numpy(), conv.bias.detach().double().numpy()  # (maps, E, h)
        maps, _, width = weight.shape
        out = np.empty((batch, maps))
        for i in range(batch):
            last = padded.shape[1] - width if lengths is None else max(int(lengths[i]) - width, 0)
            windows = [padded[i, t : t + width].T for t in range(last + 1)]  # each (E, h)
            c = np.array([[np.sum(weight[m] * window) + bias[m] for m in range(maps)] for window in windows])
            out[i] = act(c).max(axis=0)
        features.append(out)
    return np.concatenate(features, axis=1)


@pytest.mark.parametrize("widths,maps,activation,length", [
    ((3, 4, 5), 4, "relu", 9),  # Kim's widths
    ((1, 2), 3, "tanh", 6),
    ((2,), 5, "sigmoid", 2),  # a single window per sentence
])
def test_text_conv_matches_numpy_sliding_windows(widths, maps, activation, length, seed):
    layer = TextConv(6, widths, maps, activation)
    x = torch.randn(3, length, 6)
    ours = layer(x)
    assert ours.shape == (3, len(widths) * maps) == (3, layer.out_features)
    assert_close(ours, torch.from_numpy(text_conv_reference(layer, x.double().numpy())).float(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("length", [1, 2, 4])
def test_sentences_shorter_than_the_widest_filter_are_padded_with_zero_vectors(length, seed):
    layer = TextConv(5, (3, 4, 5), maps=3)
    x = torch.randn(2, length, 5)
    ours = layer(x)
    assert ours.shape == (2, 9) and torch.isfinite(ours).all()
    assert_close(ours, torch.from_numpy(text_conv_reference(layer, x.double().numpy())).float(), atol=1e-5, rtol=1e-5)
    # Padding by hand to the widest width (5) with zero vectors — the padding token's embedding — is the same.
    assert_close(ours, layer(torch.cat([x, torch.zeros(2, 5 - length, 5)], dim=1)), atol=1e-6, rtol=0)


def test_lengths_restrict_the_max_to_windows_inside_the_sentence(seed):
    layer = TextConv(4, (2, 3, 5), maps=3, activation="tanh")
    lengths = torch.tensor([8, 4, 2, 0])  # full, shorter than the widest filter, shorter than all but one, empty
    x = torch.randn(4, 8, 4) * (torch.arange(8)[None, :, None] < lengths[:, None, None])  # zero vectors after length
    ours = layer(x, lengths)
    ref = text_conv_reference(layer, x.double().numpy(), lengths.numpy())
    assert_close(ours, torch.from_numpy(ref).float(), atol=1e-5, rtol=1e-5)
    # Extra trailing padding does not change any sentence's features.
    assert_close(layer(torch.cat([x, torch.zeros(4, 6, 4)], dim=1), lengths), ours, atol=1e-6, rtol=0)


def test_each_branch_has_its_own_activation_parameters():
    layer = TextConv(4, (2, 3), maps=2, activation="prelu")
    assert len([p for p in layer.parameters() if p.numel() == 1]) == 2  # one PReLU slope per width, not shared


def test_bad_shapes_and_arguments_say_what_was_expected():
    with pytest.raises(BadInputError, match=r"expects embeddings of shape \(B, L, 6\), received \(2, 7\)"):
        TextConv(6)(torch.randn(2, 7))
    with pytest.raises(BadInputError, match=r"received embed_dim=6, maps=3, widths=\(\)"):
        TextConv(6, widths=(), maps=3)
    with pytest.raises(BadInputError, match="positive integer width"):
        TextConv(6, widths=(3, 0))
