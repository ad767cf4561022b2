"""Helpers shared by the command modules: JSON output and consoles."""
from __future__ import annotations

import json
from typing import Any

from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(obj: Any) -> None:
    """One JSON object on one line (the `--json` contract: it is the last line printed)."""
    print(json.dumps(obj, ensure_ascii=False, default=str), flush=True)
