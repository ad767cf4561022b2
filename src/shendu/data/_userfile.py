"""Your own texts: a CSV (or TSV) or JSON-lines file with a text column and a label column.

    data: {name: csv, path: reviews.csv, text_column: review, label_column: label}
    load_dataset("jsonl", "train", path="posts.jsonl", text_column="text", label_column="label")

Malformed records never stop loading and never take good records with them: each is counted by reason
(not valid UTF-8, e.g. a GBK line; bad JSON; not an object; wrong number of CSV fields; no text; no label)
and reported once — as a `SkippedRowsWarning` and as a note stored with the run — with the first line
numbers of each kind. (One CSV exception: a quote that is never closed swallows the rest of the file into
one field, as CSV defines it; that record then counts as one with the wrong number of fields.)

The classes are the distinct labels, in numeric order when every label is an integer, else in string
order. Without `test_path` the file is split seeded and stratified 80/10/10, like any source without splits.
"""
from __future__ import annotations

import csv
import functools
import json
import os
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from shendu._registry import nearest
from shendu.data._textsplit import TextSplit
from shendu.data._types import DatasetInfo
from shendu.errors import BadInputError

FORMATS = ("csv", "jsonl")
_SURROGATE = re.compile("[\udc80-\udcff]")  # bytes that are not UTF-8, kept by errors="surrogateescape"
_NOT_UTF8 = "not valid UTF-8 (GBK or another encoding? re-save the file as UTF-8)"
csv.field_size_limit(16 * 1024 * 1024)  # long reviews are fine; the default 128 KiB cap is not a data rule


class SkippedRowsWarning(UserWarning):
    """Some records of a user's data file were malformed and skipped (the message counts them by reason)."""


@dataclass
class Rows:
    """The good records of one file, and the line numbers of the bad ones by reason."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    bad: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    records: int = 0

    def add(self, line: int, text: Any, label: Any) -> None:
        self.records += 1
        reason = _problem(text, label)
        if reason:
            self.bad[reason].append(line)
        else:
            self.texts.append(text)
            self.labels.append(str(label).strip())

    def report(self, path: Path) -> str | None:
        """"skipped 3 of 1,003 records of reviews.csv: 1 bad JSON (line 4), …", or None when all were good."""
        count = sum(len(lines) for lines in self.bad.values())
        if not count:
            return None
        parts = []
        for reason, lines in sorted(self.bad.items(), key=lambda item: -len(item[1])):
            shown = ", ".join(f"{n:,}" for n in lines[:3]) + (", …" if len(lines) > 3 else "")
            parts.append(f"{len(lines):,} {reason} (line{'s' if len(lines) > 1 else ''} {shown})")
        return f"skipped {count:,} of {self.records:,} records of {path.name}: {'; '.join(parts)}"


def _problem(text: Any, label: Any) -> str | None:
    """Why a record cannot be used, or None."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return "without text"
    if not isinstance(text, str):
        return "with a text that is not a string"
    if label is None or (isinstance(label, str) and not label.strip()):
        return "without label"
    if isinstance(label, (dict, list)):
        return "with a label that is not a single value"
    if _SURROGATE.search(text) or _SURROGATE.search(str(label)):
        return _NOT_UTF8
    return None


def read_csv(path: Path, text_column: str, label_column: str) -> Rows:
    """Records of a CSV file with a header row (a .tsv file is split on tabs)."""
    rows = Rows()
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise BadInputError(f"{path} is empty; expected a header row naming the columns, then one record a row")
        columns = [_check_column(path, header, name, role) for name, role in ((text_column, "text_column"),
                                                                                (label_column, "label_column"))]
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error:  # e.g. a field over the size limit: count it, read on
                rows.records += 1
                rows.bad["unreadable CSV"].append(reader.line_num)
                continue
            if not record:
                continue  # a blank line is not a record
            if len(record) != len(header):
                rows.records += 1
                rows.bad[f"with a number of fields other than the header's {len(header)}"].append(reader.line_num)
                continue
            rows.add(reader.line_num, record[columns[0]], record[columns[1]])
    return rows


def _check_column(path: Path, header: list[str], name: str, role: str) -> int:
    if name in header:
        return header.index(name)
    close = nearest(name, header)
    hint = f" — did you mean {close[0]!r}?" if close else ""
    raise BadInputError(f"{path}: no column {name!r} (data.{role}){hint}; the header has "
                        f"{', '.join(map(repr, header))}")


def read_jsonl(path: Path, text_column: str, label_column: str) -> Rows:
    """Records of a JSON-lines file: one object per line; blank lines are skipped."""
    rows = Rows()
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                rows.records += 1
                rows.bad[_NOT_UTF8].append(number)
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                rows.records += 1
                rows.bad["bad JSON"].append(number)
                continue
            if not isinstance(record, dict):
                rows.records += 1
                rows.bad["not a JSON object"].append(number)
                continue
            rows.add(number, record.get(text_column), record.get(label_column))
    return rows


READERS: dict[str, Callable[[Path, str, str], Rows]] = {"csv": read_csv, "jsonl": read_jsonl}


# -- the dataset ------------------------------------------------------------------------------------------
def open_files(name: str, path: Any, test_path: Any, text_column: str,
               label_column: str) -> tuple[DatasetInfo, Callable[[str], TextSplit]]:
    """The `DatasetInfo` of a user file (and optional test file) and a reader of its source splits."""
    if path is None:
        raise BadInputError(f"data.name {name!r} reads your own file: set data.path to it (e.g. data.path: "
                            f"reviews.{name}), with data.text_column and data.label_column naming the columns")
    files = [_existing(path, "data.path")] + ([_existing(test_path, "data.test_path")] if test_path else [])
    parsed = [_parse(name, str(f), f.stat().st_size, f.stat().st_mtime_ns, text_column, label_column) for f in files]
    for file, rows in zip(files, parsed):
        note = rows.report(file)
        if note:
            warnings.warn(note, SkippedRowsWarning, stacklevel=4)
        if not rows.texts:
            raise BadInputError(f"{file}: no usable record (text in column {text_column!r}, label in "
                                f"{label_column!r}); {note or 'the file holds no records'}")
    classes = _classes([label for rows in parsed for label in rows.labels])
    sources = ("train", "test") if test_path else ("all",)
    info = DatasetInfo(name=name, title=f"{files[0].name} (your {name.upper()} file)", modality="text",
                       classes=classes, input_shape=(), source=files[0].as_uri(), files=(), mirror_dir="user",
                       license="your data", citation="", official_splits=("train", "test") if test_path else (),
                       sizes={s: rows.records for s, rows in zip(sources, parsed)})
    if len(classes) < 2:
        raise BadInputError(f"{files[0]}: every record has the label {classes[0]!r}; a classifier needs at least "
                            f"two classes in column {label_column!r}")
    index = {label: i for i, label in enumerate(classes)}
    splits = {}
    for source, file, rows in zip(sources, files, parsed):
        note = rows.report(file)
        splits[source] = TextSplit(list(rows.texts), np.asarray([index[lab] for lab in rows.labels], np.int64),
                                   rows=rows.records, dropped=[note] if note else [])
    return info, splits.__getitem__


def _existing(path: Any, key: str) -> Path:
    file = Path(os.fspath(path)).expanduser().resolve()
    if not file.is_file():
        raise BadInputError(f"{key}: no file at {file} (expected a CSV/TSV or JSON-lines file of texts and labels)")
    return file


@functools.lru_cache(maxsize=8)
def _parse(fmt: str, path: str, size: int, mtime: int, text_column: str, label_column: str) -> Rows:
    """Parsed once per file version (size and mtime are part of the key), for train, val and test alike."""
    return READERS[fmt](Path(path), text_column, label_column)


def _classes(labels: list[str]) -> tuple[str, ...]:
    distinct = set(labels)
    if all(re.fullmatch(r"[+-]?\d+", label) for label in distinct):
        return tuple(sorted(distinct, key=int))
    return tuple(sorted(distinct))
