"""Posts and the parsing of input lines into posts: JSON Lines and CSV, one bad line never costs a good one.

A post has `text`, `time`, `source` and optionally `author`, `location` and a supplied `id`. Its key —
sha256 of the supplied id (with the source), else of source + time + text — is what makes storing it
idempotent: the same line read twice (a crash and a re-read, a file ingested again) is the same row.

Lines are read as bytes and decoded strictly as UTF-8 one at a time, so a GBK-encoded line (or any other
non-UTF-8 bytes) is one `Reject` with its position, and the lines around it are still read. Every
problem a line can have — bad encoding, bad JSON, not an object, no text, a bad time — is a `Reject`
with a short reason code (counted in reports) and a message saying what was expected.
"""
from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from shendu.opinion._schema import SOURCE_LEN

FIELDS = ("text", "time", "source", "author", "location", "id")
FORMATS = ("jsonl", "csv")
MAX_TEXT = 20_000  # characters; a longer "post" is a file read with the wrong format, not a post
_EPOCH_MS = 10**11  # a number above this is taken as milliseconds (1e11 s is the year 5138)
_YEARS = (1970, 2200)


@dataclass(frozen=True)
class Post:
    """One post, ready to store. `time` is timezone-aware UTC; `key` identifies it for idempotent storage."""

    text: str
    time: datetime
    source: str
    key: str
    author: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class Reject:
    """A line that is not a post: `reason` is a short code (encoding, json, not_object, missing_text, bad_time,
    bad_field, csv), `message` says what was expected, `position` where it was ("line 7")."""

    reason: str
    message: str
    position: str
    excerpt: str


class Malformed(ValueError):
    """A record that cannot be a post (raised by `post_from_record`, turned into a `Reject` by readers)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RecordDefaults:
    """What a record without the field gets: `source` (the file name, "stdin", "http"), the timezone of
    times written without one (default UTC), and the time of a post without a time: `received` if given,
    else the moment it is read."""

    source: str
    tz: tzinfo = timezone.utc
    received_at: datetime | None = None

    @property
    def received(self) -> datetime:
        return self.received_at or datetime.now(timezone.utc)


def post_key(source: str, text: str, time: datetime | None, supplied_id: str | None = None) -> str:
    """The idempotency key: sha256 of (source, supplied id) when an id is given, else of (source, time, text).

    A post without a time keys on its text alone (with the source), so re-reading it later is still the
    same post even though it is stored with the time it was first received.
    """
    if supplied_id is not None:
        material = f"id\x00{source}\x00{supplied_id}"
    else:
        when = time.astimezone(timezone.utc).isoformat() if time is not None else ""
        material = f"post\x00{source}\x00{when}\x00{text}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def parse_time(value: Any, tz: tzinfo = timezone.utc) -> datetime:
    """A post time as aware UTC: ISO 8601 ("2026-01-02T08:00:00+08:00", "…Z", "2026-01-02 08:00"), or Unix
    seconds / milliseconds (number or digits). Times without a zone are taken in `tz`.

    Raises:
        Malformed: anything else (reason "bad_time"), with what was received.
    """
    if isinstance(value, bool) or value is None:
        raise Malformed("bad_time", f"time {value!r} is not a time (expected ISO 8601 or Unix seconds)")
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        value = float(value.strip())
    if isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) >= _EPOCH_MS else value
        try:
            parsed = datetime.fromtimestamp(seconds, timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise Malformed("bad_time", f"time {value!r} is out of range as Unix seconds") from None
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("/", "-"))
        except ValueError:
            raise Malformed("bad_time", f"time {value[:40]!r} is not ISO 8601 (expected e.g. "
                                        "'2026-01-02T08:00:00+08:00', '2026-01-02 08:00' or Unix seconds)") from None
        parsed = parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed
    else:
        raise Malformed("bad_time", f"time of type {type(value).__name__} (expected a string or a number)")
    parsed = parsed.astimezone(timezone.utc)
    if not _YEARS[0] <= parsed.year < _YEARS[1]:
        raise Malformed("bad_time", f"time {parsed.isoformat()} is outside {_YEARS[0]}–{_YEARS[1]}")
    return parsed


def post_from_record(record: Mapping[str, Any], defaults: RecordDefaults) -> Post:
    """The post a JSON object or CSV row describes.

    Raises:
        Malformed: no usable text, a bad time, or a field of the wrong type.
    """
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        got = "no 'text' field" if text is None else f"'text' = {text!r:.40}"
        raise Malformed("missing_text", f"{got} (expected a non-empty string; fields: {', '.join(FIELDS)})")
    text = text.strip().lstrip("\ufeff")
    if len(text) > MAX_TEXT:
        raise Malformed("bad_field", f"text of {len(text):,} characters (at most {MAX_TEXT:,}; is the format right?)")
    raw_time = record.get("time")
    has_time = raw_time not in (None, "")
    time = parse_time(raw_time, defaults.tz) if has_time else defaults.received
    source = _short(record.get("source"), "source") or defaults.source
    supplied = record.get("id")
    if isinstance(supplied, (dict, list, bool)):
        raise Malformed("bad_field", f"id {supplied!r:.40} (expected a string or a number)")
    supplied_id = None if supplied in (None, "") else str(supplied)
    key = post_key(source, text, time if has_time else None, supplied_id)
    return Post(text=text, time=time, source=source, key=key, author=_short(record.get("author"), "author"),
                location=_short(record.get("location"), "location"))


def _short(value: Any, name: str) -> str | None:
    """An optional short field as a string (numbers accepted), cut to the column width."""
    if value is None or value == "":
        return None
    if isinstance(value, (dict, list, bool)):
        raise Malformed("bad_field", f"{name} {value!r:.40} (expected a string)")
    return str(value).strip()[:SOURCE_LEN] or None


# -- readers: (end offset, Post | Reject) for every record ----------------------------------------------
@dataclass
class Line:
    """One physical line: its bytes (newline included when present), the byte offset just after it and its
    number counted from where reading started."""

    data: bytes
    end: int
    number: int

    @property
    def position(self) -> str:
        """Where the line is, for messages: "line 7 (byte 120)"."""
        return f"line {self.number} (byte {self.end - len(self.data)})"


def split_lines(chunks: Iterable[bytes], start: int = 0, *, complete_only: bool = False) -> Iterator[Line]:
    """Lines of a byte stream read in chunks. With `complete_only` a last line without its newline is held
    back (a file being appended to: the writer has not finished it)."""
    pending, offset, number = b"", start, 0
    for chunk in chunks:
        pending += chunk
        *whole, pending = pending.split(b"\n")
        for data in whole:
            offset += len(data) + 1
            number += 1
            yield Line(data + b"\n", offset, number)
    if pending and not complete_only:
        yield Line(pending, offset + len(pending), number + 1)


def decode(line: Line, first: bool) -> str:
    """The line as text (strict UTF-8; a BOM on the first line dropped), or Malformed("encoding")."""
    try:
        text = line.data.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed("encoding", f"not UTF-8 at byte {exc.start} of the line (GBK or another encoding?); "
                                    "re-encode the file as UTF-8") from None
    return text.rstrip("\r\n")


def excerpt(line: Line) -> str:
    """The first characters of a line for the reject log (undecodable bytes shown as escapes)."""
    return line.data[:200].decode("utf-8", "backslashreplace").rstrip("\r\n")


def read_jsonl(lines: Iterable[Line], defaults: RecordDefaults) -> Iterator[tuple[int, Post | Reject | None]]:
    """Posts of JSON Lines, one object per line. Blank lines give None (skipped, not malformed)."""
    for line in lines:
        try:
            text = decode(line, line.number == 1)
            if not text.strip():
                yield line.end, None
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise Malformed("json", f"bad JSON ({exc.msg} at column {exc.colno}); expected one object per "
                                        "line like {\"text\": \"…\", \"time\": \"…\", \"source\": \"…\"}") from None
            if not isinstance(record, dict):
                raise Malformed("not_object", f"a JSON {type(record).__name__}, expected an object with 'text'")
            yield line.end, post_from_record(record, defaults)
        except Malformed as exc:
            yield line.end, Reject(exc.reason, str(exc), line.position, excerpt(line))


class _CsvFeed:
    """Decoded lines for `csv.reader`, remembering where the last line it handed over ends; undecodable
    lines become rejects on the side (the csv module never sees them)."""

    def __init__(self, lines: Iterable[Line]) -> None:
        self._lines = iter(lines)
        self.end = 0
        self.position = "line 0"
        self.exhausted = False
        self.rejects: list[tuple[int, Reject]] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while True:
            line = next(self._lines, None)
            if line is None:
                self.exhausted = True
                raise StopIteration
            self.end, self.position = line.end, line.position
            try:
                return decode(line, line.number == 1) + "\n"
            except Malformed as exc:
                self.rejects.append((line.end, Reject(exc.reason, str(exc), line.position, excerpt(line))))


def read_csv(lines: Iterable[Line], defaults: RecordDefaults, header: list[str] | None = None,
             *, complete_only: bool = False) -> Iterator[tuple[int, Post | Reject | None]]:
    """Posts of a CSV file with a header row naming the columns (text, time, source, author, location, id).

    Args:
        lines: the file's lines from where reading starts.
        defaults: source, timezone and time for records that lack them.
        header: the column names when reading starts after the header (a followed file); None reads it.
        complete_only: stop before a record whose closing quote has not been written yet (its offset is not
            passed, so the next read starts at it).
    """
    feed = _CsvFeed(lines)
    reader = csv.reader(feed, strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if feed.exhausted and complete_only:
                return  # an unterminated quoted field at the end of what has been written: read it next time
            yield from _flush(feed)
            yield feed.end, Reject("csv", f"bad CSV ({exc}); quote fields that contain commas or newlines",
                                   feed.position, "")
            continue
        yield from _flush(feed)
        if header is None:
            header = [name.strip().lower() for name in row]
            if "text" not in header:
                yield feed.end, Reject("csv", f"CSV header {row[:8]} has no 'text' column (expected a header row "
                                              f"naming {', '.join(FIELDS)})", "line 1", ",".join(row)[:200])
                return
            yield feed.end, None
            continue
        yield feed.end, _csv_post(row, header, defaults, feed.position)
    yield from _flush(feed)


def _flush(feed: _CsvFeed) -> Iterator[tuple[int, Reject]]:
    while feed.rejects:
        yield feed.rejects.pop(0)


def _csv_post(row: list[str], header: list[str], defaults: RecordDefaults, position: str) -> Post | Reject | None:
    if not any(cell.strip() for cell in row):
        return None
    if len(row) != len(header):
        return Reject("csv", f"{len(row)} fields, the header has {len(header)} (quote fields that contain commas)",
                      position, ",".join(row)[:200])
    try:
        return post_from_record(dict(zip(header, row)), defaults)
    except Malformed as exc:
        return Reject(exc.reason, str(exc), position, ",".join(row)[:200])


def format_of(name: str, fmt: str = "auto") -> str:
    """The input format: `fmt` when given, else from the file name (.jsonl/.ndjson/.json → jsonl, .csv → csv)."""
    if fmt != "auto":
        if fmt not in FORMATS:
            raise ValueError(f"unknown input format {fmt!r} (valid: auto, {', '.join(FORMATS)})")
        return fmt
    lowered = name.lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    raise ValueError(f"cannot tell the format of {name!r} from its name (expected .jsonl, .ndjson, .json or .csv); "
                     "pass --format jsonl|csv")


def window_floor(time: datetime, width: timedelta) -> datetime:
    """The start of the `width`-long window holding `time`, windows aligned to the Unix epoch (UTC)."""
    seconds = int(width.total_seconds())
    stamp = int(time.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, timezone.utc)
