"""`shendu studio`: the browser workbench (the DIGITS role, PyTorch-native) — datasets, models and net specs,
training jobs with live charts, runs, comparison and an inference playground. See docs/studio.md."""
from shendu.studio._app import create_app, serve
from shendu.studio._jobs import Job, JobQueue

__all__ = ["Job", "JobQueue", "create_app", "serve"]
