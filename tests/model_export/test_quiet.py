"""torch's own deprecation notices are silenced during export; nothing else is."""

from __future__ import annotations

import warnings

import pytest
import torch

from model_export.quiet import torch_notices_silenced


class _Double(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


def test_torchscript_deprecation_is_silenced() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch_notices_silenced():
            scripted = torch.jit.script(_Double())
    assert scripted(torch.ones(1)).item() == 2.0


def test_other_warnings_still_reach_the_user() -> None:
    with pytest.warns(UserWarning, match="a real problem"), torch_notices_silenced():
        warnings.warn("a real problem", UserWarning, stacklevel=1)
    with pytest.warns(DeprecationWarning, match="something else"), torch_notices_silenced():
        warnings.warn("something else is deprecated", DeprecationWarning, stacklevel=1)
