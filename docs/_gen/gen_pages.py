"""Pages generated at `mkdocs build` time (mkdocs-gen-files), so they can never drift from the code:

- index.md — the README (quick tour in English and 简体中文), links rewritten for the site;
- cli.md — every `shendu` command, its arguments and options, read from the typer app;
- tutorials/*.md — the jupytext notebooks in tutorials/, as text and code (CI executes them);
- api/*.md — the API reference, rendered from docstrings by mkdocstrings.
"""
from __future__ import annotations

import re
from pathlib import Path

import jupytext
import mkdocs_gen_files
import typer

ROOT = Path(__file__).resolve().parents[2]
API_MODULES = {
    "shendu": "Top level / 顶层",
    "shendu.config": "Experiment config / 实验配置",
    "shendu.data": "Datasets / 数据集",
    "shendu.models": "Model zoo / 模型库",
    "shendu.nn": "Layers and net specs / 层与网络描述",
    "shendu.train": "Training / 训练",
    "shendu.track": "Run database / 运行数据库",
    "shendu.hub": "Packages and hub / 模型包与仓库",
    "shendu.sklearn": "scikit-learn estimators / scikit-learn 估计器",
    "shendu.viz.pictures": "Pictures / 图表",
    "shendu.learn.worked": "Worked examples / 课程示例",
}


def readme_page() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    text = re.sub(r"\]\(docs/([^)]+)\)", r"](\1)", text)  # docs/x.md → x.md inside the site
    # Other repository files (bench/README.md, examples/…) are not part of the site: show their path instead.
    return re.sub(r"\[([^\]]+)\]\((?!https?://|#)([^)]+/[^)]+)\)", r"\1 (`\2`)", text)


def cli_page() -> str:
    from shendu.cli import app

    root = typer.main.get_command(app)
    lines = ["# Command line / 命令行", "",
             "Generated from the typer app at build time. Exit codes: 0 ok, 2 bad input, 1 failure while working.",
             "构建文档时从 typer 应用自动生成。退出码：0 成功，2 输入有误，1 执行失败。", ""]
    for path, command in _walk(root, ["shendu"]):
        lines += [f"## `{' '.join(path)}`", "", (command.help or "").strip(), ""]
        params = [p for p in command.params if p.name != "help"]
        if not params:
            continue
        lines += ["| argument / option | help | default |", "|---|---|---|"]
        for param in params:
            option = param.param_type_name == "option"
            names = ", ".join(f"`{n}`" for n in (param.opts if option else [(param.name or "").upper()]))
            default = param.default if option and param.default not in (None, False, ()) else ""
            help_text = (getattr(param, "help", "") or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {names} | {help_text} | {'' if default == '' else f'`{default}`'} |")
        lines.append("")
    return "\n".join(lines)


def _walk(command, path: list[str]):
    """(path, command) of every leaf command. typer vendors its own click, so groups are recognized by their
    `commands` attribute rather than by class."""
    if hasattr(command, "commands"):
        for name in sorted(command.commands):
            yield from _walk(command.commands[name], [*path, name])
    else:
        yield path, command


def tutorial_pages() -> dict[str, str]:
    pages = {}
    for source in sorted((ROOT / "tutorials").glob("[0-9]*.py")):
        notebook = jupytext.read(source)
        body = jupytext.writes(notebook, fmt="md")
        body = re.sub(r"\A---\n.*?\n---\n", "", body, flags=re.S)  # drop the jupytext header
        note = (f"\n\n*Source: `tutorials/{source.name}` — run it with `jupytext --to notebook` or as a script; "
                "CI executes it on every change. / 源文件 `tutorials/" + source.name + "`，CI 每次都会执行。*\n")
        pages[source.stem] = body.strip() + note
    return pages


def main() -> None:
    with mkdocs_gen_files.open("index.md", "w") as page:
        page.write(readme_page())
    with mkdocs_gen_files.open("cli.md", "w") as page:
        page.write(cli_page())
    for stem, body in tutorial_pages().items():
        with mkdocs_gen_files.open(f"tutorials/{stem}.md", "w") as page:
            page.write(body)
    for module, title in API_MODULES.items():
        with mkdocs_gen_files.open(f"api/{module}.md", "w") as page:
            page.write(f"# `{module}` — {title}\n\n::: {module}\n")


main()
