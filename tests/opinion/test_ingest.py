"""Storing posts: malformed lines counted and recorded without losing good ones, idempotent re-ingest after a
crash, stdin, and following a directory of growing files (partial lines, CSV headers, truncation)."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shendu.errors import BadInputError
from shendu.opinion import DirectoryFollower, OpinionStore, ingest_file, ingest_stream
from shendu.opinion._schema import PostRow, RejectRow
from tests.opinion.conftest import write_jsonl


def _texts(store: OpinionStore) -> list[str]:
    with store._reader.connect() as connection:
        return list(connection.execute(select(PostRow.text).order_by(PostRow.seq)).scalars())


def _count(store: OpinionStore, column) -> int:
    with store._reader.connect() as connection:
        return connection.execute(select(func.count(column))).scalar_one()


def _records(n: int, start: int = 0) -> list[dict]:
    return [{"text": f"评论{i}：房间干净，早餐不错", "time": 1767312000 + 60 * i, "source": "ctrip", "author": f"u{i}"}
            for i in range(start, start + n)]


def test_malformed_lines_are_counted_recorded_and_never_cost_a_good_line(store: OpinionStore, tmp_path: Path) -> None:
    good = _records(6)
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in good]
    lines.insert(1, b"{not json")
    lines.insert(3, json.dumps({"text": "服务太差了", "time": 1767312000}, ensure_ascii=False).encode("gbk"))
    lines.insert(5, b'{"time": 1767312000}')
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    report = ingest_file(store, path, batch_size=2)  # small batches: malformed lines fall inside and between them
    assert (report.read, report.stored, report.duplicates) == (9, 6, 0)
    assert dict(report.malformed) == {"json": 1, "encoding": 1, "missing_text": 1}
    assert _texts(store) == [r["text"] for r in good]
    assert _count(store, RejectRow.key) == 3
    assert any("GBK" in example for example in report.examples)


def test_reingest_after_a_crash_neither_duplicates_nor_loses_a_post(store: OpinionStore, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_jsonl(tmp_path / "stream.jsonl", _records(250))
    calls = {"n": 0}
    real = store.add_posts

    def crash_on_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash (process killed mid-ingest)")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "add_posts", crash_on_third_batch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest_file(store, path, batch_size=100)
    assert len(_texts(store)) == 200  # two batches committed, the third rolled back
    monkeypatch.setattr(store, "add_posts", real)

    again = ingest_file(store, path, batch_size=100)
    assert (again.stored, again.duplicates) == (50, 200)
    texts = _texts(store)
    assert len(texts) == len(set(texts)) == 250


def test_stdin_stream_and_csv_files(store: OpinionStore, tmp_path: Path) -> None:
    stdin = io.BytesIO("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _records(3)).encode())
    assert ingest_stream(store, stdin).stored == 3
    csv_file = tmp_path / "posts.csv"
    csv_file.write_text("text,time,source\n好评,2026-01-02 08:00,jd\n差评,2026-01-02 08:01,jd\n", encoding="utf-8")
    assert ingest_file(store, csv_file).stored == 2
    assert _texts(store)[-2:] == ["好评", "差评"]


def test_unknown_extension_and_missing_file_say_what_to_do(store: OpinionStore, tmp_path: Path) -> None:
    (tmp_path / "posts.txt").write_text("{}", encoding="utf-8")
    with pytest.raises(BadInputError, match="--format jsonl"):
        ingest_file(store, tmp_path / "posts.txt")
    with pytest.raises(BadInputError, match="does not exist"):
        ingest_file(store, tmp_path / "nope.jsonl")


def test_following_a_directory_reads_only_new_complete_lines(store: OpinionStore, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    follower = DirectoryFollower(store, inbox)
    feed = inbox / "weibo.jsonl"
    first = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _records(3))
    partial = json.dumps(_records(1, start=3)[0], ensure_ascii=False)
    feed.write_text(first + partial[:10], encoding="utf-8")  # the writer is mid-line

    assert follower.poll().stored == 3
    assert follower.poll().read == 0  # nothing new: the half line is not read
    with feed.open("a", encoding="utf-8") as stream:
        stream.write(partial[10:] + "\n" + "{broken\n")
    report = follower.poll()
    assert (report.stored, report.rejected) == (1, 1)

    csv_feed = inbox / "tieba.csv"
    csv_feed.write_text("text,time,source\n第一帖,2026-01-02T00:00:00Z,tieba\n", encoding="utf-8")
    assert follower.poll().stored == 1
    with csv_feed.open("a", encoding="utf-8") as stream:
        stream.write("第二帖,2026-01-02T00:01:00Z,tieba\n")
    assert follower.poll().stored == 1  # the header is remembered, not read as a post

    # A new follower (a restarted process) continues from the offsets in the database.
    again = DirectoryFollower(store, inbox)
    assert again.poll().read == 0
    assert len(_texts(store)) == 6


def test_a_truncated_or_replaced_file_is_read_again_without_duplicates(store: OpinionStore, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    feed = write_jsonl(inbox / "feed.jsonl", _records(4))
    follower = DirectoryFollower(store, inbox)
    assert follower.poll().stored == 4
    write_jsonl(inbox / "rotated.tmp", _records(2, start=3))  # log rotation: a new file under the old name
    os.replace(inbox / "rotated.tmp", feed)
    report = follower.poll()
    assert (report.read, report.stored, report.duplicates) == (2, 1, 1)
    assert len(_texts(store)) == 5
