"""Numeric precision policy shared by training, the teacher cache and corpus encoding.

``auto`` resolves, per device, to the fastest precision that keeps results comparable:

- CUDA: bfloat16 autocast when the GPU supports it, else float16 (with a gradient scaler in training);
- CPU: bfloat16 autocast when the CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX), else
  float32. Without those instructions bfloat16 is emulated and runs many times *slower* than
  float32 (a 1024² matmul: 3.3 s vs 0.04 s on a 2-core AVX2 EPYC), so ``auto`` never picks it there;
- anything else: float32.

Autocast only changes the precision of the model's matmuls; outputs that leave a model (vectors
on disk, scores fed to losses) are cast to float32 by their callers.
"""

from __future__ import annotations

import contextlib
import functools
import logging

from lead_ir.errors import LeadIRError

logger = logging.getLogger(__name__)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@functools.cache
def cpu_bf16_supported() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX tiles), as torch reports it."""
    import torch

    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    try:
        return any(bool(check()) for check in checks if check is not None)
    except RuntimeError:  # a torch build without the CPU feature probes
        return False


def resolve_precision(precision: str, device_type: str) -> str:
    """``auto``/``fp32``/``bf16``/``fp16`` on ``device_type`` ("cpu", "cuda", ...) -> fp32, bf16 or fp16.

    Raises:
        LeadIRError: an unknown precision, or fp16 on a device other than CUDA.
    """
    import torch

    if precision not in PRECISIONS:
        raise LeadIRError(f"precision {precision!r} is unknown; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device_type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if device_type == "cpu" and cpu_bf16_supported() else "fp32"
    if precision == "fp16" and device_type != "cuda":
        raise LeadIRError(f"fp16 needs a GPU (CUDA), but the device is {device_type}; use bf16 or fp32 (or auto)")
    if precision == "bf16" and device_type == "cpu" and not cpu_bf16_supported():
        logger.warning("bf16 on a CPU without AVX512-BF16/AMX is emulated and much slower than fp32; "
                       "precision auto picks fp32 here")
    return precision


def autocast(device_type: str, resolved: str):
    """An autocast context for a *resolved* precision (a no-op for fp32)."""
    import torch

    if resolved == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if resolved == "bf16" else torch.float16
    return torch.autocast(device_type, dtype=dtype)
