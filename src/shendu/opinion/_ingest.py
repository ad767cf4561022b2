"""Getting posts into the run database: files, stdin and directories being appended to.

Everything goes through `ingest_lines`: parse (JSON Lines or CSV), then store in batches with
`OpinionStore.add_posts` — posts, rejected lines and (for followed files) the byte offset reached, in
one transaction. A crash loses at most the batch in flight, and reading it again stores only what is
missing (post keys are unique), so delivery is at least once and storage exactly once.

`DirectoryFollower` remembers per file how far it has read (and the file's inode: a file replaced or
truncated is read again from the start — keys make that harmless) and only ever reads complete lines,
so a line the writer is still writing is picked up whole on a later poll.
"""
from __future__ import annotations

import csv
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from pathlib import Path
from typing import Any, BinaryIO

from shendu.errors import BadInputError
from shendu.opinion._posts import (Line, Post, RecordDefaults, Reject, format_of, read_csv, read_jsonl,
                                   split_lines)
from shendu.opinion._store import OpinionStore

log = logging.getLogger("shendu.opinion")
PATTERNS = ("*.jsonl", "*.ndjson", "*.json", "*.csv")
_CHUNK = 1 << 20
_EXAMPLES = 10


@dataclass
class IngestReport:
    """What an ingest read: records, posts newly stored, duplicates skipped, malformed lines by reason."""

    read: int = 0
    stored: int = 0
    duplicates: int = 0
    malformed: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        """Malformed lines in all."""
        return sum(self.malformed.values())

    def add(self, other: IngestReport) -> None:
        """Fold another report into this one."""
        self.read += other.read
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.malformed.update(other.malformed)
        self.examples.extend(other.examples[:max(_EXAMPLES - len(self.examples), 0)])

    def reject(self, origin: str, item: Reject) -> None:
        """Count one malformed line (and keep the first few as examples)."""
        self.malformed[item.reason] += 1
        if len(self.examples) < _EXAMPLES:
            self.examples.append(f"{origin} {item.position}: {item.message}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the CLI's --json)."""
        return {"read": self.read, "stored": self.stored, "duplicates": self.duplicates, "rejected": self.rejected,
                "malformed": dict(self.malformed), "examples": list(self.examples)}

    def summary(self) -> str:
        """One bilingual line."""
        bad = ", ".join(f"{reason} {n}" for reason, n in sorted(self.malformed.items())) or "0"
        return (f"read {self.read:,} · stored {self.stored:,} new · {self.duplicates:,} duplicates · malformed {bad}"
                f" / 读取 {self.read:,} 条 · 新存 {self.stored:,} 条 · 重复 {self.duplicates:,} 条 · 格式错误 {self.rejected:,} 条")


def ingest_lines(store: OpinionStore, lines: Iterable[Line], fmt: str, defaults: RecordDefaults, origin: str, *,
                 header: list[str] | None = None, follow: tuple[str, int | None] | None = None,
                 batch_size: int = 1000) -> IngestReport:
    """Parse and store lines in batches.

    Args:
        store: where posts go.
        lines: the input's lines.
        fmt: "jsonl" or "csv".
        defaults: source / timezone / time for records without them.
        origin: the input's name in reject records and messages (a path, "stdin", "http").
        header: CSV column names when reading starts after the header.
        follow: (path, inode) of a followed file: complete records only, and the offset reached is saved
            with every batch.
        batch_size: records per transaction.
    """
    complete_only = follow is not None
    if fmt == "csv":
        records = read_csv(lines, defaults, header, complete_only=complete_only)
    else:
        records = read_jsonl(lines, defaults)
    report = IngestReport()
    posts: list[Post] = []
    rejects: list[tuple[str, Reject]] = []
    reached = None

    def flush() -> None:
        offset = (follow[0], reached, follow[1]) if follow is not None and reached is not None else None
        if posts or rejects or offset:
            new = store.add_posts(posts, rejects, offset)
            report.stored += new
            report.duplicates += len(posts) - new
        posts.clear()
        rejects.clear()

    for end, item in records:
        reached = end
        if isinstance(item, Post):
            report.read += 1
            posts.append(item)
        elif isinstance(item, Reject):
            report.read += 1
            report.reject(origin, item)
            rejects.append((origin, item))
        if len(posts) + len(rejects) >= batch_size:
            flush()
    flush()
    return report


def ingest_stream(store: OpinionStore, stream: BinaryIO, fmt: str = "jsonl", *, source: str = "stdin",
                  origin: str | None = None, tz: tzinfo | None = None, batch_size: int = 1000) -> IngestReport:
    """Ingest a binary stream (stdin, an open file) to its end."""
    if fmt not in ("jsonl", "csv"):
        raise BadInputError(f"input format {fmt!r} is unknown for a stream (expected jsonl or csv)")
    defaults = RecordDefaults(source, tz or timezone.utc)
    chunks = iter(lambda: stream.read1(_CHUNK) if hasattr(stream, "read1") else stream.read(_CHUNK), b"")
    return ingest_lines(store, split_lines(chunks), fmt, defaults, origin or source, batch_size=batch_size)


def ingest_file(store: OpinionStore, path: str | os.PathLike, fmt: str = "auto", *, source: str | None = None,
                tz: tzinfo | None = None, batch_size: int = 1000) -> IngestReport:
    """Ingest a whole JSONL or CSV file (again: posts already stored are skipped by key).

    Args:
        source: the source of posts without one (default: the file name).
    """
    file = Path(path)
    if not file.is_file():
        raise BadInputError(f"input file {file} does not exist (expected a .jsonl or .csv file of posts, "
                            "or - for stdin)")
    try:
        kind = format_of(file.name, fmt)
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    with file.open("rb") as stream:
        return ingest_stream(store, stream, kind, source=source or file.name, origin=str(file), tz=tz,
                             batch_size=batch_size)


class DirectoryFollower:
    """Reads what is appended to the files of a directory, remembering offsets in the run database.

    Args:
        store: where posts and offsets go.
        directory: the directory to watch (files matching `patterns`, not recursive).
        fmt: "auto" (by extension), "jsonl" or "csv".
        source: source of posts without one (default: each file's name).
        tz: timezone of times written without one (default UTC).
    """

    def __init__(self, store: OpinionStore, directory: str | os.PathLike, *, patterns: Iterable[str] = PATTERNS,
                 fmt: str = "auto", source: str | None = None, tz: tzinfo | None = None,
                 batch_size: int = 1000) -> None:
        self.store, self.directory = store, Path(directory)
        if not self.directory.is_dir():
            raise BadInputError(f"{self.directory} is not a directory (expected a directory whose .jsonl/.csv files "
                                "are being appended to)")
        self.patterns, self.fmt, self.source, self.tz, self.batch_size = tuple(patterns), fmt, source, tz, batch_size

    def files(self) -> list[Path]:
        """The files to read, in name order."""
        found = {p for pattern in self.patterns for p in self.directory.glob(pattern) if p.is_file()}
        return sorted(found)

    def poll(self) -> IngestReport:
        """Read every file's new complete records once."""
        report = IngestReport()
        for path in self.files():
            try:
                report.add(self._read_new(path))
            except OSError as exc:  # removed or unreadable between listing and reading: try again next poll
                log.warning("cannot read %s: %s", path, exc)
        return report

    def follow(self, stop: threading.Event, *, interval_s: float = 1.0,
               on_poll: Callable[[IngestReport], None] | None = None) -> None:
        """Poll until `stop` is set, `interval_s` apart."""
        while not stop.is_set():
            report = self.poll()
            if on_poll is not None:
                on_poll(report)
            stop.wait(interval_s)

    def _read_new(self, path: Path) -> IngestReport:
        try:
            fmt = format_of(path.name, self.fmt)
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
        status = path.stat()
        recorded = self.store.offset(str(path.resolve()))
        offset, inode = recorded if recorded else (0, None)
        if inode is not None and inode != status.st_ino or status.st_size < offset:
            log.info("%s was replaced or truncated: reading it again from the start", path)
            offset = 0
        if status.st_size == offset:
            return IngestReport()
        header = _csv_header(path) if fmt == "csv" and offset > 0 else None
        defaults = RecordDefaults(self.source or path.name, self.tz or timezone.utc)
        with path.open("rb") as stream:
            stream.seek(offset)
            chunks = iter(lambda: stream.read(_CHUNK), b"")
            lines = split_lines(chunks, offset, complete_only=True)
            return ingest_lines(self.store, lines, fmt, defaults, str(path), header=header,
                                follow=(str(path.resolve()), status.st_ino), batch_size=self.batch_size)


def _csv_header(path: Path) -> list[str]:
    """The column names of a CSV file (its first row)."""
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as stream:
        row = next(csv.reader(stream), [])
    return [name.strip().lower() for name in row]
