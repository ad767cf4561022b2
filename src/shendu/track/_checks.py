"""Input checks for the run store: each failure says what was expected, what came, and what to do,
before the database would fail with a less helpful message (or PostgreSQL and SQLite would differ)."""
from __future__ import annotations

import json
import math
import operator
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shendu.errors import BadInputError
from shendu.track._schema import LABEL_LEN, NAME_LEN


def text(field: str, value: Any, max_len: int) -> str:
    """A non-empty string of at most `max_len` characters."""
    if not isinstance(value, str) or not value.strip():
        raise BadInputError(f"{field} must be a non-empty string, got {value!r}")
    if len(value) > max_len:
        raise BadInputError(f"{field} is {len(value)} characters long, at most {max_len} fit: {value[:40]!r}…")
    return value


def integer(field: str, value: Any, *, optional: bool = False) -> int | None:
    """An int (numpy and torch integers accepted); None only when `optional`."""
    if value is None and optional:
        return None
    if isinstance(value, bool):
        raise BadInputError(f"{field} must be an integer, got the bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise BadInputError(f"{field} must be an integer, got {type(value).__name__} {value!r}") from None


def json_object(field: str, value: Any) -> dict[str, Any]:
    """A dict that serializes to strict JSON (no NaN, no tensors or Paths), returned as given."""
    if not isinstance(value, Mapping):
        raise BadInputError(f"{field} must be a dict, got {type(value).__name__}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadInputError(
            f"{field} must be plain JSON (dicts, lists, strings, finite numbers, booleans, None): {exc}; "
            "convert Paths with str() and tensors with .item() or .tolist()"
        ) from None
    return dict(value)


def notes(value: Any) -> list[str]:
    """A list of note strings, duplicates dropped, order kept."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise BadInputError(f"notes must be a list of strings, got {type(value).__name__} {value!r}")
    for note in value:
        if not isinstance(note, str):
            raise BadInputError(f"notes must be a list of strings; {note!r} is a {type(note).__name__}")
    return list(dict.fromkeys(value))


def metrics(value: Any) -> dict[str, float]:
    """{name: finite float}; numpy and 0-d torch values are converted."""
    if not isinstance(value, Mapping):
        raise BadInputError(f"metrics must be a dict of name -> number, got {type(value).__name__}")
    out: dict[str, float] = {}
    for name, raw in value.items():
        text("metric name", name, NAME_LEN)
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise BadInputError(f"metric {name!r} must be a number, got {type(raw).__name__} {raw!r}") from None
        if not math.isfinite(number):
            raise BadInputError(
                f"metric {name!r} is {number}; the run database stores finite numbers only "
                "(a diverged run should stop and be finished as failed instead)"
            )
        out[name] = number
    return out


def label(field: str, value: Any) -> str:
    """A model or dataset name."""
    return text(field, value, LABEL_LEN)


def path(value: Any) -> str:
    """An absolute local path (or a URL such as s3://…, kept as given)."""
    try:
        raw = os.fspath(value)
    except TypeError:
        raise BadInputError(f"path must be a str or os.PathLike, got {type(value).__name__} {value!r}") from None
    if not isinstance(raw, str) or not raw:
        raise BadInputError(f"path must be a non-empty string, got {raw!r}")
    return raw if "://" in raw else str(Path(raw).expanduser().resolve())
