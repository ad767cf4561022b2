"""Parsing input lines into posts: times, keys, JSON Lines and CSV — every malformed line is one reject with its
position and reason, and the good lines around it are all kept."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from shendu.opinion._posts import (Malformed, Post, RecordDefaults, Reject, parse_time, post_from_record, post_key,
                                   read_csv, read_jsonl, split_lines, window_floor)

UTC = timezone.utc
DEFAULTS = RecordDefaults("test", received_at=datetime(2026, 3, 1, tzinfo=UTC))


def _lines(data: bytes, complete_only: bool = False):
    return list(split_lines([data[:7], data[7:]], complete_only=complete_only))  # two chunks: a line spans them


@pytest.mark.parametrize("value, expected", [
    ("2026-01-02T08:00:00+08:00", datetime(2026, 1, 2, 0, 0, tzinfo=UTC)),
    ("2026-01-02T00:00:00Z", datetime(2026, 1, 2, 0, 0, tzinfo=UTC)),
    ("2026/01/02 08:30", datetime(2026, 1, 2, 8, 30, tzinfo=UTC)),
    (1767312000, datetime(2026, 1, 2, tzinfo=UTC)),
    (1767312000500, datetime(2026, 1, 2, 0, 0, 0, 500000, tzinfo=UTC)),  # milliseconds
    ("1767312000", datetime(2026, 1, 2, tzinfo=UTC)),
])
def test_times_in_every_accepted_form_become_aware_utc(value: object, expected: datetime) -> None:
    assert parse_time(value) == expected


def test_a_time_without_zone_is_read_in_the_given_zone() -> None:
    assert parse_time("2026-01-02 08:00", ZoneInfo("Asia/Shanghai")) == datetime(2026, 1, 2, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["yesterday", "2026-13-40", True, None, [2026], "1e400", -10**13])
def test_bad_times_are_malformed_with_the_reason(value: object) -> None:
    with pytest.raises(Malformed) as caught:
        parse_time(value)
    assert caught.value.reason == "bad_time"


def test_the_key_identifies_a_post_whatever_the_time_spelling() -> None:
    a = post_from_record({"text": "房间很干净", "time": "2026-01-02T08:00:00+08:00", "source": "weibo"}, DEFAULTS)
    b = post_from_record({"text": " 房间很干净 ", "time": 1767312000, "source": "weibo"}, DEFAULTS)
    other_source = post_from_record({"text": "房间很干净", "time": 1767312000, "source": "tieba"}, DEFAULTS)
    with_id = post_from_record({"text": "edited text", "id": 17, "source": "weibo"}, DEFAULTS)
    assert a.key == b.key != other_source.key
    assert with_id.key == post_key("weibo", "anything", None, "17")  # a supplied id wins over text and time
    assert (a.author, a.location, a.source, a.time) == (None, None, "weibo", datetime(2026, 1, 2, tzinfo=UTC))


def test_a_post_without_time_gets_the_receive_time_but_keys_on_its_text() -> None:
    early = post_from_record({"text": "没有时间"}, RecordDefaults("s", received_at=datetime(2026, 1, 1, tzinfo=UTC)))
    late = post_from_record({"text": "没有时间"}, RecordDefaults("s", received_at=datetime(2026, 2, 1, tzinfo=UTC)))
    assert early.time != late.time and early.key == late.key  # re-read later: still the same post


def test_jsonl_malformed_lines_are_rejected_one_by_one_and_good_lines_kept() -> None:
    good = [{"text": f"第{i}条评论，服务很好", "time": 1767312000 + i, "source": "s"} for i in range(4)]
    data = b"".join([
        json.dumps(good[0], ensure_ascii=False).encode() + b"\n",
        b'{"text": "unterminated\n',                                               # bad JSON
        json.dumps(good[1], ensure_ascii=False).encode() + b"\n",
        json.dumps({"text": "酒店很差", "time": 1}, ensure_ascii=False).encode("gbk") + b"\n",  # GBK bytes
        b'{"time": "2026-01-02", "source": "s"}\n',                                # missing text
        json.dumps(good[2], ensure_ascii=False).encode() + b"\n",
        b"\n",                                                                      # blank: skipped, not malformed
        b'["a", "list"]\n',                                                         # not an object
        b'{"text": "bad time", "time": "next tuesday"}\n',                          # bad time
        json.dumps(good[3], ensure_ascii=False).encode(),                           # last line without newline
    ])
    items = [item for _, item in read_jsonl(_lines(data), DEFAULTS) if item is not None]
    posts = [i for i in items if isinstance(i, Post)]
    rejects = [i for i in items if isinstance(i, Reject)]
    assert [p.text for p in posts] == [g["text"] for g in good]
    assert [r.reason for r in rejects] == ["json", "encoding", "missing_text", "not_object", "bad_time"]
    assert [r.position.split(" (")[0] for r in rejects] == ["line 2", "line 4", "line 5", "line 8", "line 9"]
    assert "GBK" in rejects[1].message and "\\x" in rejects[1].excerpt  # undecodable bytes shown, not lost


def test_jsonl_offsets_end_each_line_and_a_partial_last_line_waits_when_following() -> None:
    data = b'{"text": "one"}\n{"text": "two"}\n{"text": "thr'
    ends = [end for end, _ in read_jsonl(_lines(data, complete_only=True), DEFAULTS)]
    assert ends == [16, 32]  # the unfinished third line is left for the next read


def test_csv_quoted_newlines_gbk_lines_and_wrong_field_counts() -> None:
    data = ("text,time,source,author\n"
            '"第一条,有逗号",2026-01-02T00:00:00Z,weibo,甲\n'
            '"跨行的\n评论",2026-01-02T00:01:00Z,weibo,乙\n').encode() + \
        "坏行,2026-01-02T00:02:00Z,weibo,丙\n".encode("gbk") + \
        ("too,many,fields,here,extra\n"
         ",2026-01-02T00:03:00Z,weibo,丁\n"
         "最后一条,2026-01-02T00:04:00Z,,戊\n").encode()
    items = [item for _, item in read_csv(_lines(data), DEFAULTS) if item is not None]
    posts = [i for i in items if isinstance(i, Post)]
    rejects = [i for i in items if isinstance(i, Reject)]
    assert [p.text for p in posts] == ["第一条,有逗号", "跨行的\n评论", "最后一条"]
    assert [p.author for p in posts] == ["甲", "乙", "戊"]
    assert posts[2].source == "test"  # empty source → the default
    assert sorted(r.reason for r in rejects) == ["csv", "encoding", "missing_text"]


def test_csv_without_a_text_column_is_one_reject_naming_the_columns() -> None:
    items = [i for _, i in read_csv(_lines(b"review,label\nhello,1\n"), DEFAULTS) if i is not None]
    assert len(items) == 1 and isinstance(items[0], Reject) and "no 'text' column" in items[0].message


def test_csv_record_with_its_closing_quote_not_written_yet_waits_when_following() -> None:
    data = 'text,time\n"完整",1767312000\n"还没写完\n'.encode()
    read = list(read_csv(_lines(data, complete_only=True), DEFAULTS, complete_only=True))
    assert [type(i).__name__ for _, i in read] == ["NoneType", "Post"]
    assert read[-1][0] == len('text,time\n"完整",1767312000\n'.encode())  # resume at the unfinished record


def test_window_floor_aligns_to_the_epoch() -> None:
    at = datetime(2026, 1, 2, 12, 27, 41, tzinfo=UTC)
    assert window_floor(at, timedelta(minutes=10)) == datetime(2026, 1, 2, 12, 20, tzinfo=UTC)
    assert window_floor(at, timedelta(minutes=1)) == datetime(2026, 1, 2, 12, 27, tzinfo=UTC)
