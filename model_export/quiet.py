"""Silence torch's own deprecation chatter during export, and nothing else.

torch 2.13 warns on every `torch.jit.*` call (TorchScript is deprecated upstream) and
its exporters trip over their own deprecated internals. Those warnings are about torch,
not about the user's model, so they are filtered by exact message; any other warning
(a real problem with the model, the data, numerics) still reaches the user.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# (category, message regex) pairs: each one a known torch-internal notice.
_TORCH_NOTICES: tuple[tuple[type[Warning], str], ...] = (
    (DeprecationWarning, r"`torch\.jit\.\w+` is deprecated"),
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),
    (UserWarning, r"# The axis name: \w+ will not be used"),
)
_ONNX_REGISTRY_LOGGER = "torch.onnx._internal.exporter._registration"


class _SkipTorchvision(logging.Filter):
    """The ONNX exporter logs one line per torchvision op it cannot register."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "torchvision is not installed" not in record.getMessage()


@contextmanager
def torch_notices_silenced() -> Iterator[None]:
    log_filter = _SkipTorchvision()
    logger = logging.getLogger(_ONNX_REGISTRY_LOGGER)
    logger.addFilter(log_filter)
    try:
        with warnings.catch_warnings():
            for category, message in _TORCH_NOTICES:
                warnings.filterwarnings("ignore", message=message, category=category)
            yield
    finally:
        logger.removeFilter(log_filter)


@contextmanager
def quantizer_hints_muted() -> Iterator[None]:
    """ONNX Runtime's quantizer logs pre-processing hints meant for CNNs on the root
    logger at WARNING: muted for the quantizer's call only."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
