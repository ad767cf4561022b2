"""`shendu zoo list | show NAME` (being built for the [zoo] issue)."""
from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
