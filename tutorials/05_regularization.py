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
# # 5. Regularization side by side / 正则化方法对比
#
# Overfitting needs little data and a big model: 10 % of the 8×8 digits (about 180 images) for training,
# 80 % held out for validation, and a 2×512 MLP. Each technique is one config key; we train the same
# network with each and compare the gap between training and validation accuracy.
#
# 过拟合需要少量数据和大模型：只用 10% 的 8×8 手写数字（约 180 张）训练，80% 留作验证，网络是 2×512 的多层
# 感知机。每种正则化方法只是一个配置项；同一网络分别训练，比较训练与验证准确率之间的差距。

# %%
import matplotlib.pyplot as plt

import shendu
from shendu.track import open_store
from shendu.viz.pictures import use_bilingual_fonts

use_bilingual_fonts()
base = {
    "data": {"name": "digits", "val_fraction": 0.8},
    "model": {"name": "mlp", "args": {"hidden": 512, "depth": 2}},
    "optim": {"name": "adam", "lr": 0.001},
    "train": {"epochs": 60, "batch_size": 32, "seed": 0, "checkpoint": False},
    "track": {"tensorboard": False},
}
variants = {
    "none / 无": {},
    "L2 (weight decay)": {"optim": {"weight_decay": 0.05}},
    "L1": {"regularize": {"l1": 1e-4}},
    "dropout 0.5": {"regularize": {"dropout": 0.5}},
    "input noise": {"regularize": {"noise_input": 0.5}},
    "label smoothing": {"regularize": {"label_smoothing": 0.2}},
    "augmentation": {"augment": {"crop_padding": 1, "rotation": 10}},
}


def merged(extra: dict) -> dict:
    config = {section: dict(values) for section, values in base.items()}
    for section, values in extra.items():
        config.setdefault(section, {}).update(values)
    return config


store = open_store()
histories = {}
for name, extra in variants.items():
    result = shendu.train(merged(extra), progress=False)
    rows = store.metric_history(result.run_id)
    histories[name] = {metric: [r["value"] for r in rows if r["name"] == metric]
                       for metric in ("train_accuracy", "val_accuracy")}
    last = {metric: values[-1] for metric, values in histories[name].items()}
    print(f"{name:18s} train {last['train_accuracy']:.3f}  val {last['val_accuracy']:.3f}  "
          f"gap {last['train_accuracy'] - last['val_accuracy']:+.3f}")

# %% [markdown]
# ## Train vs validation curves / 训练与验证曲线
# Solid: training accuracy; dashed: validation. The unregularized network fits its 180 images perfectly;
# the regularized ones trade some of that for a smaller gap.
#
# 实线为训练准确率，虚线为验证准确率。无正则化的网络完全拟合了 180 张训练图片；正则化以此换取更小的差距。

# %%
figure, ax = plt.subplots(figsize=(9, 5))
for (name, history), color in zip(histories.items(), plt.cm.tab10.colors):
    ax.plot(history["train_accuracy"], color=color, label=name)
    ax.plot(history["val_accuracy"], color=color, linestyle="--")
ax.set_xlabel("epoch / 轮")
ax.set_ylabel("accuracy / 准确率")
ax.set_ylim(0.5, 1.01)
ax.legend(loc="lower right", fontsize=8)
figure.tight_layout()
