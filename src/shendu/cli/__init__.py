"""The `shendu` command line: thin commands over the library, one module per command group.

Exit codes: 0 ok, 2 bad input (config, names, files), 1 failure while doing the work.
"""
from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException
from rich.console import Console

from shendu.cli import data, demo, eval as eval_cmd, explain, export, generate, hub, opinion, predict, runs, serve, studio, sweep, train, viz, zoo
from shendu.errors import ShenduError
from shendu.i18n import both, t

app = typer.Typer(help=both("app.help"), no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
for module in (demo, train, eval_cmd, predict, sweep, export, serve, explain, studio):
    module.register(app)
generate.register(app)  # shendu.generative packages
app.add_typer(data.app, name="data", help=both("data.help"))
app.add_typer(runs.app, name="runs", help=both("runs.help"))
app.add_typer(zoo.app, name="zoo", help=both("zoo.help"))
app.add_typer(hub.app, name="hub", help=hub.HELP)
app.add_typer(viz.app, name="viz")
app.add_typer(opinion.app, name="opinion", help=opinion.HELP)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this directly)."""
    try:
        code = app(args=argv, prog_name="shendu", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 1
    except TyperException as exc:  # usage errors: bad option, missing argument
        exc.show()
        return getattr(exc, "exit_code", 2)
    except ShenduError as exc:
        Console(stderr=True, highlight=False).print(f"[red]{t('error')}:[/] {exc}", markup=True, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return code if isinstance(code, int) else 0  # non-standalone click returns typer.Exit codes


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
