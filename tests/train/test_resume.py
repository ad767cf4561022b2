"""A run killed with SIGKILL mid-epoch and resumed ends exactly like the same seed uninterrupted."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

CONFIG = {"data": {"name": "digits"}, "model": {"name": "lenet5", "args": {"activation": "relu"}},
          "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "schedule": "cosine"},
          # batch_size 4 makes an epoch last long enough to be killed in the middle of one
          "train": {"epochs": 5, "batch_size": 4, "seed": 3}}


def _cli(home: Path, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "SHENDU_HOME": str(home), "SHENDU_LANG": "en"}
    return subprocess.Popen([sys.executable, "-m", "shendu.cli", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _last_json(proc: subprocess.Popen) -> dict:
    return _finish(proc)[0]


def _finish(proc: subprocess.Popen) -> tuple[dict, str]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1]), err


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    reference = _last_json(_cli(tmp_path / "ref", "train", str(config), "--json"))

    home = tmp_path / "killed"
    proc = _cli(home, "train", str(config), "--json")
    checkpoints = home / "runs"
    deadline = time.time() + 300
    while time.time() < deadline and not list(checkpoints.glob("*/checkpoint.pt")):
        time.sleep(0.05)
    time.sleep(0.5)  # into epoch 2 (each epoch of 360 steps lasts well over a second)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    run_id = next(checkpoints.glob("*/checkpoint.pt")).parent.name

    from shendu.train._checkpoint import load_checkpoint

    saved_epoch = load_checkpoint(home / "runs" / run_id / "checkpoint.pt")["epoch"]
    assert 1 <= saved_epoch < CONFIG["train"]["epochs"]
    resumed, err = _finish(_cli(home, "train", "--resume", run_id, "--json"))
    assert f"resuming {run_id} after epoch {saved_epoch}" in err
    assert resumed["run_id"] == run_id and resumed["status"] == "completed"
    assert abs(resumed["metrics"]["test_accuracy"] - reference["metrics"]["test_accuracy"]) <= 0.001

    listing = _last_json(_cli(home, "runs", "list", "--json"))
    assert [(r["id"], r["status"]) for r in listing["runs"]] == [(run_id, "completed")]
    shown = _last_json(_cli(home, "runs", "show", run_id, "--json"))
    assert shown["summary"]["test_accuracy"]["final"] == resumed["metrics"]["test_accuracy"]

    from shendu.track import RunStore

    history = RunStore(f"sqlite:///{home / 'shendu.db'}").metric_history(run_id, "val_accuracy")
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5]  # nothing logged twice
