"""`shendu hub push PACKAGE | pull NAME | list | info NAME`: share model packages through registries.

A registry is a directory or an http(s) URL holding `index.json` and `user/model/tag.tar.gz` archives;
SHENDU_HUB lists registries (comma-separated, mirrors first). See docs/hub.md.
"""
from __future__ import annotations

from typing import Any, List, Optional

import typer
from rich.table import Table

from shendu.cli._common import console, print_json

HELP = ("Share model packages through a registry (a directory or an http(s) URL). / "
        "通过模型仓库（本地目录或 http(s) 网址）共享模型包。")
JSON_HELP = "Print the result as one JSON object on the last line. / 以一行 JSON 输出结果（最后一行）。"
REGISTRY_HELP = ("Registry directory or http(s) URL instead of SHENDU_HUB (repeatable, tried in order). / "
                 "使用的模型仓库（目录或网址），代替 SHENDU_HUB（可重复，按顺序尝试）。")

app = typer.Typer(no_args_is_help=True, help=HELP)


@app.command(help="Publish a package to a registry directory. / 把模型包发布到仓库目录。")
def push(
    package: str = typer.Argument(..., help="Package directory (or a hub name). / 模型包目录（或仓库名）。"),
    name: Optional[str] = typer.Option(None, "--name", help="user/model[:tag]; no tag → next vN. / "
                                       "用户/模型[:标签]；不写标签则用下一个 vN。"),
    registry: Optional[str] = typer.Option(None, "--registry", help="Registry directory (default: the first of "
                                           "SHENDU_HUB). / 仓库目录（默认 SHENDU_HUB 的第一个）。"),
    force: bool = typer.Option(False, "--force", help="Replace an existing tag. / 覆盖已有标签。"),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    from shendu.hub import push as push_package

    result = push_package(package, name, registry=registry, force=force)
    if json_out:
        print_json(result)
        return
    console.print(f"pushed [bold]{result['name']}[/] → {result['path']}\n"
                  f"  sha256 {result['sha256']} · {result['size']:,} bytes\n"
                  f"  pull it with:  shendu hub pull {result['name']}")


@app.command(help="Download a package into the hub cache (sha256-checked). / 下载模型包到本地缓存（校验 sha256）。")
def pull(
    name: str = typer.Argument(..., help="user/model[:tag] (tag default: latest). / 用户/模型[:标签]（默认 latest）。"),
    registry: Optional[List[str]] = typer.Option(None, "--registry", help=REGISTRY_HELP),
    force: bool = typer.Option(False, "--force", help="Download again even if cached. / 即使已缓存也重新下载。"),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    from shendu.hub import pull as pull_package

    result = pull_package(name, registry=registry or None, force=force, progress=not json_out)
    if json_out:
        print_json(result)
        return
    state = "already in the cache / 已在缓存中" if result["cached"] else f"from {result['url']}"
    console.print(f"[bold]{result['name']}[/] {state}\n  package: {result['path']}\n  sha256 {result['sha256']}\n"
                  f"  use it:  shendu predict {result['name']} IMAGE.png")


@app.command("list", help="Models in the registries and the cache. / 列出仓库和缓存中的模型。")
def list_(
    registry: Optional[List[str]] = typer.Option(None, "--registry", help=REGISTRY_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    from shendu.hub import list_models

    result = list_models(registry or None)
    if json_out:
        print_json(result)
        return
    for row in result["registries"]:
        status = f"{row['models']} model{'s' if row.get('models') != 1 else ''}" if row["ok"] else f"[red]unreadable[/]: {row['error']}"
        console.print(f"registry {row['registry']} — {status}")
    if not result["models"]:
        console.print("no models yet / 暂无模型 — publish one with `shendu hub push PACKAGE --name user/model`")
        return
    table = Table()
    for column in ("name", "latest", "tags", "model", "data", "test_acc", "cached"):
        table.add_column(column, no_wrap=column == "name")
    for model in result["models"]:
        summary = model.get("summary") or {}
        accuracy = (summary.get("metrics") or {}).get("test_accuracy")
        table.add_row(model["name"], model.get("latest") or "", ", ".join(model["tags"]), summary.get("model") or "",
                      summary.get("dataset") or "", f"{accuracy:.4f}" if isinstance(accuracy, float) else "",
                      ", ".join(model.get("cached") or []))
    console.print(table)


@app.command(help="Show one model: tags, sha256, size, summary, cache. / 查看一个模型：标签、sha256、大小、摘要、缓存。")
def info(
    name: str = typer.Argument(..., help="user/model[:tag]. / 用户/模型[:标签]。"),
    registry: Optional[List[str]] = typer.Option(None, "--registry", help=REGISTRY_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    from shendu.hub import info as model_info

    result = model_info(name, registry or None)
    if json_out:
        print_json(result)
        return
    _print_info(result)


def _print_info(result: dict[str, Any]) -> None:
    summary = result.get("summary") or {}
    trained = f" on {summary['dataset']}" if summary.get("dataset") else ""
    console.print(f"[bold]{result['name']}[/]  ({summary.get('model')}{trained})")
    for key in ("registry", "url", "sha256", "size", "created", "cached"):
        if result.get(key) is not None:
            console.print(f"  {key}: {result[key]}")
    if summary:
        console.print(f"  input: {'×'.join(map(str, summary.get('input_shape', [])))} · "
                      f"{len(summary.get('classes', []))} classes: {', '.join(summary.get('classes', [])[:10])}")
        for metric, value in sorted((summary.get("metrics") or {}).items()):
            console.print(f"  {metric}: {value}")
    for tag, record in (result.get("tags") or {}).items():
        latest = "  ← latest" if tag == result.get("latest") else ""
        console.print(f"  tag {tag}: sha256 {record['sha256'][:16]}… · {record.get('size') or 0:,} bytes · "
                      f"{record.get('created')}{latest}")
