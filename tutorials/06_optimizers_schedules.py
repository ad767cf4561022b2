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
# # 6. Optimizers, schedules, exploding gradients / 优化器、学习率调度与梯度爆炸
#
# The same LeNet-5 on the 8×8 digits with each optimizer shendu offers, then with each learning-rate
# schedule; finally a deep plain network whose gradients explode, and what clipping does about it.
#
# 同一个 LeNet-5 在 8×8 手写数字上分别使用 shendu 提供的各个优化器和学习率调度；最后看一个梯度爆炸的
# 深层网络，以及梯度裁剪的作用。

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

import shendu
from shendu.errors import TrainingDivergedError
from shendu.track import open_store
from shendu.viz.pictures import use_bilingual_fonts

use_bilingual_fonts()
store = open_store()


def run(optim: dict, epochs: int = 8) -> list[float]:
    config = {"data": {"name": "digits"}, "model": {"name": "lenet5"}, "optim": optim,
              "train": {"epochs": epochs, "batch_size": 64, "seed": 0, "checkpoint": False},
              "track": {"tensorboard": False}}
    result = shendu.train(config, progress=False)
    return [r["value"] for r in store.metric_history(result.run_id) if r["name"] == "train_loss"]


optimizers = {
    "SGD": {"name": "sgd", "lr": 0.05, "momentum": 0.0},
    "SGD + momentum": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
    "Nesterov": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True},
    "AdaGrad": {"name": "adagrad", "lr": 0.05},
    "RMSProp": {"name": "rmsprop", "lr": 0.001},
    "Adam": {"name": "adam", "lr": 0.002},
}
losses = {name: run(optim) for name, optim in optimizers.items()}
schedules = {
    "constant": {"name": "sgd", "lr": 0.05},
    "step": {"name": "sgd", "lr": 0.05, "schedule": "step", "step_epochs": 3},
    "cosine": {"name": "sgd", "lr": 0.05, "schedule": "cosine"},
    "one-cycle": {"name": "sgd", "lr": 0.05, "schedule": "onecycle"},
    "warm-up + cosine": {"name": "sgd", "lr": 0.05, "schedule": "cosine", "warmup_epochs": 2},
}
schedule_losses = {name: run(optim) for name, optim in schedules.items()}
for name, values in {**losses, **schedule_losses}.items():
    print(f"{name:18s} final train loss {values[-1]:.4f}")

# %%
figure, axes = plt.subplots(1, 2, figsize=(11, 4))
for name, values in losses.items():
    axes[0].semilogy(range(1, len(values) + 1), values, label=name)
for name, values in schedule_losses.items():
    axes[1].semilogy(range(1, len(values) + 1), values, label=name)
axes[0].set_title("optimizers / 优化器")
axes[1].set_title("SGD schedules / 学习率调度")
for ax in axes:
    ax.set_xlabel("epoch / 轮")
    ax.set_ylabel("train loss / 训练损失")
    ax.legend(fontsize=8)
figure.tight_layout()

# %% [markdown]
# ## Exploding gradients / 梯度爆炸
# 20 linear layers with weights drawn too large (std 2/√fan_in, twice He's): each layer multiplies the
# backward signal by about 2, so the first layer's gradient is roughly 2²⁰ times the last one's.
#
# 20 层线性层、权重初始化过大（标准差 2/√fan_in，是 He 初始化的两倍）：每层把反向信号放大约 2 倍，第一层的
# 梯度约为最后一层的 2²⁰ 倍。

# %%
torch.manual_seed(0)
deep = nn.Sequential(*[nn.Sequential(nn.Linear(64, 64), nn.ReLU()) for _ in range(20)], nn.Linear(64, 10))
for module in deep.modules():
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=2 / 64 ** 0.5)
        nn.init.zeros_(module.bias)
x, y = torch.randn(32, 64), torch.randint(0, 10, (32,))
nn.functional.cross_entropy(deep(x), y).backward()
norms = [module.weight.grad.norm().item() for module in deep.modules() if isinstance(module, nn.Linear)]
print(f"gradient norm: first layer {norms[0]:.3g}, last layer {norms[-1]:.3g}")

# %% [markdown]
# In training, the same explosion shows up as a loss that becomes infinite. shendu stops with a clear
# error and keeps the last good checkpoint; `optim.clip_norm` rescales the gradient to a norm of at most 1
# and the run trains.
#
# 训练中，梯度爆炸表现为损失变成无穷大。shendu 会给出清晰的错误并保留最后一个正常的检查点；设置
# `optim.clip_norm` 把梯度范数限制在 1 以内后即可正常训练。

# %%
explosive = {"data": {"name": "digits"}, "model": {"name": "mlp", "args": {"depth": 8, "hidden": 128}},
             "optim": {"name": "sgd", "lr": 3.0, "momentum": 0.9},
             "train": {"epochs": 3, "seed": 0, "checkpoint": False}, "track": {"tensorboard": False}}
try:
    shendu.train(explosive, progress=False)
    diverged = False
except TrainingDivergedError as error:
    diverged = True
    print("without clipping:", str(error)[:120], "…")
explosive["optim"]["clip_norm"] = 1.0
explosive["optim"]["lr"] = 0.05
clipped = shendu.train(explosive, progress=False)
print("with clip_norm=1 and a sane lr: test accuracy", round(clipped.metrics["test_accuracy"], 3))

figure, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(range(1, len(norms) + 1), norms, marker="o")
ax.set_xlabel("layer / 层")
ax.set_ylabel("‖∂L/∂W‖")
ax.set_title("gradient norm per layer / 每层梯度范数")
figure.tight_layout()
