"""The item catalog of a model, held as pre-hashed arrays.

`items.jsonl` (its format: robe.catalog) is read once at startup into `dense` [I, F]
float32 and `keys` [I, T] int64 rows whose item columns hold the item's values (the
other columns are never read). Resolving a request's candidate ids is a vectorised
`searchsorted` over the sorted ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from robe.catalog import CatalogError, read_items
from robe.schema import Side
from service.errors import InvalidInput, ModelLoadError
from service.rows import Dense, FeatureLayout, Keys

ITEM_SIDE: tuple[Side, ...] = ("item",)


@dataclass(frozen=True)
class Catalog:
    ids: npt.NDArray[np.str_]  # [I] item ids in file order
    dense: Dense  # [I, F]
    keys: Keys  # [I, T]
    sorted_ids: npt.NDArray[np.str_]  # [I] ascending
    order: npt.NDArray[np.int64]  # sorted position -> catalog index

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def empty(cls, layout: FeatureLayout) -> Catalog:
        return cls.build(
            [],
            np.zeros((0, layout.num_dense), np.float32),
            np.zeros((0, layout.num_key_columns), np.int64),
        )

    @classmethod
    def build(cls, ids: list[str], dense: Dense, keys: Keys) -> Catalog:
        arr = np.array(ids, dtype=np.str_) if ids else np.zeros(0, dtype="<U1")
        order = np.argsort(arr, kind="stable").astype(np.int64)
        sorted_ids = arr[order]
        if arr.size > 1:
            dup = sorted_ids[1:] == sorted_ids[:-1]
            if dup.any():
                first = sorted_ids[1:][dup][0]
                raise ModelLoadError(f"catalog: item id {first!r} appears twice")
        return cls(ids=arr, dense=dense, keys=keys, sorted_ids=sorted_ids, order=order)

    @classmethod
    def load(cls, path: Path, layout: FeatureLayout) -> Catalog:
        ids: list[str] = []
        dense_rows: list[Dense] = []
        key_rows: list[Keys] = []
        try:
            for lineno, item in read_items(path):
                try:
                    d, k = layout.encode(item.features, ITEM_SIDE, "item")
                except InvalidInput as exc:
                    raise ModelLoadError(f"{path}:{lineno}: {exc.message}") from exc
                ids.append(item.item_id)
                dense_rows.append(d)
                key_rows.append(k)
        except CatalogError as exc:
            raise ModelLoadError(str(exc)) from exc
        if not ids:
            return cls.empty(layout)
        return cls.build(ids, np.stack(dense_rows), np.stack(key_rows))

    def resolve(self, candidates: list[str], field: str = "candidates") -> npt.NDArray[np.int64]:
        """Catalog indices of `candidates`; InvalidInput for an unknown or repeated id."""
        wanted = np.asarray(candidates, dtype=np.str_)
        if len(self) == 0:
            raise InvalidInput(f"{field}: unknown item id {candidates[0]!r} (empty catalog)")
        pos = np.searchsorted(self.sorted_ids, wanted)
        pos_c = np.minimum(pos, len(self) - 1)
        found = self.sorted_ids[pos_c] == wanted
        if not found.all():
            bad = np.flatnonzero(~found)
            shown = ", ".join(repr(candidates[i]) for i in bad[:5])
            more = f" and {bad.size - 5} more" if bad.size > 5 else ""
            raise InvalidInput(f"{field}: unknown item id {shown}{more}")
        index = self.order[pos_c]
        if index.size > 1:
            srt = np.sort(index)
            dup = srt[1:] == srt[:-1]
            if dup.any():
                raise InvalidInput(
                    f"{field}: item id {str(self.ids[srt[1:][dup][0]])!r} is given twice"
                )
        return index
