"""Bilingual user-facing text (English / 简体中文) through one setting: SHENDU_LANG=en|zh.

Without SHENDU_LANG the language follows the locale (LC_ALL, LC_MESSAGES, LANG): zh_* → Chinese,
anything else → English. Messages live in one catalog so that both languages stay in step; a key
missing from the catalog is a bug and raises KeyError in tests.
"""
from __future__ import annotations

import os

_CATALOG: dict[str, tuple[str, str]] = {
    # key: (English, 简体中文)
    "app.help": (
        "shendu (深度): train, inspect, compare and ship neural networks.",
        "shendu（深度）：训练、查看、比较和发布神经网络。",
    ),
    "demo.help": (
        "Train LeNet-5 on the embedded 8×8 digits (no network needed) and save a model package.",
        "在内置的 8×8 手写数字数据集上训练 LeNet-5（无需联网），并保存模型包。",
    ),
    "demo.done": (
        "Done. Test accuracy {acc:.2%}. Model package: {package}\nLook at the run:  shendu runs show {run_id}\n"
        "Predict with it:  shendu predict {package} IMAGE.png",
        "完成。测试准确率 {acc:.2%}。模型包：{package}\n查看本次运行：  shendu runs show {run_id}\n"
        "用它预测：  shendu predict {package} IMAGE.png",
    ),
    "train.help": ("Train a model from a YAML experiment config.", "根据 YAML 实验配置训练模型。"),
    "train.set_help": (
        "Override a config key, e.g. --set optim.lr=0.05 (repeatable).",
        "覆盖配置项，例如 --set optim.lr=0.05（可重复）。",
    ),
    "train.resume_help": (
        "Continue a killed or failed run from its last checkpoint.",
        "从最近的检查点继续一个被中断或失败的运行。",
    ),
    "train.nproc_help": (
        "Processes for PyTorch DDP through torchrun (gloo on CPU, NCCL on GPU).",
        "通过 torchrun 启动的 PyTorch DDP 进程数（CPU 用 gloo，GPU 用 NCCL）。",
    ),
    "json_help": (
        "Print one JSON object as the last line (for scripts).",
        "最后一行输出一个 JSON 对象（供脚本使用）。",
    ),
    "train.epoch": (
        "epoch {epoch}/{epochs}",
        "第 {epoch}/{epochs} 轮",
    ),
    "train.done": (
        "Run {run_id} completed. Package: {package}\nSee it:  shendu runs show {run_id}",
        "运行 {run_id} 已完成。模型包：{package}\n查看：  shendu runs show {run_id}",
    ),
    "train.failed": ("Run {run_id} failed: {error}", "运行 {run_id} 失败：{error}"),
    "eval.help": ("Evaluate a model package on a dataset split.", "在数据集的某个划分上评估模型包。"),
    "predict.help": (
        "Classify image files, or texts (--text, --text-file) with a text model package.",
        "用模型包对图像文件分类，或用文本模型包对文本分类（--text、--text-file）。",
    ),
    "predict.text_help": ("A text to classify (repeatable).", "要分类的文本（可重复）。"),
    "predict.text_file_help": (
        "A UTF-8 file with one text per line (blank lines skipped).",
        "UTF-8 文本文件，每行一条文本（跳过空行）。",
    ),
    "predict.nothing": (
        "Nothing to classify: give image files, or --text / --text-file for a text model.",
        "没有可分类的内容：请给出图像文件，或为文本模型使用 --text / --text-file。",
    ),
    "data.help": ("List, describe and download datasets.", "列出、查看和下载数据集。"),
    "data.list_help": ("List the registered datasets.", "列出已注册的数据集。"),
    "data.info_help": ("Describe one dataset: classes, shapes, files, source.", "查看数据集：类别、形状、文件、来源。"),
    "data.download_help": (
        "Download (or copy from the mirror) and verify a dataset's files.",
        "下载（或从镜像复制）并校验数据集文件。",
    ),
    "data.downloaded": ("{name}: {count} file(s) ready in {path}", "{name}：{count} 个文件已就绪，位于 {path}"),
    "runs.help": ("List and inspect runs in the run database.", "列出并查看运行数据库中的运行。"),
    "runs.list_help": ("List recent runs.", "列出最近的运行。"),
    "runs.show_help": ("Show one run: config, metrics, artifacts.", "查看一次运行：配置、指标、产物。"),
    "runs.none": ("No runs yet. Try:  shendu demo", "还没有运行记录。试试：  shendu demo"),
    "runs.no_match": ("No run matches.", "没有匹配的运行。"),
    "runs.filter_help": (
        "Only runs matching an expression, e.g. 'model.name=resnet20 and val_accuracy>0.9' "
        "(= != > >= < <= ~, and/or/not, parentheses; see docs/runs.md).",
        "只列出匹配表达式的运行，例如 'model.name=resnet20 and val_accuracy>0.9'"
        "（= != > >= < <= ~、and/or/not、括号；见 docs/runs.md）。",
    ),
    "runs.group_by_help": (
        "Group by a config key or column (model.name, optim.lr, dataset, tag): count and mean ± std per group.",
        "按配置项或列分组（model.name、optim.lr、dataset、tag）：每组的数量和均值 ± 标准差。",
    ),
    "runs.sort_help": (
        "Sort by a column, metric or config key; '-' first for descending (e.g. -val_accuracy). Groups: count, "
        "the key or a metric mean.",
        "按列、指标或配置项排序；前加 '-' 为降序（如 -val_accuracy）。分组时：count、分组键或指标均值。",
    ),
    "runs.limit_help": (
        "At most this many runs (default 20) or groups (default all).",
        "最多显示的运行数（默认 20）或分组数（默认全部）。",
    ),
    "runs.metric_help": (
        "Metric column(s) to show (repeatable); default test_accuracy for runs, every metric for groups.",
        "要显示的指标列（可重复）；运行列表默认 test_accuracy，分组默认全部指标。",
    ),
    "runs.compare_help": (
        "Compare runs side by side: the config keys that differ, and every metric (final and best).",
        "并排比较运行：不同的配置项，以及所有指标（最终值和最佳值）。",
    ),
    "runs.export_help": (
        "Export one row per run (id, status, model, dataset, seed, created, tags, dotted config keys, final and "
        "best metrics) as CSV or JSON; '-' writes to standard output.",
        "导出每次运行一行（id、状态、模型、数据集、种子、创建时间、标签、点号配置项、指标最终值和最佳值），"
        "格式为 CSV 或 JSON；'-' 表示写到标准输出。",
    ),
    "runs.csv_help": ("Write CSV to this file ('-': standard output).", "将 CSV 写入该文件（'-'：标准输出）。"),
    "runs.json_file_help": ("Write a JSON array to this file ('-': standard output).",
                            "将 JSON 数组写入该文件（'-'：标准输出）。"),
    "runs.export_format": ("give exactly one of --csv FILE or --json FILE", "请只给出 --csv FILE 或 --json FILE 之一"),
    "runs.exported": ("Wrote {runs} run(s) × {columns} columns to {path}", "已将 {runs} 次运行 × {columns} 列写入 {path}"),
    "runs.delete_help": (
        "Delete runs with their metrics, artifact records, tags and notes (asks first unless --yes).",
        "删除运行及其指标、产物记录、标签和备注（除非给出 --yes，否则先确认）。",
    ),
    "runs.yes_help": ("Do not ask for confirmation.", "不再确认。"),
    "runs.files_help": (
        "Also delete the runs' checkpoint, package and TensorBoard folders under SHENDU_HOME.",
        "同时删除 SHENDU_HOME 下这些运行的检查点、模型包和 TensorBoard 目录。",
    ),
    "runs.delete_confirm": ("Delete {count} run(s)?", "删除这 {count} 次运行？"),
    "runs.delete_aborted": ("Nothing deleted.", "未删除任何内容。"),
    "runs.deleted": ("Deleted {count} run(s).", "已删除 {count} 次运行。"),
    "runs.tag_help": ("Add tags to a run.", "为运行添加标签。"),
    "runs.untag_help": ("Remove tags from a run.", "移除运行的标签。"),
    "runs.tags_now": ("{run_id} tags: {tags}", "{run_id} 的标签：{tags}"),
    "runs.note_help": ("Add a note to a run (shown by runs show).", "为运行添加备注（runs show 会显示）。"),
    "runs.noted": ("{run_id}: {count} note(s)", "{run_id}：共 {count} 条备注"),
    "col.count": ("runs", "运行数"),
    "col.tags": ("tags", "标签"),
    "col.key": ("config key", "配置项"),
    "col.metrics": ("metric rows", "指标行数"),
    "col.artifacts": ("artifacts", "产物"),
    "col.files": ("files", "文件"),
    "zoo.help": ("Browse the model zoo: list models, show a model's layers, shapes, params and graph.",
                 "浏览模型库：列出模型，查看模型的层、形状、参数量和计算图。"),
    "sweep.help": (
        "Search hyperparameters with Optuna; the study lives in the run database, each trial is a run.",
        "用 Optuna 搜索超参数；研究（study）存放在运行数据库中，每个试验（trial）都是一次运行。",
    ),
    "sweep.space_help": (
        "YAML search space: dotted config keys → distributions (see examples/sweep-space.yaml).",
        "YAML 搜索空间：点号配置项 → 分布（见 examples/sweep-space.yaml）。",
    ),
    "sweep.trials_help": ("Trials to add to the study, shared among the workers.", "向研究中新增的试验数，由各 worker 分担。"),
    "sweep.workers_help": ("Processes running trials at once on this machine.", "本机同时运行试验的进程数。"),
    "sweep.study_help": (
        "Study name; an existing study of that name is joined (e.g. from another machine).",
        "研究名称；若同名研究已存在则加入它（例如从另一台机器）。",
    ),
    "sweep.storage_help": (
        "Optuna storage URL (default: the run database, SHENDU_DB or SHENDU_HOME).",
        "Optuna 存储 URL（默认：运行数据库，即 SHENDU_DB 或 SHENDU_HOME 下的文件）。",
    ),
    "sweep.metric_help": (
        "Objective: a per-epoch metric such as val_accuracy or val_loss.",
        "优化目标：每轮记录的指标，例如 val_accuracy 或 val_loss。",
    ),
    "sweep.prune_help": (
        "Stop unpromising trials early (MedianPruner on the per-epoch metric).",
        "提前停止没有希望的试验（按每轮指标使用 MedianPruner）。",
    ),
    "sweep.best": (
        "Best: trial {trial}, {metric} {value:.4f} with {params}\nSee its run:  shendu runs show {run_id}",
        "最佳：试验 {trial}，{metric} {value:.4f}，参数 {params}\n查看该运行：  shendu runs show {run_id}",
    ),
    "sweep.none": (
        "No trial of study {study} completed (all failed or were pruned); see shendu runs list",
        "研究 {study} 中没有完成的试验（全部失败或被剪枝）；请查看 shendu runs list",
    ),
    "train.cv_help": (
        "Stratified K-fold cross-validation over train+val; reports mean ± std of each metric.",
        "在训练集+验证集上做分层 K 折交叉验证；报告每个指标的均值 ± 标准差。",
    ),
    "cv.fold": ("fold {fold}/{k}", "第 {fold}/{k} 折"),
    "cv.title": ("{k}-fold cross-validation · group run {run_id}", "{k} 折交叉验证 · 分组运行 {run_id}"),
    "cv.done": (
        "Fold runs: {folds}\nSee the group:  shendu runs show {run_id}",
        "各折运行：{folds}\n查看分组：  shendu runs show {run_id}",
    ),
    "col.trial": ("trial", "试验"),
    "col.state": ("state", "状态"),
    "col.mean": ("mean", "均值"),
    "col.std": ("std", "标准差"),
    "error": ("error", "错误"),
    "col.name": ("name", "名称"),
    "col.modality": ("modality", "模态"),
    "col.classes": ("classes", "类别数"),
    "col.shape": ("input shape", "输入形状"),
    "col.source": ("source", "来源"),
    "col.run": ("run", "运行"),
    "col.status": ("status", "状态"),
    "col.model": ("model", "模型"),
    "col.data": ("data", "数据"),
    "col.started": ("started", "开始时间"),
    "col.metric": ("metric", "指标"),
    "col.final": ("final", "最终"),
    "col.best": ("best", "最佳"),
    "col.file": ("file", "文件"),
    "col.text": ("text", "文本"),
    "col.label": ("label", "标签"),
    "col.prob": ("probability", "概率"),
}


def lang() -> str:
    """The active language, "en" or "zh"."""
    value = os.environ.get("SHENDU_LANG")
    if not value:
        for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
            if os.environ.get(var):
                value = os.environ[var]
                break
    return "zh" if (value or "").lower().startswith("zh") else "en"


def t(key: str, **kwargs: object) -> str:
    """The message `key` in the active language, formatted with `kwargs`."""
    en, zh = _CATALOG[key]
    text = zh if lang() == "zh" else en
    return text.format(**kwargs) if kwargs else text


def both(key: str) -> str:
    """Both languages at once ("English / 中文"), for help texts read before a language is chosen."""
    en, zh = _CATALOG[key]
    return f"{en} / {zh}"
