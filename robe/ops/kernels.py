"""Which implementation of the lookup runs on which device.

- CUDA: the Triton kernels (robe.ops.triton_kernels) when Triton imports.
- CPU: the numba kernels (robe.ops.cpu_numba) when numba imports and the dtype is
  float32/float64.
- Anything else: the plain-torch reference, correct and much slower. Falling back is
  logged once per device type, never per call.
"""

from __future__ import annotations

import functools
import logging
from types import ModuleType
from typing import Any

import torch

from robe.ops import reference

log = logging.getLogger(__name__)


@functools.cache
def _fast_module(device_type: str) -> ModuleType | None:
    """The fused kernels for a device type, or None (logged once) when they cannot load."""
    try:
        if device_type == "cpu":
            from robe.ops import cpu_numba

            return cpu_numba
        if device_type == "cuda":
            from robe.ops import triton_kernels

            triton_kernels.require_triton()
            return triton_kernels
    # ImportError: numba or Triton absent. RuntimeError/OSError: numba found no writable
    # cache directory for its compiled kernels (a read-only install), or a broken build.
    except (ImportError, OSError, RuntimeError) as exc:
        log.warning(
            "robe: fused %s lookup kernels unavailable (%s); using the plain-torch "
            "reference, which is several times slower",
            device_type,
            exc,
        )
        return None
    log.warning(
        "robe: no fused lookup kernels for device type %r; using the plain-torch reference, "
        "which is several times slower",
        device_type,
    )
    return None


def fast_module(device: torch.device, dtype: torch.dtype) -> ModuleType | None:
    """The fused kernels for tensors of this device and dtype, or None for the reference."""
    module = _fast_module(device.type)
    if module is None or dtype not in module.SUPPORTED_DTYPES:
        return None
    return module


def forward(weight: torch.Tensor, *args: Any) -> torch.Tensor:
    """`reference.lookup(weight, *args)`, on the fastest implementation for `weight`."""
    module = fast_module(weight.device, weight.dtype)
    return (reference if module is None else module).lookup(weight, *args)


def backward(grad: torch.Tensor, *args: Any) -> torch.Tensor:
    """`reference.lookup_backward(grad, *args)`, on the fastest implementation for `grad`."""
    module = fast_module(grad.device, grad.dtype)
    return (reference if module is None else module).lookup_backward(grad, *args)
