from __future__ import annotations

import pytest
import torch

from robe.embeddings import EmbeddingConfig, FullEmbeddingCollection, build_embeddings
from robe.model import DLRM, PRESETS, InteractionArch, get_preset

SIZES = (50, 7, 1000, 3)


def _batch(rows: int, tables: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    values = torch.randint(-(2**40), 2**40, (rows * tables,))
    return torch.randn(rows, 13), values, torch.arange(rows * tables + 1)


@pytest.mark.parametrize("kind", ["robe", "full"])
def test_embedding_collections_share_one_interface(kind):
    config = (
        EmbeddingConfig.robe_for_compression(SIZES, 8, compression=10, chunk=4)
        if kind == "robe"
        else EmbeddingConfig("full", 8, SIZES)
    )
    emb = build_embeddings(config)
    _, values, offsets = _batch(5, len(SIZES))
    assert emb(values, offsets).shape == (5, 4, 8)
    assert emb.sparse_gradients == (kind == "full")
    assert emb.full_equivalent_bytes == sum(SIZES) * 8 * 4
    assert emb.embedding_bytes == (sum(SIZES) * 8 * 4 // 10 if kind == "robe" else sum(SIZES) * 32)


def test_full_embedding_uses_hashing_trick():
    emb = FullEmbeddingCollection(EmbeddingConfig("full", 4, (10, 20)))
    values = torch.tensor([13, -1, 3, 19])
    rows = emb.rows(values, torch.arange(5))
    assert rows.tolist() == [3, 10 + 19, 3, 10 + 19]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_dlrm_shapes_for_every_preset(preset):
    p = get_preset(preset)
    config = EmbeddingConfig.robe_for_compression((100,) * 26, p.dim, compression=4, chunk=8)
    model = DLRM(13, build_embeddings(config), p)
    assert model(*_batch(3, 26)).shape == (3,)
    first = model.over_arch.mlp[0]
    assert isinstance(first, torch.nn.Linear)
    assert first.in_features == InteractionArch.output_width(26, p.dim)


def test_kaggle_and_terabyte_widths_match_the_reference_dlrm():
    assert InteractionArch.output_width(26, PRESETS["kaggle"].dim) == 367
    assert InteractionArch.output_width(26, PRESETS["terabyte"].dim) == 479


def test_interaction_is_pairwise_dot_products():
    arch = InteractionArch(2)
    dense = torch.tensor([[1.0, 2.0]])
    sparse = torch.tensor([[[3.0, 4.0], [5.0, 6.0]]])
    out = arch(dense, sparse)
    assert out.tolist() == [[1.0, 2.0, 11.0, 17.0, 39.0]]


def test_mismatched_dims_are_refused():
    config = EmbeddingConfig.robe_for_compression((100,), 16, compression=2)
    with pytest.raises(ValueError, match="dim"):
        DLRM(13, build_embeddings(config), get_preset("small"))
    with pytest.raises(ValueError, match="preset"):
        get_preset("huge")
    with pytest.raises(ValueError, match="compression"):
        EmbeddingConfig.robe_for_compression((100,), 16, compression=0.5)
