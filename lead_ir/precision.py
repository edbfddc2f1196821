"""The one precision policy of everything that produces vectors, scores or runs.

Machine-independent by default, fast on request:

- ``fp32`` is the default of every command, config and API (encode, encode-queries, search, training, the
  teacher cache, dev evaluation, ``layer_quality``, costs). Its results are the same on every CPU and GPU.
- ``auto`` is the fast choice, asked for explicitly: bf16 autocast on a GPU that has it (else fp16), and
  on a CPU whose bf16 is native (AVX512-BF16 or AMX, as torch reports it) *and* measured faster than fp32
  (:func:`cpu_bf16_speedup`), fp32 elsewhere. Emulated bf16 (an AVX2 CPU) is many times slower than fp32
  (a 1024² matmul: 3.3 s vs 0.04 s on a 2-core AVX2 EPYC), and native is not always faster: on a 2-core
  Intel Xeon with AVX512-BF16 but no AMX, bf16 matmuls ran at 0.6x fp32's speed and a training step took
  1.75x as long. ``lead-ir doctor`` prints what ``auto`` becomes on this machine, and why.
- ``bf16``/``fp16`` force one (fp16: GPU only).

``auto`` is resolved once per comparison, never once per side: the query side of a search uses the
precision recorded in its index's ``lead_ir.json`` (:func:`query_precision`), ``layer_quality`` embeds
queries in its passages' precision, a training run's teacher cache and dev evaluation use the training's
resolved precision (a resume keeps the one its checkpoint recorded), and a study resolves ``auto`` when its
plan is made, so every arm, index and cost row runs in one precision, named in the leaderboard caption.
Every index (``lead_ir.json``), training output (``summary.json``, ``trainer_state.json``) and study stage
manifest records the resolved precision it was produced with.

``LEAD_IR_CPU_BF16=1`` (or ``0``) makes :func:`cpu_bf16_fast` answer yes (or no) whatever the CPU,
so the paths ``auto`` takes on other hosts are tested on this one (emulated bf16 is slow but numerically
the same path).

Autocast only changes the precision of the model's matmuls; outputs that leave a model (vectors on disk,
scores fed to losses) are cast to float32 by their callers.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os

from lead_ir.errors import LeadIRError

logger = logging.getLogger(__name__)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEFAULT_PRECISION = "fp32"  # machine-independent results unless speed is asked for
RESOLVED = ("fp32", "bf16", "fp16")
CPU_BF16_SWITCH = "LEAD_IR_CPU_BF16"
MIN_CPU_BF16_SPEEDUP = 1.2  # bf16 must beat fp32 by this much on the probe for auto to pick it on a CPU


@functools.cache
def cpu_bf16_native() -> bool:
    """Whether torch reports native bfloat16 arithmetic on this CPU (AVX512-BF16 or AMX tiles)."""
    import torch

    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    try:
        return any(bool(check()) for check in checks if check is not None)
    except RuntimeError:  # a torch build without the CPU feature probes
        return False


def cpu_bf16_switch() -> bool | None:
    """The ``LEAD_IR_CPU_BF16`` override: True/False when set to 1/0, None when unset."""
    value = os.environ.get(CPU_BF16_SWITCH, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise LeadIRError(f"{CPU_BF16_SWITCH}={value!r} is not understood; set it to 1 (act as if the CPU had native "
                      f"bf16), 0 (as if it had not) or leave it unset")


@functools.cache
def cpu_bf16_speedup() -> float:
    """fp32 time / bf16 time of the same matmul on this CPU (above 1: bf16 is faster); nan where bf16 is not
    native (emulated bf16 is too slow to time, and never chosen).

    The probe is a [512 x 384] @ [384 x 1536] product (a MiniLM feed-forward layer over 512 tokens) at the
    current torch threads, the two precisions alternating over 7 trials, median each: about 50 ms, once per
    process. Load from other processes falls on both precisions alike.
    """
    import time

    import torch

    if not cpu_bf16_native():
        return float("nan")
    generator = torch.Generator().manual_seed(0)  # the global RNG is the caller's: a probe must not move it
    a32, b32 = torch.randn(512, 384, generator=generator), torch.randn(384, 1536, generator=generator)
    operands = {"fp32": (a32, b32), "bf16": (a32.bfloat16(), b32.bfloat16())}
    times: dict[str, list[float]] = {name: [] for name in operands}
    with torch.inference_mode():
        for trial in range(8):
            for name, (a, b) in operands.items():
                start = time.perf_counter()
                a @ b
                if trial:  # the first trial warms the kernels up
                    times[name].append(time.perf_counter() - start)
    median = {name: sorted(values)[len(values) // 2] for name, values in times.items()}
    return median["fp32"] / median["bf16"]


def cpu_bf16_fast() -> bool:
    """Whether ``auto`` picks bf16 on this CPU: native bf16 (:func:`cpu_bf16_native`) measured at least
    :data:`MIN_CPU_BF16_SPEEDUP` times as fast as fp32 (:func:`cpu_bf16_speedup`), unless ``LEAD_IR_CPU_BF16``
    says otherwise. :func:`explain_auto` holds the rule, so the choice and its reason cannot disagree."""
    return explain_auto("cpu")[0] == "bf16"


def explain_auto(device_type: str = "cpu") -> tuple[str, str]:
    """(what ``auto`` resolves to on ``device_type``, why) for ``lead-ir doctor`` and logs."""
    import torch

    if device_type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", f"the GPU ({torch.cuda.get_device_name(0)}) supports bf16"
        return "fp16", f"the GPU ({torch.cuda.get_device_name(0)}) lacks bf16"
    if device_type != "cpu":
        return "fp32", f"{device_type} has no tested reduced precision"
    forced = cpu_bf16_switch()
    if forced is not None:
        return ("bf16" if forced else "fp32"), (f"{CPU_BF16_SWITCH}={os.environ[CPU_BF16_SWITCH]} overrides the CPU "
                                                f"probe (which says {'yes' if cpu_bf16_native() else 'no'})")
    capability = torch.backends.cpu.get_cpu_capability()
    if not cpu_bf16_native():
        return "fp32", (f"the CPU lacks native bf16 (torch: {capability}); emulated bf16 would be many times slower "
                        f"than fp32")
    speedup = cpu_bf16_speedup()
    if speedup >= MIN_CPU_BF16_SPEEDUP:
        return "bf16", (f"the CPU has native bf16 (AVX512-BF16/AMX; torch: {capability}) and a bf16 matmul ran "
                        f"{speedup:.2f}x as fast as fp32")
    return "fp32", (f"the CPU has native bf16 (AVX512-BF16/AMX; torch: {capability}), but a bf16 matmul ran only "
                    f"{speedup:.2f}x as fast as fp32 here (auto wants {MIN_CPU_BF16_SPEEDUP}x)")


def resolve_precision(precision: str, device_type: str) -> str:
    """``auto``/``fp32``/``bf16``/``fp16`` on ``device_type`` ("cpu", "cuda", ...) -> fp32, bf16 or fp16.

    Raises:
        LeadIRError: an unknown precision, or fp16 on a device other than CUDA.
    """
    if precision not in PRECISIONS:
        raise LeadIRError(f"precision {precision!r} is unknown; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return explain_auto(device_type)[0]
    if precision == "fp16" and device_type != "cuda":
        raise LeadIRError(f"fp16 needs a GPU (CUDA), but the device is {device_type}; use bf16 or fp32 (or auto)")
    if precision == "bf16" and device_type == "cpu" and not cpu_bf16_fast():
        logger.warning("bf16 is %s on this CPU; precision auto picks fp32 here (`lead-ir doctor` says why)",
                       "no faster than fp32" if cpu_bf16_native() else "emulated and much slower than fp32")
    return precision


def device_type_of(device: str | None) -> str:
    """The device type ("cpu", "cuda", ...) a device setting ("auto", None, "cuda:1", "cpu") runs on here."""
    if device in (None, "", "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device).split(":")[0]


def query_precision(index_precision: str | None, device_type: str, requested: str | None = None) -> str:
    """The precision queries are embedded in to search an index encoded in ``index_precision``.

    The index's recorded precision (fp32 for an index without ``lead_ir.json``) unless ``requested`` names
    another; ``auto`` is never resolved again on the query side. fp16 on a CPU cannot be followed: one line.
    """
    recorded = index_precision or DEFAULT_PRECISION
    if recorded not in RESOLVED:
        raise LeadIRError(f"the index records precision {recorded!r}, which is not one of {', '.join(RESOLVED)}; "
                          f"re-run `lead-ir encode`")
    chosen = recorded if requested in (None, "", "index") else resolve_precision(requested, device_type)
    if chosen == "fp16" and device_type != "cuda":
        raise LeadIRError("the index was encoded in fp16 (on a GPU); search it on a GPU, or pass "
                          "--query-precision fp32 to embed the queries in fp32 here")
    if chosen != recorded:
        logger.warning("queries embedded in %s, but the index was encoded in %s; scores differ slightly from a "
                       "search in one precision", chosen, recorded)
    return chosen


def autocast(device_type: str, resolved: str):
    """An autocast context for a *resolved* precision (a no-op for fp32)."""
    import torch

    if resolved == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if resolved == "bf16" else torch.float16
    return torch.autocast(device_type, dtype=dtype)
