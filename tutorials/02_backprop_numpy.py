# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Backpropagation by hand / 手写反向传播
#
# A 2-3-1 sigmoid network, loss L = ½·mean((a₂ − y)²). We write the forward pass and the chain rule in
# NumPy, compare every gradient with PyTorch's autograd, then train with our own gradients.
#
# 一个 2-3-1 的 sigmoid 网络，损失 L = ½·mean((a₂ − y)²)。我们用 NumPy 写出前向计算和链式法则，
# 把每个梯度与 PyTorch 自动求导对比，然后只用自己算的梯度训练网络。

# %%
import matplotlib.pyplot as plt
import numpy as np

from shendu.learn import worked
from shendu.viz.pictures import use_bilingual_fonts

use_bilingual_fonts()  # Chinese and English labels in the figures

params = worked.mlp_parameters(seed=0)
x, y = worked.GATE_INPUTS, worked.GATES["xor"]
steps = worked.mlp_backprop(params, x, y)
loss, reference = worked.mlp_autograd(params, x, y)
print(f"loss by hand {steps.loss:.10f}   autograd {loss:.10f}")
for name in ("W2", "b2", "W1", "b1"):
    difference = np.abs(steps.grads[name] - reference[name]).max()
    print(f"{name}: max |by hand − autograd| = {difference:.1e}")
    assert difference < 1e-12

# %% [markdown]
# The chain rule, layer by layer / 逐层链式法则:
#
# δ₂ = (a₂ − y) ⊙ a₂(1 − a₂) / N, ∂L/∂W₂ = δ₂ᵀa₁;  δ₁ = (δ₂W₂) ⊙ a₁(1 − a₁), ∂L/∂W₁ = δ₁ᵀx.
#
# ## Gradient descent with our own gradients / 用自己算的梯度做梯度下降

# %%
params = worked.mlp_parameters(seed=3, n_hidden=3)
history = []
for step in range(6000):
    result = worked.mlp_backprop(params, x, y)
    history.append(result.loss)
    for name in params:
        params[name] = params[name] - 10.0 * result.grads[name]
final = worked.mlp_backprop(params, x, y)
print("outputs:", final.a2.ravel().round(3), "targets:", y)
assert ((final.a2.ravel() > 0.5) == (y > 0.5)).all()

figure, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(history)
ax.set_xlabel("step / 步数")
ax.set_ylabel("loss / 损失")
ax.set_title("XOR learned with hand-written backprop / 手写反向传播学会 XOR")
figure.tight_layout()
