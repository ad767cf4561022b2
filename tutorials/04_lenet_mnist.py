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
# # 4. LeNet-5 on MNIST with shendu / 用 shendu 在 MNIST 上训练 LeNet-5
#
# One config, one call: shendu downloads MNIST (or takes it from `SHENDU_DATA_MIRROR`), trains, records the
# run in its database and saves a model package. Then we look at the curves, the first-layer filters and
# the confusion matrix. Set `EPOCHS = 3` for the 99 % of `examples/mnist-lenet.yaml`; one epoch keeps this
# notebook quick.
#
# 一个配置、一次调用：shendu 下载 MNIST（或从 `SHENDU_DATA_MIRROR` 读取）、训练、把运行记录写入数据库并保存
# 模型包。随后查看训练曲线、第一层卷积核和混淆矩阵。把 `EPOCHS` 设为 3 可得到约 99% 的准确率。

# %%
import shendu
from shendu.viz.pictures import plot_confusion, plot_curves, plot_filters, use_bilingual_fonts

use_bilingual_fonts()
EPOCHS = 1
config = {
    "data": {"name": "mnist", "val_fraction": 0.1},
    "model": {"name": "lenet5", "args": {"activation": "relu", "pool": "max"}},
    "optim": {"name": "adam", "lr": 0.002, "schedule": "cosine"},
    "train": {"epochs": EPOCHS, "batch_size": 64, "seed": 0},
    "track": {"name": "tutorial-04", "tensorboard": False},
}
result = shendu.train(config, progress=False)
print(result.run_id, f"test accuracy {result.metrics['test_accuracy']:.2%}")
assert result.metrics["test_accuracy"] > 0.97

# %% [markdown]
# ## Curves / 训练曲线

# %%
plot_curves(result.run_id)

# %% [markdown]
# ## What the first layer learned / 第一层学到了什么
# Six 5×5 filters of C1: edge and stroke detectors (red positive, blue negative weights).
#
# C1 层的 6 个 5×5 卷积核：边缘和笔画检测器（红色为正权重，蓝色为负权重）。

# %%
plot_filters(result.package)

# %%
confusion = plot_confusion(result.package)
print("most confused pair:", max(((i, j, confusion["matrix"][i][j]) for i in range(10) for j in range(10) if i != j),
                                key=lambda t: t[2]))
confusion
