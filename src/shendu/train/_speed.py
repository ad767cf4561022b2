"""Speed choices made by detection, never by assumption: autocast precision and memory format."""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ContextManager

import torch
from torch import nn
from torch.nn import functional as F

from shendu.errors import BadInputError


@dataclass(frozen=True)
class Precision:
    """The autocast dtype (None = fp32) and whether fp16 gradient scaling is needed."""

    name: str
    dtype: torch.dtype | None
    scaler: bool

    def autocast(self, device: torch.device) -> ContextManager[Any]:
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)


def bf16_supported(device: torch.device) -> bool:
    """bf16 is fast only with hardware support: AVX512-BF16/AMX on CPU (via oneDNN), Ampere+ on CUDA."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # Native bf16 units only (AVX512-BF16 or AMX): oneDNN's own check is also true on plain AVX-512,
        # where bf16 is emulated and slower than fp32.
        try:
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        except AttributeError:
            return False
    return False


def resolve_precision(name: str, device: torch.device) -> Precision:
    """"auto" → bf16 where the hardware has it, else fp32; "fp16" needs CUDA (with a GradScaler)."""
    if name == "auto":
        name = "bf16" if bf16_supported(device) else "fp32"
    if name == "fp32":
        return Precision("fp32", None, False)
    if name == "bf16":
        return Precision("bf16", torch.bfloat16, False)
    if device.type != "cuda":
        raise BadInputError(f"train.precision=fp16 needs a CUDA device (running on {device.type}); "
                            "use bf16 or auto on the CPU")
    return Precision("fp16", torch.float16, True)


def channels_last_helps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, precision: Precision,
                        repeats: int = 3) -> bool:
    """Time a few training steps in both memory formats on a copy of the model and keep the faster one."""
    if not any(isinstance(m, nn.Conv2d) for m in model.modules()) or x.dim() != 4:
        return False
    state = {k: v.clone() for k, v in model.state_dict().items()}
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # dropout in the probe must not shift the seeded stream
        timings = _time_formats(model, x, y, precision, repeats)
    model.load_state_dict(state)
    model.to(memory_format=torch.contiguous_format)
    return timings[True] < 0.9 * timings[False]  # switch only for a clear win


def _time_formats(model: nn.Module, x: torch.Tensor, y: torch.Tensor, precision: Precision,
                  repeats: int) -> dict[bool, float]:
    """Best-of-`repeats` seconds of one training step (forward + backward), keyed by channels_last."""
    timings = {}
    for channels_last in (False, True):
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model.to(memory_format=fmt)
        xb = x.contiguous(memory_format=fmt)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            with precision.autocast(x.device):
                out = model(xb)
                loss = F.cross_entropy(out[0] if isinstance(out, (tuple, list)) else out, y)
            loss.backward()
            model.zero_grad(set_to_none=True)
            best = min(best, time.perf_counter() - start)
        timings[channels_last] = best
    return timings
