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
# 20 ReLU layers with weights drawn too large (std 2/√fan_in, √2 times He's): every layer doubles the
# variance of the signal, forwards and backwards. The gradient with respect to each layer's output grows
# about √2 per layer towards the input — over 20 layers, about 1,000×.
#
# 20 层 ReLU 网络、权重初始化过大（标准差 2/√fan_in，是 He 初始化的 √2 倍）：每层把信号方差放大一倍，前向和
# 反向都是如此。损失对各层输出的梯度每往前一层约放大 √2 倍——20 层后约 1000 倍。

# %%
def build_deep() -> nn.Sequential:
    torch.manual_seed(0)
    deep = nn.Sequential(*[nn.Sequential(nn.Linear(64, 64), nn.ReLU()) for _ in range(20)], nn.Linear(64, 10))
    for module in deep.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=2 / 64 ** 0.5)
            nn.init.zeros_(module.bias)
    return deep


generator = torch.Generator().manual_seed(1)
x, y = torch.randn(256, 64, generator=generator), torch.randint(0, 10, (256,), generator=generator)
deep, hidden, h = build_deep(), [], x
for block in deep[:-1]:
    h = block(h)
    h.retain_grad()  # keep ∂L/∂h for this intermediate tensor
    hidden.append(h)
nn.functional.cross_entropy(deep[-1](h), y).backward()
norms = [h.grad.norm().item() for h in hidden]
print(f"‖∂L/∂h‖: layer 1 {norms[0]:.3g}, layer 20 {norms[-1]:.3g} (ratio {norms[0] / norms[-1]:.0f}×)")
assert norms[0] > 100 * norms[-1]

# %% [markdown]
# Trained with plain SGD the loss becomes infinite within two steps (shendu stops such a run with a
# `TrainingDivergedError` and keeps the last good checkpoint). Clipping the gradient to norm 1 — what
# `optim.clip_norm: 1.0` does in a shendu config, with `torch.nn.utils.clip_grad_norm_` — bounds every
# step and the same network trains.
#
# 用普通 SGD 训练，两步之内损失就变成无穷大（shendu 会以 `TrainingDivergedError` 停止并保留最后一个正常的
# 检查点）。把梯度范数裁剪到 1（shendu 配置中的 `optim.clip_norm: 1.0`）后，每一步都有上限，同一网络就能训练。

# %%
curves = {}
for clip in (None, 1.0):
    deep = build_deep()
    optimizer = torch.optim.SGD(deep.parameters(), lr=0.01)
    curves[clip] = []
    for step in range(100):
        loss = nn.functional.cross_entropy(deep(x), y)
        optimizer.zero_grad()
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(deep.parameters(), clip)
        optimizer.step()
        curves[clip].append(loss.item())
print("without clipping:", [f"{v:.3g}" for v in curves[None][:4]])
print(f"with clip_norm=1: {curves[1.0][0]:.0f} → {curves[1.0][-1]:.1f}")
assert not torch.isfinite(torch.tensor(curves[None][-1])) and curves[1.0][-1] < curves[1.0][0] / 10

figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
axes[0].semilogy(range(1, 21), norms, marker="o")
axes[0].set_xlabel("layer / 层")
axes[0].set_ylabel("‖∂L/∂h‖")
axes[0].set_title("gradient per layer / 每层梯度")
axes[1].semilogy([v if v == v and v < 1e30 else float("nan") for v in curves[None]], label="no clipping / 不裁剪")
axes[1].semilogy(curves[1.0], label="clip_norm = 1 / 裁剪")
axes[1].set_xlabel("step / 步数")
axes[1].set_ylabel("loss / 损失")
axes[1].legend()
figure.tight_layout()
