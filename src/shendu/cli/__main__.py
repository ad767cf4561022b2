"""`python -m shendu.cli …` — the same as the `shendu` command."""
from shendu.cli import run

run()
