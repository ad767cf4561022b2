"""The course's worked examples reproduce its numbers, checked against independent references:
torch's conv2d / max_pool2d for the X/O walk-through, autograd for the hand-written backprop."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from shendu.learn import worked as w


def test_a_perfect_feature_match_scores_one_and_its_opposite_minus_one() -> None:
    feature = w.X_FEATURES["diagonal \\"]
    assert w.feature_match(w.X_IMAGE[1:4, 1:4], feature) == 1.0
    assert w.feature_match(-w.X_IMAGE[1:4, 1:4], feature) == -1.0
    # Each feature matches perfectly somewhere in the X: the centre for the cross, the arms for the diagonals.
    for feature in w.X_FEATURES.values():
        assert w.match_map(w.X_IMAGE, feature).max() == pytest.approx(1.0)
    assert w.match_map(w.X_IMAGE, w.X_FEATURES["cross x"])[3, 3] == pytest.approx(1.0)


def test_six_by_six_convolution_reproduces_the_course_numbers() -> None:
    stride1 = w.convolve(w.IMAGE_6, w.KERNEL_1, stride=1)
    stride2 = w.convolve(w.IMAGE_6, w.KERNEL_1, stride=2)
    assert stride1.shape == (4, 4) and stride1[0, :2].tolist() == [3, -1]  # "3, −1" at stride 1
    assert stride2.shape == (2, 2) and stride2[0, :2].tolist() == [3, -3]  # "3, −3" at stride 2
    assert stride1.tolist() == [[3, -1, -3, -1], [-3, 1, 0, -3], [-3, -3, 0, 1], [3, -2, -2, -1]]
    assert w.convolve(w.IMAGE_6, w.KERNEL_2).tolist() == [[-1, -1, -1, -1], [-1, -1, -2, 1], [-1, -1, -2, 1],
                                                          [-1, 0, -4, 3]]


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("kernel", ["KERNEL_1", "KERNEL_2"])
def test_convolve_and_pool_equal_torch(kernel: str, stride: int) -> None:
    k = getattr(w, kernel)
    ours = w.convolve(w.IMAGE_6, k, stride)
    theirs = F.conv2d(torch.tensor(w.IMAGE_6)[None, None], torch.tensor(k)[None, None], stride=stride)[0, 0]
    np.testing.assert_array_equal(ours, theirs.numpy())
    if stride == 1:
        pooled = F.max_pool2d(theirs[None, None], 2)[0, 0].numpy()
        np.testing.assert_array_equal(w.max_pool(ours), pooled)


def test_max_pool_of_the_course_maps() -> None:
    assert w.max_pool(w.convolve(w.IMAGE_6, w.KERNEL_1)).tolist() == [[3, 0], [3, 1]]
    assert w.max_pool(w.convolve(w.IMAGE_6, w.KERNEL_2)).tolist() == [[-1, 1], [0, 3]]


def test_bad_shapes_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="at least as large"):
        w.convolve(np.zeros((2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="stride"):
        w.convolve(w.IMAGE_6, w.KERNEL_1, stride=0)
    with pytest.raises(ValueError, match="differ in shape"):
        w.feature_match(np.zeros((2, 2)), np.zeros((3, 3)))


def test_perceptron_learns_and_or_but_never_xor() -> None:
    for gate in ("and", "or"):
        run = w.train_perceptron(gate)
        assert run.converged and (run.predict(w.GATE_INPUTS) == w.GATES[gate]).all()
    xor = w.train_perceptron("xor", epochs=200)
    assert not xor.converged and max(xor.accuracy) <= 0.75  # no line gets all four points


def test_two_layer_mlp_learns_xor() -> None:
    model, losses = w.train_xor_mlp()
    with torch.no_grad():
        predicted = (model(torch.tensor(w.GATE_INPUTS, dtype=torch.float32)) > 0).float().ravel().numpy()
    np.testing.assert_array_equal(predicted, w.GATES["xor"])  # 100 %
    assert losses[-1] < 0.01


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_backprop_by_hand_equals_autograd(seed: int) -> None:
    params = w.mlp_parameters(seed, n_in=2, n_hidden=3)
    x = np.random.default_rng(seed).normal(size=(5, 2))
    y = np.random.default_rng(seed + 10).uniform(size=5)
    steps = w.mlp_backprop(params, x, y)
    loss, grads = w.mlp_autograd(params, x, y)
    assert steps.loss == pytest.approx(loss, abs=1e-12)
    for name in params:
        np.testing.assert_allclose(steps.grads[name], grads[name], rtol=1e-9, atol=1e-12)  # float64 both ways


def test_softmax_steps_match_torch() -> None:
    steps = w.softmax_steps((2.0, 1.0, 0.1), target=0)
    np.testing.assert_allclose(steps.probabilities, torch.softmax(torch.tensor([2.0, 1.0, 0.1], dtype=torch.float64),
                                                                  0).numpy(), rtol=1e-12)
    expected = F.cross_entropy(torch.tensor([[2.0, 1.0, 0.1]], dtype=torch.float64), torch.tensor([0])).item()
    assert steps.cross_entropy == pytest.approx(expected, rel=1e-12)
    assert w.softmax_steps((1000.0, 0.0)).probabilities[0] == pytest.approx(1.0)  # no overflow


def test_neuron_steps() -> None:
    steps = w.neuron((1.0, 0.5, -1.0), (0.4, -0.2, 0.3), 0.1)
    assert steps.z == pytest.approx(0.4 - 0.1 - 0.3 + 0.1)
    assert steps.outputs["relu"] == pytest.approx(0.1) and steps.outputs["step"] == 1.0
    assert steps.outputs["sigmoid"] == pytest.approx(1 / (1 + np.exp(-0.1)))
