"""`shendu explain neuron|perceptron|backprop|conv|pool|softmax`: the course's worked examples, step by step.

The numbers come from `shendu.learn.worked` (the same functions the tutorials and tests use); this module
only lays them out as rich tables, in the active language (SHENDU_LANG=en|zh) or both with `--lang both`.
"""
from __future__ import annotations

from typing import Callable

import typer
from rich.panel import Panel
from rich.table import Table

from shendu.cli._common import console, print_json
from shendu.errors import UnknownNameError
from shendu.i18n import both, lang

TOPICS = ("neuron", "perceptron", "backprop", "conv", "pool", "softmax")


def register(app: typer.Typer) -> None:
    @app.command(help="Walk through a fundamental step by step: " + "|".join(TOPICS)
                      + " / 逐步讲解基础概念：" + "|".join(TOPICS))
    def explain(
        topic: str = typer.Argument(..., help="|".join(TOPICS)),
        language: str = typer.Option(None, "--lang", help="en, zh or both (default: SHENDU_LANG / locale) / "
                                                          "语言：en、zh 或 both"),
        json_out: bool = typer.Option(False, "--json", help=both("json_help")),
    ) -> None:
        if topic not in TOPICS:
            raise UnknownNameError("topic", topic, list(TOPICS))
        if language not in (None, "en", "zh", "both"):
            raise UnknownNameError("language", language, ["en", "zh", "both"])
        say = _Say(language or lang())
        data = _RENDER[topic](say)
        if json_out:
            print_json({"topic": topic, **data})


class _Say:
    """Pick the English, the Chinese or both texts of a pair."""

    def __init__(self, language: str) -> None:
        self.language = language

    def __call__(self, en: str, zh: str) -> str:
        return {"en": en, "zh": zh}.get(self.language, f"{en} / {zh}")


def _intro(text: str) -> None:
    console.print(Panel(text), soft_wrap=False)  # wrapped inside the box, not cut at its edge


def _flat(values) -> str:
    import numpy as np

    return "  ".join(f"{v:+.3e}" for v in np.ravel(values))


def _matrix(values, title: str, fmt: str = "{:g}", highlight: tuple[int, int] | None = None) -> Table:
    table = Table(title=title, show_header=False, box=None, padding=(0, 1))
    for _ in range(values.shape[1]):
        table.add_column(justify="right")
    for i, row in enumerate(values):
        cells = [fmt.format(v) for v in row]
        if highlight is not None and i == highlight[0]:
            cells[highlight[1]] = f"[bold reverse]{cells[highlight[1]]}[/]"
        table.add_row(*cells)
    return table


def _neuron(say: _Say) -> dict:
    from shendu.learn.worked import neuron

    steps = neuron()
    _intro(say("A neuron: h = f(wᵀx + b) — weigh the inputs, add the bias, squash.",
                            "神经元：h = f(wᵀx + b) —— 输入加权求和，加上偏置，再经过激活函数。"))
    table = Table(title=say("weighted sum", "加权求和"))
    for column in ("i", "xᵢ", "wᵢ", "wᵢ·xᵢ"):
        table.add_column(column, justify="right")
    for i, (x, w, p) in enumerate(zip(steps.x, steps.w, steps.products), start=1):
        table.add_row(str(i), f"{x:g}", f"{w:g}", f"{p:g}")
    table.add_row("b", "", "", f"{steps.b:g}")
    table.add_row("z", "", "", f"[bold]{steps.z:g}[/]")
    console.print(table)
    acts = Table(title=say("activation f(z)", "激活函数 f(z)"))
    acts.add_column("f")
    acts.add_column("f(z)", justify="right")
    for name, value in steps.outputs.items():
        acts.add_row(name, f"{value:.4f}")
    console.print(acts)
    return {"z": steps.z, "outputs": steps.outputs}


def _perceptron(say: _Say) -> dict:
    import numpy as np

    from shendu.learn.worked import GATE_INPUTS, GATES, train_perceptron

    _intro(say("Rosenblatt's perceptron learns AND and OR, but no single line separates XOR "
                            "(Minsky & Papert 1969): it never gets all four points. Two layers do.",
                            "罗森布拉特感知机能学会 AND 和 OR，但没有一条直线能分开 XOR（明斯基与佩珀特，1969）："
                            "它永远分不对全部四个点。两层网络就可以。"))
    table = Table(title=say("perceptron rule w ← w + (y − ŷ)x", "感知机规则 w ← w + (y − ŷ)x"))
    for column in ("gate", "w", "b", say("epochs", "轮数"), say("accuracy", "准确率"), say("learned", "学会")):
        table.add_column(column)
    out = {}
    for gate in GATES:
        run = train_perceptron(gate)
        table.add_row(gate.upper(), np.array2string(run.w), f"{run.b:g}", str(len(run.accuracy)),
                      f"{run.accuracy[-1]:.0%}", "✓" if run.converged else "✗")
        out[gate] = {"accuracy": run.accuracy[-1], "converged": run.converged}
    console.print(table)
    from shendu.learn.worked import train_xor_mlp
    import torch

    model, losses = train_xor_mlp()
    with torch.no_grad():
        predicted = (model(torch.tensor(GATE_INPUTS, dtype=torch.float32)) > 0).int().ravel().tolist()
    mlp = Table(title=say("XOR with a 2-4-1 MLP (tanh, Adam)", "用 2-4-1 多层感知机学 XOR（tanh，Adam）"))
    for column in ("x₁", "x₂", "y", "ŷ"):
        mlp.add_column(column, justify="right")
    for (a, b), y, p in zip(GATE_INPUTS, GATES["xor"], predicted):
        mlp.add_row(f"{a:g}", f"{b:g}", f"{y:g}", str(p))
    console.print(mlp)
    console.print(say(f"final loss {losses[-1]:.2e}", f"最终损失 {losses[-1]:.2e}"))
    out["xor_mlp"] = {"predicted": predicted, "loss": losses[-1]}
    return out


def _backprop(say: _Say) -> dict:
    import numpy as np

    from shendu.learn.worked import GATE_INPUTS, GATES, mlp_autograd, mlp_backprop, mlp_parameters

    params = mlp_parameters()
    steps = mlp_backprop(params, GATE_INPUTS, GATES["xor"])
    _, reference = mlp_autograd(params, GATE_INPUTS, GATES["xor"])
    _intro(say("Backpropagation: run forward, then apply the chain rule from the loss back to each "
                            "weight. A 2-3-1 sigmoid network on the four XOR points, L = ½·mean((a₂ − y)²).",
                            "反向传播：先前向计算，再用链式法则从损失逐层求到每个权重。2-3-1 的 sigmoid 网络，"
                            "四个 XOR 样本，L = ½·mean((a₂ − y)²)。"))
    forward = Table(title=say("forward", "前向"))
    for column in ("x", "a₁ = σ(W₁x + b₁)", "a₂ = σ(W₂a₁ + b₂)", "y"):
        forward.add_column(column)
    for x, a1, a2, y in zip(GATE_INPUTS, steps.a1, steps.a2, GATES["xor"]):
        forward.add_row(np.array2string(x), np.array2string(a1, precision=4), f"{a2[0]:.4f}", f"{y:g}")
    console.print(forward)
    console.print(f"L = {steps.loss:.6f}")
    grads = Table(title=say("gradients: by hand vs autograd", "梯度：手算 vs 自动求导"))
    for column in (say("parameter", "参数"), say("by hand", "手算"), "autograd", "max |Δ|"):
        grads.add_column(column)
    worst = 0.0
    for name in ("W2", "b2", "W1", "b1"):
        delta = float(np.abs(steps.grads[name] - reference[name]).max())
        worst = max(worst, delta)
        grads.add_row(f"{name} {tuple(steps.grads[name].shape)}", _flat(steps.grads[name]), _flat(reference[name]),
                      f"{delta:.1e}")
    console.print(grads)
    console.print(say("δ₂ = (a₂ − y)·a₂(1 − a₂)/N,  δ₁ = (δ₂W₂)·a₁(1 − a₁),  ∂L/∂W = δᵀ·input",
                      "δ₂ = (a₂ − y)·a₂(1 − a₂)/N，δ₁ = (δ₂W₂)·a₁(1 − a₁)，∂L/∂W = δᵀ·输入"))
    return {"loss": steps.loss, "max_abs_diff": worst}


def _conv(say: _Say) -> dict:
    from shendu.learn.worked import IMAGE_6, KERNEL_1, KERNEL_2, X_FEATURES, X_IMAGE, convolve, feature_match

    _intro(say("Convolution: slide a small kernel over the image and take the dot product at each "
                            "stop. First the course's 9×9 ±1 'X' and a 3×3 feature: a perfect match scores 1.",
                            "卷积：用小卷积核在图像上滑动，每到一处计算点积。先看课程中的 9×9 ±1 “X” 和 3×3 特征："
                            "完全匹配时得分为 1。"))
    feature = X_FEATURES["diagonal \\"]
    console.print(_matrix(X_IMAGE, say("the X (9×9)", "X 图像（9×9）"), "{:+g}"))
    console.print(_matrix(feature, say("feature 1 (3×3)", "特征 1（3×3）"), "{:+g}"))
    score = feature_match(X_IMAGE[1:4, 1:4], feature)
    console.print(say(f"top-left 3×3 patch × feature, averaged: 9 products of +1 / 9 = {score:g}",
                      f"左上 3×3 区域与特征逐元素相乘后取平均：9 个 +1 / 9 = {score:g}"))
    out = {"feature_match": score}
    for stride in (1, 2):
        for name, kernel in (("kernel 1", KERNEL_1), ("kernel 2", KERNEL_2)):
            result = convolve(IMAGE_6, kernel, stride)
            title = say(f"6×6 image * {name}, stride {stride} → {result.shape[0]}×{result.shape[1]}",
                        f"6×6 图像 * 卷积核{name[-1]}，步长 {stride} → {result.shape[0]}×{result.shape[1]}")
            console.print(_matrix(result, title, "{:g}", highlight=(0, 0)))
            out[f"stride{stride}_{name.replace(' ', '')}"] = result.tolist()
    console.print(say("Output side = (6 − 3) // stride + 1. The same numbers come out of torch.nn.functional.conv2d.",
                      "输出边长 = (6 − 3) // 步长 + 1。torch.nn.functional.conv2d 算出的数字完全相同。"))
    return out


def _pool(say: _Say) -> dict:
    from shendu.learn.worked import IMAGE_6, KERNEL_1, KERNEL_2, convolve, max_pool

    _intro(say("Max-pooling keeps the largest value of each 2×2 block: the map shrinks 4×4 → 2×2 and "
                            "small shifts of the pattern change little (subsampling does not change the object).",
                            "最大池化保留每个 2×2 区域的最大值：特征图从 4×4 缩小为 2×2，图案的小幅平移影响不大"
                            "（下采样不改变物体）。"))
    out = {}
    for name, kernel in (("kernel 1", KERNEL_1), ("kernel 2", KERNEL_2)):
        fmap = convolve(IMAGE_6, kernel, 1)
        pooled = max_pool(fmap, 2)
        console.print(_matrix(fmap, say(f"{name}: feature map 4×4", f"卷积核{name[-1]}：特征图 4×4")))
        console.print(_matrix(pooled, say(f"{name}: 2×2 max-pool", f"卷积核{name[-1]}：2×2 最大池化")))
        out[name.replace(" ", "")] = pooled.tolist()
    return out


def _softmax(say: _Say) -> dict:
    from shendu.learn.worked import softmax_steps

    steps = softmax_steps()
    _intro(say("Softmax turns scores into probabilities; cross-entropy is −log of the true class's "
                            "probability.", "Softmax 把得分变成概率；交叉熵是正确类别概率的负对数。"))
    table = Table(title="softmax")
    for column in ("class", "z", "z − max z", "exp", "p"):
        table.add_column(column, justify="right")
    for i in range(len(steps.logits)):
        mark = " ←" if i == steps.target else ""
        table.add_row(f"{i}{mark}", f"{steps.logits[i]:g}", f"{steps.shifted[i]:g}", f"{steps.exps[i]:.4f}",
                      f"{steps.probabilities[i]:.4f}")
    console.print(table)
    console.print(say(f"cross-entropy = −log p[{steps.target}] = {steps.cross_entropy:.4f}",
                      f"交叉熵 = −log p[{steps.target}] = {steps.cross_entropy:.4f}"))
    return {"probabilities": steps.probabilities.tolist(), "cross_entropy": steps.cross_entropy}


_RENDER: dict[str, Callable[[_Say], dict]] = {"neuron": _neuron, "perceptron": _perceptron, "backprop": _backprop,
                                              "conv": _conv, "pool": _pool, "softmax": _softmax}
