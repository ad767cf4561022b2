"""Distributed data parallel (DDP) plumbing: who am I, shard the data, reduce the metrics.

Processes are started by torchrun (`shendu train CONFIG --nproc N`), which sets RANK, WORLD_SIZE
and LOCAL_RANK. Backend: NCCL with CUDA, gloo on the CPU. Rank 0 alone writes the run record,
checkpoints and the package; every rank computes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "DistInfo":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))


def init(info: DistInfo, device: torch.device) -> None:
    """Join the process group once (env:// rendezvous set up by torchrun)."""
    if info.enabled and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def shard(index: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's share of one global batch: disjoint, and together exactly the batch."""
    return index[info.rank::info.world_size] if info.enabled else index


def all_sum(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Element-wise sum over ranks (a no-op in a single process)."""
    if info.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_finite(loss: torch.Tensor, info: DistInfo) -> bool:
    """True when the loss is finite on every rank — all ranks agree, so none waits for a rank that stopped."""
    flag = torch.tensor([0.0 if torch.isfinite(loss.detach()).all() else 1.0], device=loss.device)
    return all_sum(flag, info).item() == 0.0


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    """Leave the process group (torchrun warns about leaked groups otherwise)."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
