"""The torch formats' reduced-precision Linear layers (model_export/reduced.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from model_export.reduced import Int8Linear, NarrowLinear, reduced_linears


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(50, 13), nn.Linear(13, 64), nn.ReLU(), nn.Linear(64, 1))


@pytest.mark.parametrize(("precision", "layer"), [("int8", Int8Linear), ("bf16", NarrowLinear)])
def test_every_linear_is_replaced_and_nothing_else_is_copied(
    precision: str, layer: type[nn.Module]
) -> None:
    model = _model()
    reduced = reduced_linears(model, precision)
    assert isinstance(reduced, nn.Sequential)
    assert isinstance(reduced[1], layer) and isinstance(reduced[3], layer)
    assert reduced[0].weight is model[0].weight  # the embedding is shared, not copied
    assert isinstance(model[1], nn.Linear) and model[1].weight.dtype == torch.float32
    assert reduced_linears(model, "fp32") is model


@pytest.mark.parametrize(("precision", "tolerance"), [("int8", 0.03), ("bf16", 0.03)])
def test_reduced_layers_stay_close_to_float32_at_any_batch(
    precision: str, tolerance: float
) -> None:
    linear = _model()[1]
    reduced = reduced_linears(nn.Sequential(linear), precision)
    for batch in (1, 3, 257):
        x = torch.randn(batch, 13)
        with torch.no_grad():
            want, got = linear(x), reduced(x)
        assert got.dtype == torch.float32 and got.shape == want.shape
        error = (got - want).abs().max() / want.abs().max()
        assert 0 < error < tolerance, (batch, float(error))


def test_int8_weights_are_int8_with_per_channel_scales() -> None:
    linear = _model()[1]
    assert isinstance(linear, nn.Linear)
    layer = Int8Linear(linear)
    assert layer.weight_t.dtype == torch.int8 and layer.weight_t.shape == (13, 64)
    assert layer.weight_scale.shape == (64,)
    assert int(layer.weight_t.abs().max(dim=0).values.min()) == 127  # each channel's range used
