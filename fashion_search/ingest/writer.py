"""Write stage: payloads and upserts. Upsert is the commit point of the job: a product is done
exactly when its point is in the store (point id = product id, so a rerun overwrites, never duplicates).

Two writers with one interface, `write(ids, vectors)`:
  DirectWriter    every process upserts its own batches (a Qdrant server takes concurrent writers);
  GatheredWriter  every process sends its batch to rank 0, which alone upserts (Qdrant Edge and
                  qdrant-client local mode are single-process on-disk stores).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

SERVER_PREFIXES = ("http://", "https://")


def needs_single_writer(store_location: str | None) -> bool:
    """Everything but a Qdrant server is a single-process store that only one writer may open."""
    return not (store_location or "").startswith(SERVER_PREFIXES)


def build_payload(product, caption: str, catalog_root: str | Path) -> dict:
    """The payload spec of docs/architecture.md: metadata fields (absent when unknown), name, the
    canonical caption, a catalog-relative image_ref and the absolute catalog root to resolve it."""
    payload = {key: value for key, value in product.metadata().items() if value is not None}
    if "year" in payload:
        payload["year"] = int(payload["year"])
    payload["caption"] = caption
    payload["image_ref"] = product.image_ref
    payload["catalog"] = str(Path(catalog_root).resolve())
    return payload


class DirectWriter:
    def __init__(self, store, payload_for: Callable[[int], dict]):
        self.store = store
        self.payload_for = payload_for
        self.written = 0

    def write(self, ids: list[int], vectors: np.ndarray) -> None:
        if not ids:
            return
        self.store.upsert(list(ids), vectors, [self.payload_for(i) for i in ids])
        self.written += len(ids)


class GatheredWriter:
    """Every process must call write() the same number of times (pad with empty batches)."""

    def __init__(self, group, store, payload_for: Callable[[int], dict], dim: int):
        if group.is_main and store is None:
            raise ValueError("rank 0 of a gathered write needs the store")
        self.group = group
        self.store = store
        self.payload_for = payload_for
        self.dim = dim
        self.written = 0  # on rank 0: points upserted for all processes; elsewhere: sent

    def write(self, ids: list[int], vectors: np.ndarray) -> None:
        shares = self.group.all_gather((list(ids), np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)))
        if not self.group.is_main:
            self.written += len(ids)
            return
        all_ids = [i for share_ids, _ in shares for i in share_ids]
        if not all_ids:
            return
        all_vectors = np.concatenate([share_vectors for _, share_vectors in shares])  # (sum B, D)
        self.store.upsert(all_ids, all_vectors, [self.payload_for(i) for i in all_ids])
        self.written += len(all_ids)


def payload_lookup(products: Mapping, catalog_root: str | Path, caption_for: Callable) -> Callable[[int], dict]:
    root = str(Path(catalog_root).resolve())
    return lambda product_id: build_payload(products[product_id], caption_for(products[product_id]), root)
