"""The course's worked examples as code: the numbers `shendu explain` prints and the tutorials reproduce.

Everything here is small and exact (NumPy, float64), so a learner can check each number by hand:

- `neuron`: h = f(wᵀx + b) for one input, step by step, for several activations.
- `train_perceptron`: Rosenblatt's rule on the logic gates; AND and OR are learned, XOR never is
  (it is not linearly separable — Minsky & Papert 1969). `train_xor_mlp`: two layers learn it.
- `mlp_backprop`: the forward and backward pass of a 2-3-1 sigmoid network written out by hand;
  `mlp_autograd` computes the same gradients with PyTorch's autograd, as the reference.
- `X_IMAGE`, `X_FEATURES`, `match_map`: the course's 9×9 ±1 "X" and its three 3×3 features (a perfect
  match scores 1). `IMAGE_6`, `KERNEL_1`, `KERNEL_2`, `convolve`, `max_pool`: the 6×6 image convolved
  at stride 1 (first values 3, −1) and stride 2 (3, −3), then 2×2 max-pooled.
- `softmax_steps`: logits → exponentials → probabilities → cross-entropy.

Convolution here is what deep-learning libraries compute (cross-correlation, no kernel flip, no padding),
so `convolve` equals `torch.nn.functional.conv2d` on the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# -- the neuron ----------------------------------------------------------------------------------------
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "step": lambda z: (z > 0).astype(np.float64),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
}


@dataclass
class NeuronSteps:
    """One neuron on one input: the products wᵢxᵢ, their sum z = wᵀx + b, and f(z) for each activation."""

    x: np.ndarray
    w: np.ndarray
    b: float
    products: np.ndarray
    z: float
    outputs: dict[str, float]


def neuron(x=(1.0, 0.5, -1.0), w=(0.4, -0.2, 0.3), b: float = 0.1) -> NeuronSteps:
    """h_{W,b}(x) = f(Σ Wᵢxᵢ + b), the formula of the course's first slide on neurons."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    if x.shape != w.shape or x.ndim != 1:
        raise ValueError(f"neuron: x and w must be vectors of one length, received shapes {x.shape} and {w.shape}")
    products = w * x
    z = float(products.sum() + b)
    return NeuronSteps(x, w, float(b), products, z, {name: float(f(np.float64(z))) for name, f in ACTIVATIONS.items()})


# -- the perceptron and XOR ----------------------------------------------------------------------------
GATE_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
GATES = {"and": np.array([0, 0, 0, 1.0]), "or": np.array([0, 1, 1, 1.0]), "xor": np.array([0, 1, 1, 0.0])}


@dataclass
class PerceptronRun:
    """Weights, bias and accuracy after each epoch of Rosenblatt's rule."""

    gate: str
    w: np.ndarray
    b: float
    accuracy: list[float] = field(default_factory=list)
    converged: bool = False

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) @ self.w + self.b > 0).astype(np.float64)


def train_perceptron(gate: str = "xor", epochs: int = 50, lr: float = 1.0) -> PerceptronRun:
    """Rosenblatt's perceptron rule, w ← w + lr·(y − ŷ)·x, one sample at a time, from zero weights.

    It converges whenever a separating line exists (the perceptron convergence theorem): AND and OR
    reach 100% within a few epochs. For XOR no line exists, so it keeps cycling and never gets all four.
    """
    if gate not in GATES:
        raise ValueError(f"unknown gate {gate!r}; expected one of {sorted(GATES)}")
    y = GATES[gate]
    run = PerceptronRun(gate, np.zeros(2), 0.0)
    for _ in range(epochs):
        for xi, yi in zip(GATE_INPUTS, y):
            error = yi - float(xi @ run.w + run.b > 0)
            run.w = run.w + lr * error * xi
            run.b += lr * error
        run.accuracy.append(float((run.predict(GATE_INPUTS) == y).mean()))
        if run.accuracy[-1] == 1.0:
            run.converged = True
            break
    return run


def train_xor_mlp(hidden: int = 4, steps: int = 2000, lr: float = 0.1, seed: int = 0):
    """A 2-`hidden`-1 tanh MLP trained on XOR with Adam and binary cross-entropy; returns (model, losses).

    One hidden layer bends the decision boundary: the four points end up on the right sides.
    """
    import torch
    from torch import nn

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 1))
    x = torch.tensor(GATE_INPUTS, dtype=torch.float32)
    y = torch.tensor(GATES["xor"], dtype=torch.float32).unsqueeze(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = nn.functional.binary_cross_entropy_with_logits(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model.eval(), losses


# -- backpropagation by hand ---------------------------------------------------------------------------
def mlp_parameters(seed: int = 0, n_in: int = 2, n_hidden: int = 3) -> dict[str, np.ndarray]:
    """Small random weights of a n_in-n_hidden-1 network (float64)."""
    rng = np.random.default_rng(seed)
    return {"W1": rng.normal(0, 0.5, (n_hidden, n_in)), "b1": rng.normal(0, 0.1, n_hidden),
            "W2": rng.normal(0, 0.5, (1, n_hidden)), "b2": rng.normal(0, 0.1, 1)}


@dataclass
class Backprop:
    """Every intermediate of one forward and backward pass; grads are those of the mean squared error."""

    z1: np.ndarray
    a1: np.ndarray
    z2: np.ndarray
    a2: np.ndarray
    loss: float
    deltas: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]


def mlp_backprop(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> Backprop:
    """Forward and backward through a1 = σ(W1x + b1), a2 = σ(W2a1 + b2), L = ½·mean((a2 − y)²), by hand.

    The chain rule, layer by layer (σ' = σ(1 − σ)):
        δ2 = (a2 − y) ⊙ a2(1 − a2) / N        dL/dW2 = δ2ᵀ a1     dL/db2 = Σ δ2
        δ1 = (δ2 W2) ⊙ a1(1 − a1)             dL/dW1 = δ1ᵀ x      dL/db1 = Σ δ1

    Args:
        params: W1 (H, D), b1 (H,), W2 (1, H), b2 (1,).
        x: inputs (N, D); y: targets (N,) or (N, 1).
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64).reshape(len(x), 1)
    sigma = ACTIVATIONS["sigmoid"]
    z1 = x @ params["W1"].T + params["b1"]
    a1 = sigma(z1)
    z2 = a1 @ params["W2"].T + params["b2"]
    a2 = sigma(z2)
    loss = float(0.5 * np.mean((a2 - y) ** 2))
    delta2 = (a2 - y) * a2 * (1 - a2) / len(x)
    delta1 = (delta2 @ params["W2"]) * a1 * (1 - a1)
    grads = {"W2": delta2.T @ a1, "b2": delta2.sum(axis=0), "W1": delta1.T @ x, "b1": delta1.sum(axis=0)}
    return Backprop(z1, a1, z2, a2, loss, {"delta2": delta2, "delta1": delta1}, grads)


def mlp_autograd(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """The same loss and gradients from PyTorch's autograd (float64): the reference for `mlp_backprop`."""
    import torch

    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    xt = torch.tensor(np.atleast_2d(x), dtype=torch.float64)
    yt = torch.tensor(np.asarray(y, dtype=np.float64).reshape(len(xt), 1))
    a1 = torch.sigmoid(xt @ tensors["W1"].T + tensors["b1"])
    a2 = torch.sigmoid(a1 @ tensors["W2"].T + tensors["b2"])
    loss = 0.5 * ((a2 - yt) ** 2).mean()
    loss.backward()
    return loss.item(), {k: t.grad.numpy() for k, t in tensors.items()}


# -- convolution and pooling: the X/O example ----------------------------------------------------------
def _grid(text: str) -> np.ndarray:
    return np.array([[float(v) for v in row.split()] for row in text.strip().splitlines()])


X_IMAGE = _grid("""
-1 -1 -1 -1 -1 -1 -1 -1 -1
-1  1 -1 -1 -1 -1 -1  1 -1
-1 -1  1 -1 -1 -1  1 -1 -1
-1 -1 -1  1 -1  1 -1 -1 -1
-1 -1 -1 -1  1 -1 -1 -1 -1
-1 -1 -1  1 -1  1 -1 -1 -1
-1 -1  1 -1 -1 -1  1 -1 -1
-1  1 -1 -1 -1 -1 -1  1 -1
-1 -1 -1 -1 -1 -1 -1 -1 -1
""")
X_FEATURES = {
    "diagonal \\": _grid("1 -1 -1\n-1 1 -1\n-1 -1 1"),
    "cross x": _grid("1 -1 1\n-1 1 -1\n1 -1 1"),
    "diagonal /": _grid("-1 -1 1\n-1 1 -1\n1 -1 -1"),
}


def feature_match(patch: np.ndarray, feature: np.ndarray) -> float:
    """Mean of the element-wise product: 1 for a perfect ±1 match, −1 for its opposite."""
    patch, feature = np.asarray(patch, dtype=np.float64), np.asarray(feature, dtype=np.float64)
    if patch.shape != feature.shape:
        raise ValueError(f"feature_match: patch {patch.shape} and feature {feature.shape} differ in shape")
    return float((patch * feature).mean())


def match_map(image: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """`feature_match` at every position (stride 1, no padding): where in the image the feature is."""
    k = feature.shape[0]
    return convolve(image, feature, stride=1) / (k * k)


IMAGE_6 = _grid("""
1 0 0 0 0 1
0 1 0 0 1 0
0 0 1 1 0 0
1 0 0 0 1 0
0 1 0 0 1 0
0 0 1 0 1 0
""")
KERNEL_1 = _grid("1 -1 -1\n-1 1 -1\n-1 -1 1")
KERNEL_2 = _grid("-1 1 -1\n-1 1 -1\n-1 1 -1")


def convolve(image: np.ndarray, kernel: np.ndarray, stride: int = 1) -> np.ndarray:
    """Slide `kernel` over `image` (no padding) and take the dot product at each stop.

    Output side: (n − k) // stride + 1 — 4×4 for the 6×6 image at stride 1, 2×2 at stride 2.
    """
    image, kernel = np.asarray(image, dtype=np.float64), np.asarray(kernel, dtype=np.float64)
    if image.ndim != 2 or kernel.ndim != 2 or kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1]:
        raise ValueError(f"convolve: expected a 2-D image at least as large as the 2-D kernel, received "
                         f"{image.shape} and {kernel.shape}")
    if stride < 1:
        raise ValueError(f"convolve: stride must be ≥ 1, received {stride}")
    kh, kw = kernel.shape
    rows = (image.shape[0] - kh) // stride + 1
    cols = (image.shape[1] - kw) // stride + 1
    out = np.empty((rows, cols))
    for i in range(rows):
        for j in range(cols):
            out[i, j] = (image[i * stride:i * stride + kh, j * stride:j * stride + kw] * kernel).sum()
    return out


def max_pool(feature_map: np.ndarray, size: int = 2) -> np.ndarray:
    """Largest value of each non-overlapping size×size block (a trailing partial block is dropped)."""
    fm = np.asarray(feature_map, dtype=np.float64)
    rows, cols = fm.shape[0] // size, fm.shape[1] // size
    if rows == 0 or cols == 0:
        raise ValueError(f"max_pool: a {fm.shape} map has no full {size}×{size} block")
    return fm[:rows * size, :cols * size].reshape(rows, size, cols, size).max(axis=(1, 3))


# -- softmax and cross-entropy -------------------------------------------------------------------------
@dataclass
class SoftmaxSteps:
    logits: np.ndarray
    shifted: np.ndarray
    exps: np.ndarray
    probabilities: np.ndarray
    target: int
    cross_entropy: float


def softmax_steps(logits=(2.0, 1.0, 0.1), target: int = 0) -> SoftmaxSteps:
    """p_i = exp(z_i − max z) / Σ_j exp(z_j − max z); loss = −log p_target (subtracting max z changes nothing
    but keeps exp from overflowing)."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 1 or not 0 <= target < len(z):
        raise ValueError(f"softmax_steps: expected a vector of logits and a target index in 0..{len(z) - 1}, "
                         f"received shape {z.shape} and target {target}")
    shifted = z - z.max()
    exps = np.exp(shifted)
    p = exps / exps.sum()
    return SoftmaxSteps(z, shifted, exps, p, target, float(-np.log(p[target])))
