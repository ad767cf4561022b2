"""`shendu zoo list | show NAME`: the registered models, and one model's layers, shapes, params and graph."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from shendu.cli._common import console, print_json
from shendu.i18n import both

app = typer.Typer(no_args_is_help=True)

INPUT_HELP = ("input shape: CxHxW for image models (e.g. 3x32x32), a sequence length for text models (e.g. 64); "
              "default: the model's reference size / 输入形状：图像模型为 CxHxW（如 3x32x32），文本模型为序列长度"
              "（如 64）；默认为模型的参考尺寸")


@app.command("list", help="List the registered models: family, paper, parameters at the reference size. / "
                          "列出已注册的模型：系列、论文、参考尺寸下的参数量。")
def list_(
    family: Optional[str] = typer.Option(None, "--family", help="only this family, e.g. resnet / 只列出该系列"),
    json_out: bool = typer.Option(False, "--json", help=both("json_help")),
) -> None:
    from shendu.errors import UnknownNameError
    from shendu.models import list_models

    rows = list_models()
    if family is not None:
        families = sorted({row["family"] for row in rows})
        if family not in families:
            raise UnknownNameError("model family", family, families)
        rows = [row for row in rows if row["family"] == family]
    if json_out:
        print_json({"models": rows})
        return
    table = Table()
    for column in ("name", "family", "paper", "params", "modality"):
        table.add_column(column, justify="right" if column == "params" else "left", no_wrap=column == "name")
    for row in rows:
        table.add_row(row["name"], row["family"], row["paper"], f"{row['params']:,}", row["modality"])
    console.print(table)


@app.command(help="Show a model's layers (output shape, params, MACs), its totals, and export its graph. / "
                  "查看模型的各层（输出形状、参数量、MACs）与总计，并导出计算图。")
def show(
    name: str,
    input_shape: Optional[str] = typer.Option(None, "--input", help=INPUT_HELP),
    classes: Optional[int] = typer.Option(None, "--classes", min=1,
                                          help="number of classes; default: the reference setting's / 类别数"),
    depth: int = typer.Option(3, "--depth", min=0, help="deepest nesting level listed / 列出的最大嵌套深度"),
    graph: Optional[Path] = typer.Option(None, "--graph", help="write the torch.fx graph as JSON to this file "
                                         "(docs/graph-schema.md) / 将 torch.fx 计算图以 JSON 写入该文件"),
    module_graph: bool = typer.Option(False, "--module-graph", help="if torch.fx cannot trace the model, write "
                                      "the module tree without dataflow edges / 若 torch.fx 无法追踪，则导出模块树"),
    json_out: bool = typer.Option(False, "--json", help=both("json_help")),
) -> None:
    from shendu.models import MODELS
    from shendu.viz import build_for_input, model_graph, parse_input_shape, summarize

    modality = MODELS.meta(name).get("modality", "image")  # unknown names fail here with did-you-mean
    shape = parse_input_shape(input_shape, modality) if input_shape is not None else None
    model, shape = build_for_input(name, shape, classes)
    summary = summarize(model, shape, depth=depth, name=name, modality=modality)
    exported = None
    if graph is not None:
        exported = model_graph(model, shape, name=name, modality=modality,
                               fallback="modules" if module_graph else None)
        graph.parent.mkdir(parents=True, exist_ok=True)
        graph.write_text(json.dumps(exported, indent=1) + "\n", encoding="utf-8")
    if json_out:
        print_json({**summary.to_dict(), "graph": str(graph) if graph is not None else None})
        return
    console.print(summary.table())
    if exported is not None:
        console.print(f"graph ({exported['source']}): {len(exported['nodes'])} nodes, "
                      f"{len(exported['edges'])} edges → {graph}")
