"""Where tensors live and how they are computed: bf16/fp16 autocast on CUDA, and bf16 on
CPUs with native bf16 arithmetic (AVX512-BF16 or AMX), where it is ~3x faster than fp32.

``KOGNER_CPU_PRECISION=fp32`` turns CPU autocast off (``auto``, the default, uses bf16
where the CPU has it). CPU runs stay deterministic either way: the same inputs in the same
batches give the same outputs.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

CPU_PRECISIONS = ("auto", "fp32", "bf16")
CPU_THREADS = 2  # map_in_threads
Item = TypeVar("Item")
Result = TypeVar("Result")


def pick_device(requested: str | None = None) -> torch.device:
    """``requested`` if given ("cpu", "cuda", "cuda:1"), else CUDA when available, else CPU."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (emulated bf16 is slower than fp32)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def cpu_precision() -> str:
    """The CPU precision setting from ``KOGNER_CPU_PRECISION`` (auto, fp32 or bf16)."""
    value = os.environ.get("KOGNER_CPU_PRECISION", "auto").lower()
    if value not in CPU_PRECISIONS:
        raise ValueError(f"KOGNER_CPU_PRECISION={value!r}: choose one of {', '.join(CPU_PRECISIONS)}")
    return value


def describe_cpu() -> str:
    """This machine's CPU in a few words for benchmark records: cores, model name (Linux) and the
    precision the encoder computes in ("2 cores, AMD EPYC, fp32"). A throughput ratio against
    the encoder depends on the last: with native bf16 the encoder is ~5x faster, the rest not."""
    model = ""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next((line.partition(":")[2].strip() for line in cpuinfo if line.startswith("model name")), "")
    precision = "bf16" if autocast_dtype(torch.device("cpu")) == torch.bfloat16 else "fp32"
    return ", ".join(part for part in (f"{os.cpu_count()} cores", model, precision) if part)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 on GPUs that support it, fp16 on older GPUs; on CPU bf16 when native (or
    forced by ``KOGNER_CPU_PRECISION=bf16``), else None (full precision)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    precision = cpu_precision()
    if precision == "bf16" or (precision == "auto" and cpu_has_native_bf16()):
        return torch.bfloat16
    return None


@contextlib.contextmanager
def autocast(device: torch.device, cpu: bool = True) -> Iterator[None]:
    """Mixed precision as ``autocast_dtype`` says; a no-op where it says full precision.
    ``cpu=False`` keeps CPU work in fp32 (for small layers, where bf16 saves nothing)."""
    dtype = autocast_dtype(device) if cpu or device.type != "cpu" else None
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def map_in_threads(function: Callable[[Item], Result], items: Sequence[Item], device: torch.device) -> list[Result]:
    """``[function(item) for item in items]``. On CPU with two or more cores it runs in
    ``CPU_THREADS`` threads with an equal share of the cores each, every other item to each:
    while one thread does the Python work around PyTorch's operations, the other computes, where
    PyTorch's own threads would wait; and small operations (MiniLM's) split poorly across cores.
    On 2 cores MiniLM's forward pass is 8–9% faster this way (bench/RESULTS.md, annotate).
    Threads do not inherit inference mode or autocast: ``function`` sets what it needs."""
    cores = torch.get_num_threads()
    if device.type != "cpu" or cores < CPU_THREADS or len(items) < 2:
        return [function(item) for item in items]
    results: list = [None] * len(items)
    each = cores // CPU_THREADS
    try:
        with ThreadPoolExecutor(CPU_THREADS, initializer=torch.set_num_threads, initargs=(each,)) as pool:
            shares = pool.map(lambda k: [function(item) for item in items[k::CPU_THREADS]], range(CPU_THREADS))
            for k, share in enumerate(shares):
                results[k::CPU_THREADS] = share
    finally:
        torch.set_num_threads(cores)  # PyTorch's count is per thread, and new threads take the last one set
    return results
