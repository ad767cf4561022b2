"""`shendu viz curves|confusion|filters|features|gradcam|embedding|misclassified|graph`: pictures as files.

Each command writes its file(s) and prints the path; `--json` prints the picture's data (what the
figure shows, and the files written) as one JSON line instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from shendu.cli._common import console, err_console, print_json
from shendu.i18n import both

app = typer.Typer(no_args_is_help=True,
                  help="Pictures of runs and models: curves, confusion matrix, filters, feature maps, Grad-CAM, "
                       "embeddings, mistakes, network graphs. / 运行与模型的图：训练曲线、混淆矩阵、卷积核、特征图、"
                       "Grad-CAM、嵌入、错分样本、网络结构图。")

PACKAGE_HELP = "model package directory or hub name / 模型包目录或 hub 名称"
DATA_HELP = "dataset name (default: the package's own) / 数据集名称（默认为模型包自己的数据集）"
SPLIT_HELP = "train | val | test"
MIRROR_HELP = "dataset mirror dir or URL / 数据镜像目录或 URL"
OUT_HELP = "file to write (.png, .svg or .pdf) / 输出文件（.png、.svg 或 .pdf）"
INDEX_HELP = "which sample of the split / 划分中的样本序号"


def _json(flag: bool) -> Any:
    return typer.Option(flag, "--json", help=both("json_help"))


def _done(picture: dict[str, Any], json_out: bool, summary: str = "") -> None:
    if json_out:
        print_json({k: v for k, v in picture.items() if k != "html"})
        return
    if summary:
        console.print(summary)
    for file in picture.get("files") or [picture.get("file")]:
        console.print(f"→ {file}")


@app.command(help="Loss and accuracy per epoch of one or more runs (train vs val). / 一个或多个运行每轮的损失与准确率。")
def curves(
    runs: list[str] = typer.Argument(..., help="run ids or unique prefixes / 运行 id 或唯一前缀"),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    json_out: bool = _json(False),
) -> None:
    from shendu.viz.curves import plot_curves

    picture = plot_curves(runs, out)
    _done(picture, json_out, ", ".join(f"{r['run_id']}: {len(r['metrics'])} metrics" for r in picture["runs"]))


@app.command(help="Confusion matrix and per-class precision/recall/F1. / 混淆矩阵与各类别的精确率、召回率、F1。")
def confusion(
    package: str = typer.Argument(..., help=PACKAGE_HELP),
    data: Optional[str] = typer.Option(None, "--data", help=DATA_HELP),
    split: str = typer.Option("test", "--split", help=SPLIT_HELP),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    normalize: bool = typer.Option(False, "--normalize", help="colour rows by share of the true class / 按行归一化"),
    mirror: Optional[str] = typer.Option(None, "--mirror", help=MIRROR_HELP),
    json_out: bool = _json(False),
) -> None:
    from shendu.viz.confusion import plot_confusion

    picture = plot_confusion(package, data, out, split=split, mirror=mirror, normalize=normalize)
    _done(picture, json_out, f"{picture['dataset']}/{picture['split']}: accuracy {picture['accuracy']:.4f} on "
                             f"{picture['count']} samples, macro F1 {picture['macro']['f1']:.4f}")


@app.command(help="First-layer convolution filters. / 第一层卷积核。")
def filters(
    package: str = typer.Argument(..., help=PACKAGE_HELP),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    layer: Optional[str] = typer.Option(None, "--layer", help="a conv layer's name (default: the first) / 卷积层名称"),
    json_out: bool = _json(False),
) -> None:
    from shendu.viz.inspect import plot_filters

    picture = plot_filters(package, out, layer=layer)
    _done(picture, json_out, f"{picture['layer']}: {picture['shape'][0]} filters of shape {picture['shape'][1:]}")


@app.command(help="Feature maps of every conv layer for one sample, one file per layer. / "
                  "某个样本在每个卷积层的特征图，每层一个文件。")
def features(
    package: str = typer.Argument(..., help=PACKAGE_HELP),
    index: int = typer.Option(0, "--index", help=INDEX_HELP),
    data: Optional[str] = typer.Option(None, "--data", help=DATA_HELP),
    split: str = typer.Option("test", "--split", help=SPLIT_HELP),
    out: Path = typer.Option(..., "--out", help="directory for the pictures / 输出目录"),
    max_channels: int = typer.Option(16, "--max-channels", min=1, help="channels shown per layer / 每层显示的通道数"),
    fmt: str = typer.Option("png", "--format", help="png | svg | pdf"),
    mirror: Optional[str] = typer.Option(None, "--mirror", help=MIRROR_HELP),
    json_out: bool = _json(False),
) -> None:
    from shendu.viz._plot import as_dataset, as_predictor, check_index
    from shendu.viz.inspect import plot_feature_maps

    predictor = as_predictor(package)
    dataset = as_dataset(predictor, data, split, mirror)
    picture = plot_feature_maps(predictor, dataset.x[check_index(dataset, index)], out, max_channels=max_channels,
                                fmt=fmt)
    picture["index"] = index
    _done(picture, json_out, f"{len(picture['layers'])} conv layers")


@app.command(help="Saliency and Grad-CAM (last conv layer) for one sample. / 某个样本的显著图与 Grad-CAM（最后一个卷积层）。")
def gradcam(
    package: str = typer.Argument(..., help=PACKAGE_HELP),
    index: int = typer.Option(0, "--index", help=INDEX_HELP),
    data: Optional[str] = typer.Option(None, "--data", help=DATA_HELP),
    split: str = typer.Option("test", "--split", help=SPLIT_HELP),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    target: Optional[int] = typer.Option(None, "--target", min=0, help="class index to explain (default: the "
                                         "predicted one) / 要解释的类别序号（默认为预测类别）"),
    layer: Optional[str] = typer.Option(None, "--layer", help="conv layer (default: the last) / 卷积层（默认最后一个）"),
    mirror: Optional[str] = typer.Option(None, "--mirror", help=MIRROR_HELP),
    json_out: bool = _json(False),
) -> None:
    from shendu.viz._plot import as_dataset, as_predictor, check_index
    from shendu.viz.inspect import plot_gradcam

    predictor = as_predictor(package)
    dataset = as_dataset(predictor, data, split, mirror)
    i = check_index(dataset, index)
    picture = plot_gradcam(predictor, dataset.x[i], out, target=target, layer=layer, label=int(dataset.y[i]))
    picture["index"] = index
    _done(picture, json_out, f"#{index}: true {picture['label']}, predicted {picture['predicted']} "
                             f"({picture['probability']:.2f}); Grad-CAM on {picture['layer']} peaks at "
                             f"{picture['peak']}")


@app.command(help="2-D map (PCA or t-SNE) of the penultimate features. / 倒数第二层特征的二维映射（PCA 或 t-SNE）。")
def embedding(
    package: str = typer.Argument(..., help=PACKAGE_HELP),
    data: Optional[str] = typer.Option(None, "--data", help=DATA_HELP),
    split: str = typer.Option("test", "--split", help=SPLIT_HELP),
    method: str = typer.Option("pca", "--method", help="pca | tsne"),
    limit: int = typer.Option(1000, "--limit", min=3, help="most samples (a seeded subset) / 最多样本数"),
    seed: int = typer.Option(0, "--seed", help="seed of the subset and the projection / 随机种子"),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    mirror: Optional[str] = typer.Option(None, "--mirror", help=MIRROR_HELP),
    json_out: bool = _json(False),
) -> None:
    from shendu.viz.embedding import plot_embedding

    picture = plot_embedding(package, data, out, method=method, split=split, mirror=mirror, limit=limit, seed=seed)
    _done(picture, json_out, f"{method}: {len(picture['points'])} samples, {picture['feature_dim']}-d features "
                             f"of {picture['layer']}'s input")


@app.command(help="Grid of the most confident mistakes. / 置信度最高的错分样本网格。")
def misclassified(
    package: str = typer.Argument(..., help=PACKAGE_HELP),
    data: Optional[str] = typer.Option(None, "--data", help=DATA_HELP),
    split: str = typer.Option("test", "--split", help=SPLIT_HELP),
    limit: int = typer.Option(25, "--limit", min=1, help="most examples shown / 最多显示的样本数"),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    mirror: Optional[str] = typer.Option(None, "--mirror", help=MIRROR_HELP),
    json_out: bool = _json(False),
) -> None:
    from shendu.viz.misclassified import plot_misclassified

    picture = plot_misclassified(package, data, out, split=split, mirror=mirror, limit=limit)
    _done(picture, json_out, f"{picture['wrong']} of {picture['count']} misclassified")


@app.command(help="Network graph as a standalone HTML page (offline, repeated blocks folded), or in Netron. / "
                  "网络结构图：独立 HTML 页面（离线可用，重复模块折叠），或用 Netron 打开。")
def graph(
    target: str = typer.Argument(..., help="package dir, hub name, model name or graph JSON / "
                                           "模型包目录、hub 名称、模型名称或计算图 JSON"),
    input_shape: Optional[str] = typer.Option(None, "--input", help="input shape, e.g. 3x32x32 (default: the "
                                              "package's or the model's reference size) / 输入形状"),
    classes: Optional[int] = typer.Option(None, "--classes", min=1, help="number of classes (model names) / 类别数"),
    out: Path = typer.Option(Path("graph.html"), "--out", help="HTML (or .svg) file / 输出的 HTML（或 .svg）文件"),
    collapse: bool = typer.Option(True, "--collapse/--no-collapse", help="fold repeated blocks / 折叠重复模块"),
    max_boxes: int = typer.Option(120, "--max-boxes", min=1, help="fold whole blocks beyond this many boxes / "
                                  "超过该框数时折叠整个模块"),
    module_graph: bool = typer.Option(False, "--module-graph", help="if torch.fx cannot trace the model, draw the "
                                      "module tree / 若 torch.fx 无法追踪，则绘制模块树"),
    netron: bool = typer.Option(False, "--netron", help="also export ONNX and open it in Netron (pip install "
                                "netron) / 同时导出 ONNX 并用 Netron 打开"),
    json_out: bool = _json(False),
) -> None:
    from shendu.viz import graph_html

    netron_mod = graph_html.netron_module() if netron else None  # fail before the work when it is missing
    drawn, source = graph_html.graph_of(target, input_shape, classes=classes,
                                        fallback="modules" if module_graph else None)
    layout = graph_html.render_graph_html(drawn, out, collapse=collapse, max_boxes=max_boxes)
    layout["onnx"] = str(graph_html.export_for_netron(source, drawn, out.with_suffix(".onnx"))) if netron else None
    if netron_mod is not None:  # the server starts before the --json line, so that line stays the last
        err_console.print(f"Netron: {layout['onnx']} (Ctrl+C to stop)")
        layout["netron"] = graph_html.open_in_netron(layout["onnx"], netron_mod, wait=False)
    _done(layout, json_out, f"{layout['model']}: {layout['nodes']} operations in {len(layout['boxes'])} boxes"
                            + "".join(f"\n  folded {f['label']}" for f in layout["folded"]))
    if netron_mod is not None and hasattr(netron_mod, "wait"):
        netron_mod.wait()  # returns on Ctrl+C
