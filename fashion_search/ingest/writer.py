"""Write stage: payloads and upserts. Upsert is the commit point of the job: a product is done
exactly when its point is in the store (point id = product id, so a rerun overwrites, never duplicates).

Two writers with one interface, `write(ids, vectors)`:
  DirectWriter    every process upserts its own batches (a Qdrant server takes concurrent writers),
                  on a background thread (BackgroundWriter) so upserts overlap encoding;
  GatheredWriter  every process sends its batch to rank 0, which alone upserts (Qdrant Edge and
                  qdrant-client local mode are single-process on-disk stores).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

SERVER_PREFIXES = ("http://", "https://")


def needs_single_writer(store_location: str | None) -> bool:
    """Everything but a Qdrant server is a single-process store that only one writer may open."""
    return not (store_location or "").startswith(SERVER_PREFIXES)


def build_payload(product, caption: str, catalog_root: str | Path, root_is_resolved: bool = False) -> dict:
    """The payload spec of docs/architecture.md: metadata fields (absent when unknown), name, the
    canonical caption, a catalog-relative image_ref and the absolute catalog root to resolve it.
    root_is_resolved: the caller resolved catalog_root already (saves a realpath per product)."""
    payload = {key: value for key, value in product.metadata().items() if value is not None}
    if "year" in payload:
        payload["year"] = int(payload["year"])
    payload["caption"] = caption
    payload["image_ref"] = product.image_ref
    payload["catalog"] = str(catalog_root) if root_is_resolved else str(Path(catalog_root).resolve())
    return payload


class DirectWriter:
    def __init__(self, store, payload_for: Callable[[int], dict]):
        self.store = store
        self.payload_for = payload_for
        self.written = 0

    def write(self, ids: list[int], vectors: np.ndarray, extras: list[dict] | None = None) -> None:
        """extras: per id, payload fields known only after the image was read (its photo tags)."""
        if not ids:
            return
        self.store.upsert(list(ids), vectors, with_extras([self.payload_for(i) for i in ids], extras))
        self.written += len(ids)


class BackgroundWriter:
    """Runs another writer's write() on one background thread, one batch in flight.

    Upserting a batch (payload conversion + the store's update) costs ~20% of the embed time of the
    small model; run in line it stalls the model for that long. Here batch k is upserted while batch
    k+1 is encoded (the store releases the GIL, torch kernels run without it). At most one write is
    pending, in order, so memory stays bounded and the commit semantics are unchanged: a product is
    done when its upsert returned; a failed upsert re-raises at the next write() or at flush().
    """

    def __init__(self, writer):
        from concurrent.futures import ThreadPoolExecutor

        self.writer = writer
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upsert")
        self._pending = None
        self.busy_seconds = 0.0  # time the thread spent writing (the part now hidden behind encoding)

    @property
    def written(self) -> int:
        return self.writer.written

    def _timed_write(self, ids, vectors, extras) -> None:
        start = time.perf_counter()
        self.writer.write(ids, vectors, extras)
        self.busy_seconds += time.perf_counter() - start

    def write(self, ids: list[int], vectors: np.ndarray, extras: list[dict] | None = None) -> None:
        self.flush()  # wait for (and surface errors of) the previous batch before queueing the next
        if ids:
            self._pending = self._pool.submit(self._timed_write, list(ids), vectors, extras)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Finish the write in flight (also after an error elsewhere: it is committed work), then stop."""
        try:
            self.flush()
        finally:
            self._pool.shutdown(wait=True)


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

    def write(self, ids: list[int], vectors: np.ndarray, extras: list[dict] | None = None) -> None:
        extras = list(extras) if extras is not None else [{} for _ in ids]
        shares = self.group.all_gather((list(ids), np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim),
                                        extras))
        if not self.group.is_main:
            self.written += len(ids)
            return
        all_ids = [i for share_ids, _, _ in shares for i in share_ids]
        if not all_ids:
            return
        all_vectors = np.concatenate([share_vectors for _, share_vectors, _ in shares])  # (sum B, D)
        all_extras = [extra for _, _, share_extras in shares for extra in share_extras]
        self.store.upsert(all_ids, all_vectors, with_extras([self.payload_for(i) for i in all_ids], all_extras))
        self.written += len(all_ids)


def with_extras(payloads: list[dict], extras: list[dict] | None) -> list[dict]:
    if extras is None:
        return payloads
    if len(extras) != len(payloads):
        raise ValueError(f"{len(extras)} extra payload fields for {len(payloads)} points")
    return [{**payload, **extra} for payload, extra in zip(payloads, extras)]


def payload_lookup(products: Mapping, catalog_root: str | Path, caption_for: Callable) -> Callable[[int], dict]:
    root = str(Path(catalog_root).resolve())
    return lambda product_id: build_payload(products[product_id], caption_for(products[product_id]), root,
                                            root_is_resolved=True)
