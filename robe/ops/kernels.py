"""Which implementation of the lookup runs on which device.

Until fused kernels are registered, every device runs the plain-torch reference.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from robe.ops import reference

ForwardImpl = Callable[..., torch.Tensor]
BackwardImpl = Callable[..., torch.Tensor]


def forward_impl(device: torch.device) -> ForwardImpl:
    return reference.lookup


def backward_impl(device: torch.device) -> BackwardImpl:
    return reference.lookup_backward
