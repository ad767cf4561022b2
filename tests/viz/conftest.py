"""Fixtures shared by the viz tests."""
import pytest


@pytest.fixture
def cli():
    """`shendu.cli.main`, the CLI as a user runs it (returns the exit code)."""
    from shendu.cli import main

    return main
