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
# # 3. Convolution and pooling: X or O? / 卷积与池化：是 X 还是 O？
#
# The course asks a tiny CNN to tell an X from an O. Three 3×3 features are cut from a clean 9×9 X; a
# feature matches a patch when the mean of their element-wise product is 1. Then a 6×6 image is
# convolved at stride 1 and 2 and max-pooled — the same numbers as the course, then the same with
# `nn.Conv2d`.
#
# 课程用一个小 CNN 区分 X 和 O：从标准的 9×9 X 图中取出三个 3×3 特征，逐元素相乘再取平均为 1 即完全匹配。
# 然后用 6×6 图像做步长 1 和 2 的卷积以及最大池化，结果与课程一致，再用 `nn.Conv2d` 验证。

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from shendu.learn import worked
from shendu.viz.pictures import use_bilingual_fonts

use_bilingual_fonts()  # Chinese and English labels in the figures

feature = worked.X_FEATURES["diagonal \\"]
print("top-left patch × feature, averaged:", worked.feature_match(worked.X_IMAGE[1:4, 1:4], feature))
maps = {name: worked.match_map(worked.X_IMAGE, f) for name, f in worked.X_FEATURES.items()}

# %% [markdown]
# ## The 6×6 image / 6×6 图像

# %%
stride1 = worked.convolve(worked.IMAGE_6, worked.KERNEL_1, stride=1)
stride2 = worked.convolve(worked.IMAGE_6, worked.KERNEL_1, stride=2)
print("stride 1:\n", stride1)
print("stride 2:\n", stride2)
assert stride1[0, :2].tolist() == [3, -1] and stride2[0, :2].tolist() == [3, -3]
pooled = worked.max_pool(stride1)
print("2×2 max-pool:\n", pooled)

# %% [markdown]
# ## The same with nn.Conv2d / 用 nn.Conv2d 得到相同结果
# Two kernels = one Conv2d with two output channels; no bias, no padding.

# %%
conv = nn.Conv2d(1, 2, kernel_size=3, stride=1, bias=False)
with torch.no_grad():
    conv.weight.copy_(torch.tensor(np.stack([worked.KERNEL_1, worked.KERNEL_2]))[:, None].float())
    out = conv(torch.tensor(worked.IMAGE_6).float()[None, None])[0]
    pooled_torch = nn.MaxPool2d(2)(out[None])[0]
assert np.array_equal(out[0].numpy(), stride1)
assert np.array_equal(out[1].numpy(), worked.convolve(worked.IMAGE_6, worked.KERNEL_2))
assert np.array_equal(pooled_torch[0].numpy(), pooled)
print("nn.Conv2d agrees: two 4×4 maps (a 2×4×4 tensor), pooled to 2×2×2")

# %%
figure, axes = plt.subplots(1, 5, figsize=(15, 3.2))
axes[0].imshow(worked.X_IMAGE, cmap="gray")
axes[0].set_title("X (9×9)")
for ax, (name, m) in zip(axes[1:4], maps.items()):
    ax.imshow(m, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_title(f"match: {name}")
axes[4].imshow(stride1, cmap="RdBu_r")
axes[4].set_title("6×6 * kernel 1 / 卷积结果")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
figure.tight_layout()
