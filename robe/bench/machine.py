"""A description of the machine a benchmark ran on, stored with its results.

The one such description: `robe bench lookup` and `model`, `robe bench service` and
`robe loadtest` all record it. torch is optional (a load-test driver may lack it).
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from types import ModuleType
from typing import Any

_ENV = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT", "NUMBA_NUM_THREADS")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _torch() -> ModuleType | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


def describe(device: str = "cpu") -> dict[str, Any]:
    """CPU, cores, memory, GPU (when `device` is cuda) and the versions that matter."""
    torch = _torch()
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads() if torch else None,
        "memory_bytes": _memory_bytes(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "onnxruntime": _version("onnxruntime"),
        "numpy": _version("numpy"),
        "fastapi": _version("fastapi"),
        "uvicorn": _version("uvicorn"),
        "numba": _version("numba"),
        "fbgemm_gpu": _version("fbgemm-gpu-cpu") or _version("fbgemm-gpu"),
        "triton": _version("triton"),
        "device": device,
        # OpenMP threads that spin after a torch op steal the core from whatever runs
        # next on a small machine; how they wait changes results, so it is recorded.
        "env": {k: os.environ[k] for k in _ENV if k in os.environ},
    }
    if torch is not None and device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load is not None:
        info["load_average_at_start"] = [round(x, 2) for x in load]
    summary = info.get("gpu") or f"{info['cpu']} ({info['cpu_cores']} cores)"
    info["description"] = f"{summary}, torch {info['torch']}"
    return info


def start(device: str) -> tuple[Any, dict[str, Any]]:
    """What a benchmark does first: its torch device (refused when CUDA is asked for and
    absent), glibc heap reuse set before anything is allocated and timed, and the
    machine's description with what was done to the heap."""
    import torch

    from robe.bench import heap

    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available")
    note = heap.reuse_freed_memory()
    return dev, {**describe(device), "heap": note}
