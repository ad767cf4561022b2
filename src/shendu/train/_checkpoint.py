"""Checkpoints: model + optimizer + RNG state + epoch, written atomically, read without unpickling code."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from shendu.errors import ShenduError


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` so that a crash mid-write never leaves a truncated checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`: tensors and plain data only, never arbitrary objects."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # a damaged file: say which and what to do
        raise ShenduError(f"checkpoint {path} cannot be read ({exc}); delete it to restart that run from scratch") from exc


def rng_state() -> dict[str, Any]:
    """Every RNG the loop draws from (shuffling uses its own seeded generator per epoch)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
