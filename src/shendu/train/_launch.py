"""`--nproc N`: re-run the same `shendu train` command under torchrun, one process per rank.

Single node: `torchrun --standalone`. Several nodes: `--nnodes` and `--rdzv-endpoint` are passed
through to torchrun's c10d rendezvous (run the same command on every node). The checkpoints and
the SQLite database must then live on storage every node sees, or use a PostgreSQL SHENDU_DB.
"""
from __future__ import annotations

import os
import subprocess
import sys

from shendu.errors import BadInputError


def under_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or "WORLD_SIZE" in os.environ


def torchrun_command(args: list[str], nproc: int, nnodes: int = 1, rdzv_endpoint: str | None = None,
                     node_rank: int | None = None) -> list[str]:
    """The torchrun command line that runs `shendu <args>` on `nproc` processes per node."""
    if nproc < 1 or nnodes < 1:
        raise BadInputError(f"--nproc and --nnodes must be ≥ 1, received {nproc} and {nnodes}")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc)]
    if nnodes == 1:
        command.append("--standalone")
    else:
        if not rdzv_endpoint:
            raise BadInputError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (the same on every node)")
        command += ["--nnodes", str(nnodes), "--rdzv_backend", "c10d", "--rdzv_endpoint", rdzv_endpoint]
        if node_rank is not None:
            command += ["--node_rank", str(node_rank)]
    return command + ["-m", "shendu.cli", *args]


def launch(args: list[str], nproc: int, nnodes: int = 1, rdzv_endpoint: str | None = None,
           node_rank: int | None = None) -> int:
    """Run torchrun and return its exit code (the ranks inherit stdout/stderr)."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    return subprocess.call(torchrun_command(args, nproc, nnodes, rdzv_endpoint, node_rank), env=env)
