"""The exceptions a user sees. Each says what was expected, what was received and what to do.

`BadInputError` (CLI exit code 2) is for problems the user can fix in what they passed: configs,
names, files, shapes. Other `ShenduError`s (exit code 1) are failures while doing the work.
"""
from __future__ import annotations


class ShenduError(Exception):
    """Base class of every error shendu raises on purpose."""

    exit_code = 1


class BadInputError(ShenduError, ValueError):
    """The input (config, name, file, array) is wrong; the message says how to fix it."""

    exit_code = 2


class RegistryError(ShenduError):
    """A registration conflicts with an existing one (a programming error, not user input)."""


class UnknownNameError(BadInputError, KeyError):
    """A registry lookup for a name that is not registered."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        from shendu._registry import nearest

        self.kind, self.name, self.valid = kind, name, valid
        close = nearest(name, valid)
        hint = f" — did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        shown = ", ".join(valid[:12]) + (", …" if len(valid) > 12 else "")
        super().__init__(f"unknown {kind} {name!r}{hint} (valid: {shown})")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class ConfigError(BadInputError):
    """The experiment config is malformed; one line per problem, each with its key path."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = problems
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid config{where}:\n{lines}")


class DataError(ShenduError):
    """A dataset could not be obtained or read."""


class DataMissingError(DataError, BadInputError):
    """Data files are neither cached, nor in the mirror, nor downloadable (offline)."""


class ChecksumError(DataError):
    """A file's hash does not match the published one; the file has been discarded."""


class TrainingDivergedError(ShenduError):
    """The loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


class RunNotFoundError(BadInputError):
    """No run with the given id in the run database."""


class PackageError(BadInputError):
    """A model package is missing, incomplete or malformed."""
