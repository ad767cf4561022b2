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
# # 7. The classic networks / 经典网络
#
# Parameters and FLOPs of every image network in shendu's zoo at its reference size (224×224×3, 1000 classes
# for the ImageNet models), next to what the course notes say about them, then a short training run of
# each family on CIFAR-10.
#
# shendu 模型库中每个图像网络在参考尺寸下的参数量和计算量（ImageNet 模型为 224×224×3、1000 类），与课程讲义
# 中的说法对照；然后每个系列在 CIFAR-10 上做一次短训练。

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import shendu
from shendu.models import MODELS, create_model, list_models
from shendu.viz.pictures import use_bilingual_fonts

use_bilingual_fonts()


def weight_layers(model: nn.Module) -> int:
    return sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())


rows = []
for row in list_models():
    if row["modality"] != "image" or row["name"] == "net_spec" or row["name"].endswith("_tv"):
        continue
    reference = MODELS.meta(row["name"])["reference"]
    with torch.device("meta"):  # shapes only: no memory, no arithmetic
        model = create_model(row["name"], **reference).eval()
        x = torch.zeros(1, reference["in_channels"], reference["input_size"], reference["input_size"])
        with FlopCounterMode(display=False) as counter:
            model(x)
    rows.append({"name": row["name"], "params_M": row["params"] / 1e6, "gflops": counter.get_total_flops() / 2e9,
                 "weight_layers": weight_layers(model), "size": reference["input_size"]})
for r in rows:
    print(f"{r['name']:12s} {r['size']:>4d}px  {r['params_M']:8.2f} M params  {r['gflops']:7.2f} GMAC  "
          f"{r['weight_layers']:3d} conv/linear layers")

# %% [markdown]
# ## The course notes next to the measurement / 课程讲义与实测对照
# - AlexNet: "8 weighted layers: 5 convolutional + 3 fully connected" — measured below.
# - VGG: the notes say "about 140×10¹² parameters"; VGG-16 has about 138×10⁶ (the notes' exponent is off by
#   10⁶; the paper's Table 2 says 138 M).
# - GoogLeNet: "more features at the same cost" — 22 layers deep with fewer parameters than AlexNet.
# - ResNet: shortcuts make 152 layers trainable.
#
# - AlexNet：讲义称“8 个带权重的层：5 个卷积层 + 3 个全连接层”——见下方实测。
# - VGG：讲义称参数量“140×10¹² 个”，实际 VGG-16 约 138×10⁶（讲义的数量级多写了 10⁶；论文表 2 为 138 M）。

# %%
by_name = {r["name"]: r for r in rows}
assert by_name["alexnet"]["weight_layers"] == 8
assert 130 < by_name["vgg16"]["params_M"] < 140
assert by_name["googlenet"]["params_M"] < by_name["alexnet"]["params_M"]
print("AlexNet weight layers:", by_name["alexnet"]["weight_layers"])
print(f"VGG-16 parameters: {by_name['vgg16']['params_M']:.1f} M")

# %% [markdown]
# ## A short run on CIFAR-10 / 在 CIFAR-10 上的短训练
# One epoch on 1,000 training images with each network's small-input variant: not a benchmark — it shows
# the networks train through the same config. The cost per 32×32 image decides which fit a CPU tutorial:
# GoogLeNet and DenseNet-121 keep most of their 224-px cost at 32 px (1.6 and 0.9 GMAC: their small-input
# stems drop the early downsampling), so an epoch takes minutes on two cores; they are measured, not
# trained, here (train them with `shendu train` and `model.name: googlenet`, ideally on a GPU).
#
# 用各网络的小输入版本在 1,000 张训练图片上训练一轮：不是基准测试，只说明它们都能用同一配置训练。GoogLeNet 和
# DenseNet-121 在 32 像素下仍保留大部分计算量（1.6 与 0.9 GMAC），在双核 CPU 上一轮需要数分钟，这里只计算其成本。

# %%
small = {}
for name in ("lenet5", "alexnet", "vgg11_bn", "resnet20", "googlenet", "densenet121"):
    with torch.device("meta"):
        model = create_model(name, num_classes=10, in_channels=3, input_size=32).eval()
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, 3, 32, 32))
    small[name] = counter.get_total_flops() / 2e9
    print(f"{name:12s} {small[name]:.3f} GMAC per 32×32 image")

short = {}
for name in ("lenet5", "alexnet", "vgg11_bn", "resnet20"):
    config = {"data": {"name": "cifar10", "val_fraction": 0.75}, "model": {"name": name},
              "optim": {"name": "adam", "lr": 0.001}, "train": {"epochs": 1, "batch_size": 64, "checkpoint": False},
              "track": {"tensorboard": False}}
    result = shendu.train(config, progress=False)
    short[name] = result.metrics["test_accuracy"]
    print(f"{name:12s} test accuracy after 1 epoch on 1,000 images: {short[name]:.3f}")

# %% [markdown]
# ## Cost, size and a first epoch / 计算量、参数量与第一轮

# %%
figure, (ax, bars) = plt.subplots(1, 2, figsize=(13, 5), width_ratios=[3, 2])
for r in rows:
    ax.scatter(r["gflops"], r["params_M"], s=30)
    ax.annotate(r["name"], (r["gflops"], r["params_M"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("GMAC per image at the reference size / 每张图计算量")
ax.set_ylabel("parameters (M) / 参数量（百万）")
ax.set_title("the zoo: cost vs size / 模型库：计算量与参数量")
bars.barh(list(short), list(short.values()))
bars.set_xlabel("test accuracy after 1 epoch / 一轮后的测试准确率")
bars.set_title("CIFAR-10, 1,000 images / 1,000 张图片")
figure.tight_layout()
