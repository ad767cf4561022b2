"""`shendu opinion …` end to end through the CLI, and a real crash: `watch` killed with SIGKILL mid-file, restarted,
ends with every post exactly once."""
from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from shendu.cli import main
from shendu.opinion._corpora import Review
from tests.opinion.conftest import write_jsonl

BASE = datetime(2026, 6, 1, tzinfo=timezone.utc)


def _json_tail(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _records(reviews: list[Review], n: int) -> list[dict]:
    return [{"text": r.text, "time": (BASE + timedelta(seconds=20 * i)).isoformat(), "source": "cli"}
            for i, r in enumerate(reviews[:n])]


def test_ingest_analyze_report_and_watch(tmp_path: Path, shendu_home: Path, scorer_dir: Path, held_out: list[Review],
                                        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_jsonl(tmp_path / "posts.jsonl", _records(held_out, 150))
    with path.open("ab") as stream:
        stream.write(b'{"text": 1}\n')
    assert main(["opinion", "ingest", str(path), "--json"]) == 0
    assert _json_tail(capsys) | {"examples": []} == {"read": 151, "stored": 150, "duplicates": 0, "rejected": 1,
                                                      "malformed": {"missing_text": 1}, "examples": []}

    stdin = io.TextIOWrapper(io.BytesIO(json.dumps({"text": "从标准输入来的帖子", "time": BASE.isoformat()},
                                                   ensure_ascii=False).encode() + b"\n"))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["opinion", "ingest", "-", "--json"]) == 0 and _json_tail(capsys)["stored"] == 1

    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {name: touchy, metric: negative_share, threshold: 0.1, window: 10m, min_posts: 10}\n",
                     encoding="utf-8")
    assert main(["opinion", "analyze", "--scorer", str(scorer_dir), "--rules", str(rules), "--json"]) == 0
    analysed = _json_tail(capsys)
    assert analysed["analysed"] == 151 and analysed["posts_per_second"] > 0 and analysed["alerts"]
    log = (shendu_home / "logs" / "opinion.log").read_text(encoding="utf-8")
    assert log.count("ALERT [touchy]") == len(analysed["alerts"])  # every alert reached the log file

    html = tmp_path / "report.html"
    until = (BASE + timedelta(hours=1)).isoformat()
    assert main(["opinion", "report", "--since", "1h", "--until", until, "--window", "10m", "--html", str(html),
                 "--json"]) == 0
    report = _json_tail(capsys)
    assert report["posts"] == 151 and len(report["windows"]) == 6 and html.is_file()
    assert main(["opinion", "report", "--since", "1h", "--until", until]) == 0
    printed = capsys.readouterr().out
    assert "Posts / 帖子: 151" in printed and "HTML report / HTML 报告" in printed

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_jsonl(inbox / "more.jsonl", _records(held_out[200:], 20))
    assert main(["opinion", "watch", str(inbox), "--once", "--scorer", str(scorer_dir), "--json"]) == 0
    watched = _json_tail(capsys)
    assert (watched["stored"], watched["analysed"], watched["polls"]) == (20, 20, 1)


def test_errors_say_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["opinion", "analyze"]) == 2
    assert "shendu opinion train" in capsys.readouterr().err
    assert main(["opinion", "ingest", str(tmp_path / "missing.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["opinion", "report", "--since", "yesterday"]) == 2
    assert "neither a duration" in capsys.readouterr().err
    assert main(["opinion", "ingest", "x.jsonl", "--tz", "Mars/Olympus"]) == 2
    assert "unknown timezone" in capsys.readouterr().err


def test_watch_killed_mid_file_and_restarted_stores_every_post_once(tmp_path: Path, shendu_home: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    total = 30_000
    lines = (json.dumps({"text": f"第{i}条：房间干净，服务很好", "time": 1780000000 + i}, ensure_ascii=False)
             for i in range(total))
    (inbox / "big.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "shendu", "opinion", "watch", str(inbox), "--no-analyze", "--interval", "0.05"]
    env = {**os.environ, "SHENDU_HOME": str(shendu_home)}
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    database = shendu_home / "shendu.db"
    stored = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        stored = _stored(database)
        if stored > 0:
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)  # no clean-up of any kind
    child.wait(timeout=30)
    at_kill = _stored(database)
    assert 0 < at_kill < total, f"the kill should land mid-file (stored {at_kill} of {total})"

    again = subprocess.run(command + ["--once", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["stored"] == total - at_kill
    with sqlite3.connect(database) as raw:
        count, distinct = raw.execute("SELECT count(*), count(DISTINCT text) FROM opinion_posts").fetchone()
    assert count == distinct == total


def _stored(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as raw:
            return raw.execute("SELECT count(*) FROM opinion_posts").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is still being created
        return 0


@pytest.mark.slow  # a fresh process importing torch and uvicorn: ~10 s quiet, 40 s on a loaded machine
def test_serve_command_ingests_over_http(tmp_path: Path, shendu_home: Path) -> None:
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "shendu", "opinion", "serve", "--port", str(port), "--no-analyze",
               "--log-level", "warning"]
    child = subprocess.Popen(command, env={**os.environ, "SHENDU_HOME": str(shendu_home)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline, health = time.monotonic() + 120, None
        while health is None and time.monotonic() < deadline and child.poll() is None:
            try:
                health = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2))
            except OSError:
                time.sleep(0.2)
        assert health == {"status": "ok", "posts": {"stored": 0, "analysed": 0, "pending": 0}}, child.poll()
        body = json.dumps([{"text": "服务很好", "time": BASE.isoformat()}, {"text": ""}], ensure_ascii=False).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/posts", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        answer = json.load(urllib.request.urlopen(request, timeout=10))
        assert (answer["stored"], answer["rejected"]) == (1, 1)
    finally:
        child.send_signal(signal.SIGINT)
        child.wait(timeout=30)
