"""Facts about this process and machine that a run record keeps: host, pid, hardware, code version,
and whether the process that owns a run is still alive."""
from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from shendu._version import __version__


@dataclass(frozen=True)
class ProcessId:
    """Who is running: the host name, the pid and, where the OS tells it, the pid's start time."""

    host: str
    pid: int
    start: int | None


def hostname() -> str:
    """This machine's host name."""
    return socket.gethostname()


def this_process() -> ProcessId:
    """The identity of the calling process (recomputed each call: a forked child has its own pid)."""
    pid = os.getpid()
    return ProcessId(host=hostname(), pid=pid, start=_proc_stat(pid)[1])


def pid_alive(pid: int, start: int | None) -> bool | None:
    """Whether process `pid` on this host is still the process that started at `start`.

    Returns:
        True or False; None when this OS gives no cheap answer (Windows, where `os.kill(pid, 0)`
        would terminate the process), so the caller falls back to the heartbeat age.
    """
    if sys.platform == "win32":
        return None
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # the pid exists but belongs to another user
    state, started = _proc_stat(pid)
    if state in ("Z", "X"):  # a zombie: killed, but its parent has not reaped it yet
        return False
    # A different start time means the pid was reused by an unrelated, newer process.
    return start is None or started is None or started == start


def _proc_stat(pid: int) -> tuple[str | None, int | None]:
    """(state, start time in clock ticks since boot) from /proc/<pid>/stat, or (None, None)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None, None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = text[text.rfind(")") + 2:].split()
    try:
        return fields[0], int(fields[19])  # fields 3 (state) and 22 (starttime) of proc(5)
    except (IndexError, ValueError):
        return None, None


@functools.lru_cache(maxsize=None)
def code_version() -> str:
    """The shendu version, plus the git commit of the working directory when there is one (cached).

    Returns:
        e.g. "0.1.0+g1a2b3c4", or "0.1.0" outside a git checkout or without git.
    """
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return __version__
    commit = out.stdout.strip()
    return f"{__version__}+g{commit}" if out.returncode == 0 and commit.isalnum() else __version__


@functools.lru_cache(maxsize=1)
def hardware() -> dict[str, Any]:
    """Platform, Python, torch and the CPU / CUDA devices of this machine (torch imported lazily)."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch": None,
        "cuda": [],
    }
    try:
        import torch
    except ImportError:
        return info
    info["torch"] = torch.__version__
    info["threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        info["cuda"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cuda_version"] = torch.version.cuda
    return info
