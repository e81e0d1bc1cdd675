"""The torch formats' reduced-precision layers (model_export/reduced.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from model_export.calibration import Calibration
from model_export.reduced import (
    Int8Linear,
    NarrowInteraction,
    NarrowLinear,
    reduced_layers,
    variant_record,
)
from robe.checkpoint import build_model
from robe.model import DLRM, InteractionArch
from tests.model_export.conftest import tiny_spec


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(50, 13), nn.Linear(13, 64), nn.ReLU(), nn.Linear(64, 1))


@pytest.mark.parametrize(("precision", "layer"), [("int8", Int8Linear), ("bf16", NarrowLinear)])
def test_every_linear_is_replaced_and_nothing_else_is_copied(
    precision: str, layer: type[nn.Module]
) -> None:
    model = _model()
    reduced = reduced_layers(model, precision)
    assert isinstance(reduced, nn.Sequential)
    assert isinstance(reduced[1], layer) and isinstance(reduced[3], layer)
    assert reduced[0].weight is model[0].weight  # the embedding is shared, not copied
    assert isinstance(model[1], nn.Linear) and model[1].weight.dtype == torch.float32
    assert reduced_layers(model, "fp32") is model


@pytest.mark.parametrize(("precision", "tolerance"), [("int8", 0.03), ("bf16", 0.03)])
def test_reduced_layers_stay_close_to_float32_at_any_batch(
    precision: str, tolerance: float
) -> None:
    linear = _model()[1]
    reduced = reduced_layers(nn.Sequential(linear), precision)
    for batch in (1, 3, 257):
        x = torch.randn(batch, 13)
        with torch.no_grad():
            want, got = linear(x), reduced(x)
        assert got.dtype == torch.float32 and got.shape == want.shape
        error = (got - want).abs().max() / want.abs().max()
        assert 0 < error < tolerance, (batch, float(error))


def test_int8_weights_are_int8_with_per_channel_scales_and_narrow_inputs_padded() -> None:
    linear = _model()[1]
    assert isinstance(linear, nn.Linear)
    layer = Int8Linear(linear)
    # 13 input columns padded with zero weights to 16, the VNNI dot product's multiple of 4
    assert layer.weight_t.dtype == torch.int8 and layer.weight_t.shape == (16, 64)
    assert not layer.weight_t[13:].any()
    assert layer.weight_scale.shape == (64,)
    assert int(layer.weight_t.abs().max(dim=0).values.min()) == 127  # each channel's range used
    wide = Int8Linear(nn.Linear(367, 8))
    assert wide.weight_t.shape == (367, 8)  # wide inputs are not padded


def test_static_int8_scales_its_input_by_the_calibrated_range_and_clips_beyond() -> None:
    torch.manual_seed(1)
    linear = nn.Linear(64, 32)
    x = torch.randn(257, 64)
    static = Int8Linear(linear, input_range=float(x.abs().max()))
    assert static.input_scale == pytest.approx(float(x.abs().max()) / 127)
    with torch.no_grad():
        want, got = linear(x), static(x)
        error = (got - want).abs().max() / want.abs().max()
        assert 0 < error < 0.03, float(error)
    # an input beyond the range saturates at it, as int8 must
    clipped = Int8Linear(linear, input_range=1.0)
    with torch.no_grad():
        assert torch.equal(clipped(torch.full((1, 64), 5.0)), clipped(torch.ones(1, 64)))
        assert not torch.equal(clipped(torch.full((1, 64), 0.5)), clipped(torch.ones(1, 64)))


def _dlrm() -> DLRM:
    torch.manual_seed(0)
    model = build_model(tiny_spec())
    assert isinstance(model, DLRM)
    return model.eval()


def test_the_interaction_runs_in_bf16_in_every_reduced_variant() -> None:
    model = _dlrm()
    dense, sparse = torch.randn(5, 8), torch.randn(5, 3, 8)
    with torch.no_grad():
        want = model.interaction_arch(model.dense_arch(torch.randn(5, 2)), sparse)
        for precision in ("bf16", "int8"):
            reduced = reduced_layers(model, precision)
            assert isinstance(reduced, DLRM)
            narrow = reduced.interaction_arch
            assert isinstance(narrow, NarrowInteraction) and narrow.dtype == torch.bfloat16
            got, ref = narrow(dense, sparse), model.interaction_arch(dense, sparse)
            assert got.dtype == torch.float32 and got.shape == ref.shape
            assert torch.equal(got[:, :8], dense)  # the dense vector passes on in float32
            assert 0 < (got - ref).abs().max() < 0.05 * ref.abs().max()
    assert want.shape[1] == InteractionArch.output_width(3, 8)
    assert isinstance(model.interaction_arch, InteractionArch)  # the model is left as it was
    assert not isinstance(model.interaction_arch, NarrowInteraction)


def test_a_calibrated_int8_dlrm_scores_close_to_float32_and_names_its_method() -> None:
    model = _dlrm()
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    calibration = Calibration({n: 3.0 for n in names}, rows=10, source="test")
    reduced = reduced_layers(model, "int8", calibration)
    layers = [m for m in reduced.modules() if isinstance(m, Int8Linear)]
    assert len(layers) == len(names) and all(m.input_scale == 3.0 / 127 for m in layers)
    generator = torch.Generator().manual_seed(2)
    dense = torch.randn(64, 2, generator=generator)
    values = torch.randint(0, 2**40, (64 * 3,), generator=generator)
    offsets = torch.arange(64 * 3 + 1)
    with torch.no_grad():
        want = torch.sigmoid(model(dense, values, offsets))
        got = torch.sigmoid(reduced(dense, values, offsets))
    assert 0 < (got - want).abs().max() < 0.05
    record = variant_record("int8", calibration)
    assert "calibrated on training rows" in record["method"]
    assert record["calibration"]["rows"] == 10
    assert "per row at run time" in variant_record("int8")["method"]
    with pytest.raises(ValueError, match="no input range for layer"):
        reduced_layers(model, "int8", Calibration({}, rows=1, source="test"))
