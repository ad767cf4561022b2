"""Runs side by side and as flat tables: `compare` (the config keys that differ, metrics next to each other) and
`export_table` / `write_export` (one row per run for pandas, spreadsheets and other tools)."""
from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shendu.errors import BadInputError

FIXED_COLUMNS = ("id", "name", "status", "model", "dataset", "seed", "created", "tags")
FORMATS = ("csv", "json")
_ABSENT = "\0absent"  # a config key one run has and another lacks (null is a value, absent is not)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config → dotted keys (`{"optim": {"lr": 0.1}}` → `{"optim.lr": 0.1}`); lists and {} are values."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@dataclass(frozen=True)
class RunComparison:
    """Runs side by side: `config` holds only the dotted keys whose values differ (None where a run lacks
    the key), `metrics` each summary metric's {"final", "best"} per run (None where a run lacks it)."""

    runs: list[Any]  # RunRecord
    config: dict[str, list[Any]]
    metrics: dict[str, list[dict[str, float] | None]]

    def to_json(self) -> dict[str, Any]:
        return {"runs": [{"id": r.id, "name": r.name, "status": r.status, "model": r.model, "dataset": r.dataset,
                          "created_at": r.created_at.isoformat(), "tags": r.tags} for r in self.runs],
                "config_diff": self.config, "metrics": self.metrics}


def compare(records: Sequence[Any]) -> RunComparison:
    """The config diff and metric table of two or more runs (RunRecords), in the order given."""
    flats = [flatten(r.config or {}) for r in records]
    diff: dict[str, list[Any]] = {}
    for key in sorted(set().union(*flats)):
        values = [flat.get(key, _ABSENT) for flat in flats]
        if len({json.dumps(v, sort_keys=True) for v in values}) > 1:
            diff[key] = [None if v == _ABSENT else v for v in values]
    names = sorted(set().union(*(r.summary or {} for r in records)))
    metrics = {name: [(r.summary or {}).get(name) for r in records] for name in names}
    return RunComparison(list(records), diff, metrics)


def export_table(records: Sequence[Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows): the fixed columns, then every dotted config key, then `<metric>.final` / `.best`."""
    rows, config_keys, metric_names = [], set(), set()
    for r in records:
        row: dict[str, Any] = {"id": r.id, "name": r.name, "status": r.status, "model": r.model,
                               "dataset": r.dataset, "seed": r.seed, "created": r.created_at.isoformat(),
                               "tags": list(r.tags)}
        for key, value in flatten(r.config or {}).items():
            column = f"config.{key}" if key in FIXED_COLUMNS else key  # a top-level config key named like one
            row[column] = value
            config_keys.add(column)
        for name, entry in (r.summary or {}).items():
            row[f"{name}.final"], row[f"{name}.best"] = entry["final"], entry["best"]
            metric_names.add(name)
        rows.append(row)
    metric_columns = [f"{name}.{which}" for name in sorted(metric_names) for which in ("final", "best")]
    return [*FIXED_COLUMNS, *sorted(config_keys), *metric_columns], rows


@dataclass(frozen=True)
class ExportResult:
    path: str  # absolute, or "-" for standard output
    format: str
    runs: int
    columns: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "runs": self.runs, "columns": self.columns}


def write_export(records: Sequence[Any], path: str | Path, fmt: str) -> ExportResult:
    """Write one row per run as CSV (lists and objects as JSON text, absent values empty) or as a JSON array
    of objects (every column in every object, null where absent). `path` "-" is standard output."""
    if fmt not in FORMATS:
        raise BadInputError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    columns, rows = export_table(records)
    text = _csv(columns, rows) if fmt == "csv" else json.dumps(
        [{c: row.get(c) for c in columns} for row in rows], ensure_ascii=False, indent=1) + "\n"
    if str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return ExportResult("-", fmt, len(rows), len(columns))
    target = Path(path).expanduser().absolute()
    if not target.parent.is_dir():
        raise BadInputError(f"cannot write {target}: the folder {target.parent} does not exist; create it first")
    target.write_text(text, encoding="utf-8", newline="")
    return ExportResult(str(target), fmt, len(rows), len(columns))


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
