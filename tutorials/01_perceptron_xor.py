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
# # 1. The neuron, the perceptron, and XOR / 神经元、感知机与异或问题
#
# A neuron computes h = f(wᵀx + b). Rosenblatt's perceptron learns w and b for any problem a straight
# line can separate. Minsky and Papert (1969) pointed out that XOR is not such a problem; a second layer
# solves it. We watch all three happen.
#
# 神经元计算 h = f(wᵀx + b)。罗森布拉特感知机可以学会任何能被一条直线分开的问题；明斯基与佩珀特（1969）
# 指出异或（XOR）不是这样的问题，而加一层隐藏层就能解决。下面逐一演示。

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from shendu.learn import worked
from shendu.viz.pictures import use_bilingual_fonts

use_bilingual_fonts()  # Chinese and English labels in the figures

steps = worked.neuron(x=(1.0, 0.5, -1.0), w=(0.4, -0.2, 0.3), b=0.1)
print("w·x products:", steps.products, " z =", round(steps.z, 4))
print({name: round(value, 4) for name, value in steps.outputs.items()})

# %% [markdown]
# ## The perceptron rule / 感知机学习规则
# w ← w + (y − ŷ)·x after every sample. AND and OR converge within a few epochs; XOR never does.
#
# 每个样本之后更新 w ← w + (y − ŷ)·x。AND、OR 几轮就收敛；XOR 永远不收敛。

# %%
runs = {gate: worked.train_perceptron(gate, epochs=50) for gate in ("and", "or", "xor")}
for gate, run in runs.items():
    print(f"{gate.upper():4s} converged={run.converged!s:5s} epochs={len(run.accuracy):2d} "
          f"final accuracy={run.accuracy[-1]:.0%}")
assert runs["and"].converged and runs["or"].converged and not runs["xor"].converged

# %% [markdown]
# ## Two layers learn XOR / 两层网络学会 XOR

# %%
model, losses = worked.train_xor_mlp(hidden=4, steps=2000)
with torch.no_grad():
    predicted = (model(torch.tensor(worked.GATE_INPUTS, dtype=torch.float32)) > 0).int().ravel()
print("MLP predictions:", predicted.tolist(), "targets:", worked.GATES["xor"].astype(int).tolist())
assert predicted.tolist() == [0, 1, 1, 0]

# %% [markdown]
# ## Decision boundaries / 决策边界
# Left: the best the perceptron can do on XOR — one line, at most three of four points right.
# Right: the MLP's boundary bends around the points.
#
# 左：感知机在 XOR 上最多只能分对四个点中的三个（只有一条直线）。右：多层感知机的边界是弯曲的。

# %%
grid = np.stack(np.meshgrid(np.linspace(-0.5, 1.5, 200), np.linspace(-0.5, 1.5, 200)), axis=-1).reshape(-1, 2)
perceptron_side = runs["xor"].predict(grid).reshape(200, 200)
with torch.no_grad():
    mlp_side = (model(torch.tensor(grid, dtype=torch.float32)) > 0).float().numpy().reshape(200, 200)

figure, axes = plt.subplots(1, 2, figsize=(9, 4))
for ax, side, title in ((axes[0], perceptron_side, "perceptron on XOR / 感知机"),
                        (axes[1], mlp_side, "2-4-1 MLP on XOR / 多层感知机")):
    ax.contourf(np.linspace(-0.5, 1.5, 200), np.linspace(-0.5, 1.5, 200), side, levels=[-0.5, 0.5, 1.5],
                colors=["#dbe9f6", "#fbd9c9"])
    ax.scatter(*worked.GATE_INPUTS.T, c=worked.GATES["xor"], cmap="coolwarm", s=120, edgecolors="k")
    ax.set_title(title)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
figure.tight_layout()
