"""What the pages show, computed with the library's public functions: datasets, models, net specs, runs.

Each function returns plain data (dicts, lists, strings) that both the Jinja pages and the JSON API use, so
the API mirrors the pages by construction. Slow results (model summaries, run pictures) are cached.
"""
from __future__ import annotations

import base64
import functools
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from shendu import _settings
from shendu.errors import BadInputError, ShenduError

PREVIEW_SAMPLES = 24
PICTURES = ("filters", "features", "gradcam", "misclassified")


# -- datasets ---------------------------------------------------------------------------------------------
def dataset_dirs(info: Any) -> list[Path]:
    """The folders a dataset's files may be in: the download cache, then the mirror (when it is a folder)."""
    from shendu.data._download import cache_dir

    dirs = [cache_dir(info)]
    mirror = _settings.data_mirror()
    if mirror and "://" not in mirror:
        dirs.append(Path(mirror).expanduser() / info.mirror_dir)
    return dirs


def dataset_files(info: Any) -> list[dict[str, Any]]:
    """Each published file with where it is (cache or mirror) and its size, or None when absent."""
    out = []
    for remote in info.files:
        found = next((d / remote.filename for d in dataset_dirs(info) if (d / remote.filename).is_file()), None)
        out.append({"name": remote.filename, "where": str(found.parent) if found else None,
                    "bytes": found.stat().st_size if found else None})
    return out


def dataset_rows() -> list[dict[str, Any]]:
    """One row per registered dataset: name, title, modality, classes, shape, files present."""
    from shendu.data import list_datasets

    rows = []
    for info in list_datasets():
        files = dataset_files(info)
        present = sum(f["where"] is not None for f in files)
        state = "bundled" if not files else ("ready" if present == len(files) else "not_downloaded")
        rows.append({"name": info.name, "title": info.title, "modality": info.modality,
                     "classes": info.num_classes, "shape": list(info.input_shape), "files": len(files),
                     "present": present, "state": state, "source": info.source, "license": info.license})
    return rows


def dataset_preview(name: str, split: str = "train", count: int = PREVIEW_SAMPLES) -> dict[str, Any]:
    """Samples of one split (PNG data URLs or texts) and the class balance of every split."""
    from shendu.data import dataset_info, load_dataset

    info = dataset_info(name)
    result: dict[str, Any] = {"name": name, "title": info.title, "modality": info.modality,
                              "classes": list(info.classes), "shape": list(info.input_shape),
                              "source": info.source, "license": info.license, "files": dataset_files(info),
                              "split": split, "samples": [], "balance": {}, "error": None}
    splits = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # partial-dataset notes are shown, not warned
            for which in ("train", "val", "test"):
                splits[which] = load_dataset(name, which, download=False, progress=False)
    except ShenduError as exc:
        result["error"] = str(exc)
        return result
    for which, data in splits.items():
        counts = np.bincount(data.y.numpy(), minlength=info.num_classes)
        result["balance"][which] = [int(c) for c in counts]
    data = splits.get(split) or splits["train"]
    picks = np.random.default_rng(0).choice(len(data.y), size=min(count, len(data.y)), replace=False)
    for i in sorted(picks.tolist()):
        label = info.classes[int(data.y[i])]
        if info.modality == "image":
            result["samples"].append({"index": i, "label": label, "image": png_data_url(data.x[i].numpy())})
        else:
            result["samples"].append({"index": i, "label": label, "text": data.texts[i][:300]})
    return result


def png_data_url(chw: np.ndarray, min_side: int = 64) -> str:
    """A uint8 (C, H, W) image as a PNG data URL, scaled up (nearest) so small images stay visible."""
    from PIL import Image

    array = chw[0] if chw.shape[0] == 1 else np.transpose(chw, (1, 2, 0))
    image = Image.fromarray(np.ascontiguousarray(array))
    if image.width < min_side:
        factor = -(-min_side // image.width)
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def png_bytes(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# -- models and net specs ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def model_rows() -> list[dict[str, Any]]:
    """The zoo (`list_models()`), computed once per studio process."""
    from shendu.models import list_models

    return list_models()


@functools.lru_cache(maxsize=64)
def model_detail(name: str) -> dict[str, Any]:
    """A model's layer summary and graph drawing at its reference input size."""
    from shendu.models import MODELS
    from shendu.viz import build_for_input, summarize

    modality = MODELS.meta(name).get("modality", "image")
    model, shape = build_for_input(name, None, None)
    summary = summarize(model, shape, depth=2, name=name, modality=modality).to_dict()
    return {**summary, "meta": {k: v for k, v in MODELS.meta(name).items() if k in ("family", "paper", "modality")},
            "graph_svg": _graph_svg(model, shape, name, modality)}


def _graph_svg(model: Any, shape: Any, name: str, modality: str) -> str | None:
    from shendu.viz import model_graph
    from shendu.viz.graph_html import graph_layout, graph_svg

    try:
        graph = model_graph(model, shape, name=name, modality=modality, fallback="modules")
        return graph_svg(graph_layout(graph))
    except ShenduError:
        return None


def parse_spec_text(text: str) -> dict[str, Any]:
    """A net spec typed in the editor (YAML, which includes JSON) as a dict."""
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise BadInputError(f"not valid YAML/JSON{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(spec, dict):
        raise BadInputError(f"a net spec is a mapping with 'layers' (and optionally name, inputs, output), "
                            f"received {type(spec).__name__}")
    return spec


def check_spec(text: str, input_shape: str, num_classes: int = 10) -> dict[str, Any]:
    """Compile a spec for one input: ok with params, layer rows and the graph SVG, or the error message."""
    from shendu.nn.spec import compile_spec
    from shendu.viz import parse_input_shape, summarize

    try:
        shape = parse_input_shape(input_shape, "image")
        spec = parse_spec_text(text)
        variables = {"num_classes": num_classes, "in_channels": shape[0], "input_size": shape[1]}
        net = compile_spec(spec, shape, variables)
        summary = summarize(net, shape, depth=1, name=str(spec.get("name", "net_spec")))
    except ShenduError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "error": None, "params": summary.params, "macs": summary.macs,
            "rows": [row.__dict__ if hasattr(row, "__dict__") else row for row in summary.to_dict()["rows"]],
            "graph_svg": _graph_svg(net, shape, str(spec.get("name", "net_spec")), "image")}


# -- runs -------------------------------------------------------------------------------------------------
def curves(store: Any, run_id: str) -> dict[str, dict[str, list]]:
    """Per-epoch values of every metric: {name: {"epoch": [...], "value": [...]}}."""
    series: dict[str, dict[str, list]] = {}
    for row in store.metric_history(run_id):
        if row["epoch"] is not None and row["step"] is None:
            entry = series.setdefault(row["name"], {"epoch": [], "value": []})
            entry["epoch"].append(int(row["epoch"]))
            entry["value"].append(float(row["value"]))
    if not series:  # a trainer that logs epochs with steps too: take every row with an epoch
        for row in store.metric_history(run_id):
            if row["epoch"] is not None:
                entry = series.setdefault(row["name"], {"epoch": [], "value": []})
                entry["epoch"].append(int(row["epoch"]))
                entry["value"].append(float(row["value"]))
    return series


def cache_dir(run_id: str) -> Path:
    path = _settings.home() / "studio" / "cache" / run_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def confusion(package: str, run_id: str) -> dict[str, Any]:
    """The confusion matrix of the run's package on its test split (cached as JSON)."""
    from shendu.viz.pictures import confusion_data

    path = cache_dir(run_id) / "confusion.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    data = confusion_data(package)
    path.write_text(json.dumps(data), encoding="utf-8")
    return data


def picture(package: str, run_id: str, kind: str) -> bytes:
    """One of the run's pictures as PNG bytes (cached): filters, features, gradcam, misclassified."""
    from shendu.viz._plot import as_dataset, as_predictor, figure_bytes
    from shendu.viz.pictures import plot_feature_maps, plot_filters, plot_gradcam, plot_misclassified

    if kind not in PICTURES:
        raise BadInputError(f"unknown picture {kind!r} (valid: {', '.join(PICTURES)})")
    path = cache_dir(run_id) / f"{kind}.png"
    if path.is_file():
        return path.read_bytes()
    predictor = as_predictor(package)
    if kind == "filters":
        drawn = plot_filters(predictor)
    elif kind == "misclassified":
        drawn = plot_misclassified(predictor, limit=16)
    else:
        test = as_dataset(predictor, None, "test", None)
        image, label = test.x[0].numpy(), int(test.y[0])
        drawn = plot_feature_maps(predictor, image) if kind == "features" else \
            plot_gradcam(predictor, image, label=label)
    data = figure_bytes(drawn.figure)
    path.write_bytes(data)
    return data


def predict_with_cam(predictor: Any, chw: np.ndarray, top_k: int) -> dict[str, Any]:
    """Top-k classes of one uint8 (C, H, W) image and its Grad-CAM heat map over it (PNG data URL)."""
    from shendu.serve._app import prediction_rows
    from shendu.viz.pictures import grad_cam_maps

    probs = predictor.predict(chw[None]).probabilities
    row = prediction_rows(predictor.classes, probs, top_k)[0]
    try:
        cam, layer = grad_cam_maps(predictor, chw[None])
        heat = cam[0] / (cam[0].max() or 1.0)
        row["gradcam"] = {"layer": layer, "image": _overlay(chw, heat)}
    except ShenduError as exc:
        row["gradcam"] = {"layer": None, "image": None, "error": str(exc)}
    row["input"] = png_data_url(chw, 96)
    return row


def _overlay(chw: np.ndarray, heat: np.ndarray, side: int = 160) -> str:
    """The image in grey blended half and half with the heat map in the "jet" colours, scaled up to `side` pixels."""
    from matplotlib import colormaps
    from PIL import Image

    grey = chw.mean(axis=0) / 255.0
    rgb = 0.5 * grey[..., None] + 0.5 * colormaps["jet"](np.clip(heat, 0, 1))[..., :3]
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    image = image.resize((side, side * image.height // max(image.width, 1)), Image.Resampling.NEAREST)
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")
