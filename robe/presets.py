"""Layer-width presets of the DLRM (torch-free, so the CLI can list them cheaply)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """Layer widths; the interaction width between bottom and top follows from T and D."""

    name: str
    dim: int
    bottom: tuple[int, ...]  # hidden widths of the dense arch, the last equal to dim
    top: tuple[int, ...]  # hidden widths of the over arch, before the final width-1 layer

    def __post_init__(self) -> None:
        if not self.bottom or self.bottom[-1] != self.dim:
            raise ValueError(f"preset {self.name!r}: bottom arch must end at dim {self.dim}")


PRESETS: dict[str, Preset] = {
    # 13-512-256-64-16 / 367-512-256-1 with 26 tables (the reference Kaggle DLRM)
    "kaggle": Preset("kaggle", 16, (512, 256, 64, 16), (512, 256)),
    # 13-512-256-128 / 479-1024-1024-512-256-1 (the MLPerf Terabyte DLRM)
    "terabyte": Preset("terabyte", 128, (512, 256, 128), (1024, 1024, 512, 256)),
    "small": Preset("small", 8, (32, 8), (64, 32)),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: use one of {sorted(PRESETS)}")
    return PRESETS[name]
