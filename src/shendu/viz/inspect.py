"""Looking inside a trained convolutional network: first-layer filters, the feature maps of every conv
layer for one input, and which pixels decided a prediction (saliency and Grad-CAM, through captum).

Conv layers are found by running the model once with hooks, so "first" and "last" follow the forward
pass, not the order in which the modules were declared.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from shendu.errors import BadInputError
from shendu.viz._plot import (Picture, as_image, as_predictor, finish, grid_shape, new_figure, rounded, save_figure,
                              style)

MAX_FILTERS = 64


def conv_layers(model: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Conv2d]]:
    """(name, module) of every Conv2d that runs on input `x`, in the order they run (once each)."""
    names = {module: name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)}
    order: list[nn.Module] = []
    handles = [m.register_forward_pre_hook(lambda mod, _args: order.append(mod)) for m in names]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    layers = [(names[m], m) for m in dict.fromkeys(order)]
    if not layers:
        raise BadInputError(f"{type(model).__name__} has no Conv2d layer that runs in its forward pass; filters, "
                            "feature maps and Grad-CAM need a convolutional network")
    return layers


def _conv_modules(source: Any) -> tuple[dict[str, nn.Conv2d], str]:
    """Conv layers of a Predictor/package in forward order, or of an nn.Module in declaration order
    (a bare module's input size is unknown, and its weights do not depend on it); and a display name."""
    if isinstance(source, nn.Module):
        layers = {name: m for name, m in source.named_modules() if isinstance(m, nn.Conv2d)}
        if not layers:
            raise BadInputError(f"{type(source).__name__} has no Conv2d layer; filters need a convolutional network")
        return layers, type(source).__name__
    predictor = as_predictor(source)
    x = predictor.preprocessing(torch.zeros(1, *predictor.input_shape, dtype=torch.uint8))
    return dict(conv_layers(predictor.model, x)), predictor.meta["model"]["name"]


# -- filters -----------------------------------------------------------------------------------------
def plot_filters(source: Any, path: str | Path | None = None, *, layer: str | None = None) -> Picture:
    """The weights of the first conv layer (or `layer`), one small image per output channel.

    One input channel: a diverging colour map on one scale for all filters (red +, blue −). Three
    input channels: each filter as an RGB image, min–max scaled on its own. Otherwise: the mean over
    input channels.

    Args:
        source: a `Predictor`, package directory, hub name, or an nn.Module.
        path: write the figure here (.png, .svg or .pdf).
        layer: a Conv2d's name in `named_modules()`; default the first conv layer that runs.

    Returns:
        A Picture with layer, shape (out, in, kh, kw) and weights (the full tensor, rounded).
    """
    layers, name = _conv_modules(source)
    layer = layer or next(iter(layers))
    if layer not in layers:
        raise BadInputError(f"{name} has no conv layer {layer!r} (conv layers: {', '.join(layers)})")
    weight = layers[layer].weight.detach().float().cpu()  # (out, in, kh, kw)
    with style():
        figure = _draw_filters(weight[:MAX_FILTERS], f"{name} · {layer} filters {tuple(weight.shape)}")
    data = {"model": name, "layer": layer, "shape": list(weight.shape), "weights": rounded(weight, 5)}
    return finish(data, [figure], path)


def _draw_filters(weight: torch.Tensor, title: str) -> Any:
    rows, cols = grid_shape(weight.shape[0])
    figure = new_figure(1.1 * cols + 0.8, 1.1 * rows + 0.6)
    axes = figure.subplots(rows, cols, squeeze=False)
    scale = float(weight.abs().max()) or 1.0
    image = None
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= weight.shape[0]:
            continue
        w = weight[i]
        if w.shape[0] == 3:
            rgb = (w - w.min()) / (w.max() - w.min() + 1e-12)
            ax.imshow(rgb.permute(1, 2, 0).numpy(), interpolation="nearest")  # (kh, kw, 3)
        else:
            image = ax.imshow(w.mean(0).numpy(), cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        ax.set_title(str(i), fontsize=7)
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.6)
    figure.suptitle(title)
    return figure


# -- feature maps ------------------------------------------------------------------------------------
def feature_maps(package: Any, image: Any) -> list[dict[str, Any]]:
    """The output of every conv layer for one raw image (what `Predictor.predict` takes).

    Returns:
        One dict per conv layer in forward order: layer, module (its repr) and maps, a float tensor
        (channels, H, W).
    """
    predictor = as_predictor(package)
    x = predictor.preprocessing(predictor._to_tensor(image)[:1])  # (1, C, H, W)
    layers = conv_layers(predictor.model, x)
    captured: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Any:
        def hook(_module: nn.Module, _args: Any, out: torch.Tensor) -> None:  # returns None: output unchanged
            captured.setdefault(name, out.detach()[0].float())  # the first call of a module called twice
        return hook

    handles = [module.register_forward_hook(keep(name)) for name, module in layers]
    try:
        with torch.no_grad():
            predictor.model(x)
    finally:
        for handle in handles:
            handle.remove()
    return [{"layer": name, "module": repr(module), "maps": captured[name]} for name, module in layers]


def plot_feature_maps(package: Any, image: Any, out_dir: str | Path | None = None, *, max_channels: int = 16,
                      fmt: str = "png") -> Picture:
    """One figure per conv layer showing up to `max_channels` of its output maps for `image`.

    Args:
        package: a `Predictor`, package directory or hub name.
        image: one raw image (uint8 (C, H, W) array, file path, PIL image).
        out_dir: write `NN_<layer>.<fmt>` per layer into this directory.
        max_channels: channels shown (and returned as data) per layer.
        fmt: "png", "svg" or "pdf".

    Returns:
        A Picture with one entry per layer: layer, shape, the shown channels' maps, and per-channel
        mean and max over all channels.
    """
    if max_channels < 1:
        raise BadInputError(f"max_channels: expected a positive number of channels, received {max_channels}")
    layers = feature_maps(package, image)
    figures, entries, files = [], [], []
    with style():
        for entry in layers:
            maps = entry["maps"]  # (channels, H, W)
            figures.append(_draw_maps(maps[:max_channels], f"{entry['layer']} · {tuple(maps.shape)}"))
            entries.append({"layer": entry["layer"], "shape": list(maps.shape), "maps": rounded(maps[:max_channels], 3),
                            "channel_mean": rounded(maps.mean(dim=(1, 2))),
                            "channel_max": rounded(maps.amax(dim=(1, 2)))})
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for i, (entry, figure) in enumerate(zip(entries, figures)):
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", entry["layer"])
            files.append(save_figure(figure, out / f"{i:02d}_{safe}.{fmt}"))
            entry["file"] = str(files[-1])
    return Picture({"layers": entries}, figures, files)


def _draw_maps(maps: torch.Tensor, title: str) -> Any:
    rows, cols = grid_shape(maps.shape[0])
    figure = new_figure(1.5 * cols, 1.5 * rows + 0.4)
    axes = figure.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < maps.shape[0]:
            ax.imshow(maps[i].numpy(), cmap="viridis", interpolation="nearest")
            ax.set_title(f"ch {i}", fontsize=7)
    figure.suptitle(title)
    return figure


# -- saliency and Grad-CAM ---------------------------------------------------------------------------
def _attribution_inputs(predictor: Any, images: Any, targets: Sequence[int] | int | None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """(preprocessed inputs requiring grad, target class per input; the predicted class by default)."""
    x = predictor.preprocessing(predictor._to_tensor(images)).float()  # (N, C, H, W)
    if targets is None:
        with torch.no_grad():
            targets = predictor.model(x).argmax(dim=1)
    targets = torch.as_tensor(targets, dtype=torch.long).reshape(-1)
    if targets.numel() == 1:  # one class for every image
        targets = targets.expand(x.shape[0]).clone()
    if targets.shape[0] != x.shape[0] or int(targets.min()) < 0 or int(targets.max()) >= len(predictor.classes):
        raise BadInputError(f"targets: expected one class index in 0..{len(predictor.classes) - 1} per image "
                            f"({x.shape[0]} images), received {targets.tolist()}")
    return x.requires_grad_(True), targets


def saliency_maps(package: Any, images: Any, targets: Sequence[int] | int | None = None) -> np.ndarray:
    """|∂ score / ∂ pixel| (captum `Saliency`), max over colour channels: (N, H, W) float32.

    Args:
        package: a `Predictor`, package directory or hub name.
        images: raw images as `Predictor.predict` takes them.
        targets: class index per image (or one for all); default the predicted class.
    """
    from captum.attr import Saliency

    predictor = as_predictor(package)
    x, targets = _attribution_inputs(predictor, images, targets)
    with torch.enable_grad():
        attribution = Saliency(predictor.model).attribute(x, target=targets, abs=True)  # (N, C, H, W)
    return attribution.amax(dim=1).detach().cpu().numpy().astype(np.float32)


def grad_cam_maps(package: Any, images: Any, targets: Sequence[int] | int | None = None,
                  layer: str | None = None, *, align: bool = True) -> tuple[np.ndarray, str]:
    """Grad-CAM (captum `LayerGradCam`, ReLU'd) of the last conv layer, upsampled to the input size.

    The default layer is the last Conv2d's output after the normalization, activation and residual add
    that follow it (`grad_cam_layer`): the "last convolutional layer" of the Grad-CAM paper is a
    rectified feature map. (On LeNet-5 the raw conv output gave all-zero maps for 15 of 50 MNIST digits.)

    Args:
        package: as in `saliency_maps`.
        images: as in `saliency_maps`.
        targets: as in `saliency_maps`.
        layer: a module's name to read instead; its output must be (N, C, h, w).
        align: put each map cell at the centre of its receptive field (measured with gradients) when
            upsampling, instead of spreading the cells evenly over the image: valid convolutions (LeNet's
            second) shrink the map from the borders, and even spreading shifts the heat outwards.

    Returns:
        (maps (N, H, W) float32, the layer's name).
    """
    from captum.attr import LayerAttribution, LayerGradCam

    predictor = as_predictor(package)
    x, targets = _attribution_inputs(predictor, images, targets)
    layer = layer or grad_cam_layer(predictor.model, x[:1].detach())[0]
    module = predictor._module(layer)
    with torch.enable_grad():
        cam = LayerGradCam(predictor.model, module).attribute(x, target=targets, relu_attributions=True).detach()
    if cam.dim() != 4:
        raise BadInputError(f"Grad-CAM needs a layer with spatial output (N, C, h, w); {layer} gives "
                            f"{tuple(cam.shape)} — pick a conv layer")
    size = tuple(x.shape[2:])
    if not align:
        return LayerAttribution.interpolate(cam, size, interpolate_mode="bilinear")[:, 0].cpu().numpy(), layer
    rows, cols = _cell_centers(predictor.model, module, x[:8].detach())
    return _upsample_at(cam[:, 0].cpu().numpy(), rows, cols, size).astype(np.float32), layer


def grad_cam_layer(model: nn.Module, x: torch.Tensor) -> tuple[str, str]:
    """(layer Grad-CAM reads, last conv layer). The last Conv2d that runs on `x` is followed through every
    module that finishes after it with an output of the same shape — its normalization and activation,
    then the blocks that end there — and the last of those is read: LeNet's `features.4` (the ReLU after
    conv `features.3`), a ResNet's `layer4` (the last block's output after the residual add and ReLU)."""
    calls: list[tuple[str, nn.Module, Any]] = []  # (name, module, output shape) in order of completion
    names = {m: n for n, m in model.named_modules() if n}
    hooks = [m.register_forward_hook(lambda mod, _a, out: calls.append(
        (names[mod], mod, tuple(out.shape) if isinstance(out, torch.Tensor) else None))) for m in names]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    convs = [i for i, (_n, m, _s) in enumerate(calls) if isinstance(m, nn.Conv2d)]
    if not convs:
        raise BadInputError(f"{type(model).__name__} has no Conv2d layer that runs; Grad-CAM needs a convolutional "
                            "network")
    last, chosen = convs[-1], convs[-1]
    while chosen + 1 < len(calls) and calls[chosen + 1][2] == calls[last][2]:
        chosen += 1
    return calls[chosen][0], calls[last][0]


def _cell_centers(model: nn.Module, module: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Input row and column at the centre of each output row and column of `module`: the centroid of
    |∂ Σ(row i of the output) / ∂ input| (one backward pass per output row and column). Falls back to
    even spacing where the gradient is all zero or the centres do not increase."""
    captured: list[torch.Tensor] = []
    hook = module.register_forward_hook(lambda _m, _a, out: captured.append(out))
    x = x.clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            model(x)
    finally:
        hook.remove()
    out = captured[0]  # (N, C, h, w)
    centers = []
    for axis, reduce in ((2, (0, 1, 3)), (3, (0, 1, 2))):
        size, length = out.shape[axis], x.shape[axis]
        even = (np.arange(size) + 0.5) * length / size - 0.5
        found = []
        for i in range(size):
            (grad,) = torch.autograd.grad(out.select(axis, i).sum(), x, retain_graph=True)
            profile = grad.abs().sum(dim=reduce).cpu().numpy()  # (length,)
            found.append(float(profile @ np.arange(length) / profile.sum()) if profile.sum() > 0 else even[i])
        found = np.asarray(found)
        centers.append(found if size == 1 or np.all(np.diff(found) > 0) else even)
    return centers[0], centers[1]


def _upsample_at(cam: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of (N, h, w) maps to (N, H, W), cell (i, j) sitting at input (rows[i], cols[j]);
    pixels beyond the outermost centres take the border cells' values."""
    for axis, centers, length in ((1, rows, size[0]), (2, cols, size[1])):
        position = np.interp(np.arange(length), centers, np.arange(len(centers)))  # fractional cell index
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, len(centers) - 1)
        shape = [1, 1, 1]
        shape[axis] = length
        weight = (position - low).reshape(shape)
        cam = np.take(cam, low, axis=axis) * (1 - weight) + np.take(cam, high, axis=axis) * weight
    return cam


def plot_gradcam(package: Any, image: Any, path: str | Path | None = None, *, target: int | None = None,
                 layer: str | None = None, label: int | None = None) -> Picture:
    """One image, its saliency map and its Grad-CAM heat map over it.

    Args:
        package: a `Predictor`, package directory or hub name.
        image: one raw image (uint8 (C, H, W) array, file path, PIL image).
        path: write the figure here (.png, .svg or .pdf).
        target: explain this class; default the predicted one.
        layer: Grad-CAM layer; default the last conv layer.
        label: the true class, shown in the title when known.

    Returns:
        A Picture with predicted, probability, target, layer, peak (row, col of Grad-CAM's maximum)
        and both maps (H, W), Grad-CAM scaled to [0, 1].
    """
    predictor = as_predictor(package)
    raw = predictor._to_tensor(image)[:1]
    probabilities = predictor.predict(raw).probabilities[0]
    predicted = int(probabilities.argmax())
    target = predicted if target is None else int(target)
    saliency = saliency_maps(predictor, raw, target)[0]
    cam, layer = grad_cam_maps(predictor, raw, target, layer)
    cam = cam[0] / (cam[0].max() or 1.0)
    peak = [int(v) for v in np.unravel_index(int(cam.argmax()), cam.shape)]
    data = {"predicted": predictor.classes[predicted], "probability": float(probabilities[predicted]),
            "target": predictor.classes[target], "label": None if label is None else predictor.classes[int(label)],
            "layer": layer, "peak": peak, "saliency": rounded(saliency, 5), "gradcam": rounded(cam, 4)}
    with style():
        figure = _draw_attributions(as_image(raw[0]), saliency, cam, peak, data)
    return finish(data, [figure], path)


def _draw_attributions(image: np.ndarray, saliency: np.ndarray, cam: np.ndarray, peak: list[int],
                       data: dict[str, Any]) -> Any:
    figure = new_figure(9, 3.4)
    axes = figure.subplots(1, 3)
    gray = "gray" if image.ndim == 2 else None
    axes[0].imshow(image, cmap=gray, interpolation="nearest")
    truth = f"true {data['label']} · " if data["label"] is not None else ""
    axes[0].set_title(f"{truth}predicted {data['predicted']} ({data['probability']:.2f})")
    axes[1].imshow(saliency, cmap="hot", interpolation="nearest")
    axes[1].set_title(f"saliency for {data['target']}")
    axes[2].imshow(image, cmap=gray, interpolation="nearest")
    axes[2].imshow(cam, cmap="jet", alpha=0.5, vmin=0, vmax=1, interpolation="bilinear")
    axes[2].plot(peak[1], peak[0], "w+", markersize=12, markeredgewidth=2)
    axes[2].set_title(f"Grad-CAM · {data['layer']}")
    for ax in axes:
        ax.set_axis_off()
    return figure
