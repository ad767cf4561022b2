"""The studio's words in English and 简体中文, chosen per browser (a cookie), not per process.

`shendu.i18n` holds the CLI's catalog and reads one process-wide setting (SHENDU_LANG); a web page is read
by several people at once, each in their own language, so the studio looks words up by the request's
language. The default language is the process's (`shendu.i18n.lang()`); `/lang/zh` sets the cookie.
"""
from __future__ import annotations

from shendu.i18n import lang as process_lang

LANGS = ("en", "zh")
COOKIE = "shendu_lang"

_WORDS: dict[str, tuple[str, str]] = {
    "studio": ("shendu studio", "深度工作室"),
    "nav.datasets": ("Datasets", "数据集"),
    "nav.models": ("Models", "模型"),
    "nav.new_job": ("New job", "新建任务"),
    "nav.jobs": ("Jobs", "任务"),
    "nav.runs": ("Runs", "运行"),
    "nav.compare": ("Compare", "比较"),
    "nav.playground": ("Playground", "推理试验"),
    "nav.api": ("API", "API"),
    "lang.switch": ("中文", "English"),
    "name": ("Name", "名称"),
    "title": ("Title", "标题"),
    "modality": ("Modality", "模态"),
    "classes": ("Classes", "类别"),
    "shape": ("Input shape", "输入形状"),
    "source": ("Source", "来源"),
    "license": ("Licence", "许可"),
    "files": ("Files", "文件"),
    "status": ("Status", "状态"),
    "model": ("Model", "模型"),
    "dataset": ("Dataset", "数据集"),
    "created": ("Created", "创建时间"),
    "started": ("Started", "开始时间"),
    "ended": ("Ended", "结束时间"),
    "params": ("Parameters", "参数量"),
    "family": ("Family", "系列"),
    "paper": ("Paper", "论文"),
    "actions": ("Actions", "操作"),
    "open": ("Open", "打开"),
    "download": ("Download from mirror", "从镜像下载"),
    "downloaded": ("files ready", "个文件已就绪"),
    "ready": ("ready", "已就绪"),
    "not_downloaded": ("not downloaded", "未下载"),
    "bundled": ("bundled (no download)", "内置（无需下载）"),
    "samples": ("Samples", "样本"),
    "class_balance": ("Class balance", "类别分布"),
    "split": ("Split", "划分"),
    "count": ("Count", "数量"),
    "datasets.intro": ("Registered datasets. Downloads come from the mirror (SHENDU_DATA_MIRROR) when set.",
                       "已注册的数据集。设置了镜像（SHENDU_DATA_MIRROR）时从镜像下载。"),
    "models.intro": ("The model zoo: parameter counts at each model's reference size.",
                     "模型库：各模型在参考输入尺寸下的参数量。"),
    "summary": ("Summary", "概要"),
    "layer": ("Layer", "层"),
    "output": ("Output shape", "输出形状"),
    "macs": ("Multiply-adds", "乘加次数"),
    "graph": ("Graph", "计算图"),
    "spec.editor": ("Net-spec editor", "网络描述编辑器"),
    "spec.intro": ("Write a net spec in YAML or JSON; it is checked as you type and drawn as a graph.",
                   "用 YAML 或 JSON 编写网络描述；输入时即时校验并绘制计算图。"),
    "spec.input": ("Input shape (C×H×W)", "输入形状（C×H×W）"),
    "spec.valid": ("Valid", "有效"),
    "spec.invalid": ("Invalid", "无效"),
    "spec.save": ("Save spec", "保存描述"),
    "spec.saved": ("Saved specs", "已保存的描述"),
    "spec.use": ("Train it", "训练它"),
    "job.new": ("New training job", "新建训练任务"),
    "job.intro": ("A form over the experiment config. Defaults are filled in; errors show next to their field.",
                  "实验配置表单。已填入默认值；错误显示在对应字段旁。"),
    "job.submit": ("Queue job", "加入队列"),
    "job.name": ("Job name", "任务名称"),
    "job.spec": ("Net spec (for net_spec)", "网络描述（用于 net_spec）"),
    "job.args": ("Model args (YAML)", "模型参数（YAML）"),
    "job.extra": ("More settings (key=value per line)", "更多设置（每行一个 key=value）"),
    "jobs.intro": ("The job queue. Jobs run in worker processes and survive a studio restart.",
                   "任务队列。任务在独立的工作进程中运行，工作室重启后不会丢失。"),
    "jobs.none": ("No jobs yet.", "还没有任务。"),
    "jobs.workers": ("parallel workers", "个并行工作进程"),
    "st.queued": ("queued", "排队中"),
    "st.running": ("running", "运行中"),
    "st.completed": ("completed", "已完成"),
    "st.failed": ("failed", "失败"),
    "st.stopped": ("stopped", "已停止"),
    "stop": ("Stop", "停止"),
    "resume": ("Resume", "继续"),
    "log": ("Log", "日志"),
    "error": ("Error", "错误"),
    "run": ("Run", "运行"),
    "live": ("Live training curves", "实时训练曲线"),
    "loss": ("Loss", "损失"),
    "accuracy": ("Accuracy", "准确率"),
    "epoch": ("epoch", "轮次"),
    "runs.intro": ("Runs in the run database. Tick several to compare them.", "运行数据库中的运行。勾选多个以比较。"),
    "runs.none": ("No runs yet.", "还没有运行记录。"),
    "runs.filter": ("Filter", "筛选"),
    "compare.title": ("Compare runs", "比较运行"),
    "compare.selected": ("Compare selected", "比较所选"),
    "compare.group_by": ("Group by", "分组依据"),
    "compare.groups": ("Groups (mean ± std of final values)", "分组（最终值的均值 ± 标准差）"),
    "compare.csv": ("Export CSV", "导出 CSV"),
    "compare.need": ("Select two or more runs on the runs page.", "请在运行页面选择两个或更多运行。"),
    "config_diff": ("Config keys that differ", "不同的配置项"),
    "metrics": ("Metrics", "指标"),
    "final": ("final", "最终"),
    "best": ("best", "最佳"),
    "config": ("Config", "配置"),
    "curves": ("Curves", "曲线"),
    "confusion": ("Confusion matrix", "混淆矩阵"),
    "filters": ("Conv filters", "卷积核"),
    "features": ("Feature maps", "特征图"),
    "gradcam": ("Grad-CAM", "Grad-CAM"),
    "misclassified": ("Misclassified examples", "分类错误的样本"),
    "true": ("true", "真实"),
    "predicted": ("predicted", "预测"),
    "package": ("Package", "模型包"),
    "no_package": ("This run has no model package (not completed).", "该运行没有模型包（未完成）。"),
    "try_it": ("Try it in the playground", "在推理试验中试用"),
    "playground.intro": ("Classify with a trained package: upload an image, draw a digit, or type a sentence.",
                         "用训练好的模型包分类：上传图片、手写数字或输入句子。"),
    "playground.package": ("Model package (from a completed run)", "模型包（来自已完成的运行）"),
    "playground.none": ("No completed run with a package yet — train one first.", "还没有带模型包的已完成运行——请先训练一个。"),
    "upload": ("Upload an image", "上传图片"),
    "draw": ("Draw a digit", "手写数字"),
    "clear": ("Clear", "清除"),
    "classify": ("Classify", "分类"),
    "sentence": ("Type a sentence", "输入句子"),
    "topk": ("Top classes", "最可能的类别"),
    "probability": ("Probability", "概率"),
    "label": ("Label", "标签"),
    "loading": ("Working…", "处理中…"),
    "token.missing": ("This studio needs its token: open the address printed at start-up (…?token=…), or send "
                      "'Authorization: Bearer <token>'.",
                      "此工作室需要令牌：请打开启动时打印的地址（…?token=…），或发送 'Authorization: Bearer <令牌>'。"),
    "token.wrong": ("Wrong token: use the token printed by `shendu studio` at start-up (or its --token).",
                    "令牌错误：请使用 `shendu studio` 启动时打印的令牌（或其 --token）。"),
}


def pick(value: str | None) -> str:
    """A supported language from a cookie or query value; the process default otherwise."""
    return value if value in LANGS else process_lang()


def words(language: str) -> dict[str, str]:
    """Every word of the catalog in `language` (templates read them as `w['nav.jobs']`)."""
    index = LANGS.index(language)
    return {key: pair[index] for key, pair in _WORDS.items()}


def both(key: str) -> str:
    """"English / 中文" for messages read before a language is known (API errors, the token page)."""
    en, zh = _WORDS[key]
    return f"{en} / {zh}"
