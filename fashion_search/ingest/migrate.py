"""Copy an embedded collection to another store without recomputing embeddings
(e.g. the local Edge shard to a Qdrant server): vectors, payloads and the model identity.

Resumable and idempotent like ingest: point ids are kept, and each scrolled batch only upserts
the ids the destination lacks, so a rerun after a kill copies just the rest.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from tqdm.auto import tqdm

from fashion_search.ingest.config import IngestConfig
from fashion_search.ingest.report import StageTimer, write_report

logger = logging.getLogger(__name__)

# Points per scroll page / upsert: big enough to amortise a server round trip, small enough for memory.
MIGRATE_BATCH = 256


def run_migration(cfg: IngestConfig) -> dict:
    from fashion_search.store import StoreError, open_store

    timer = StageTimer()
    started = time.perf_counter()
    source = open_store(cfg.from_store, collection=cfg.collection)
    destination = None
    copied = already_present = 0
    try:
        identity = source.model_info()
        if identity is None:
            raise StoreError(f"{cfg.from_store} collection {cfg.collection!r} records no model identity; "
                             f"re-ingest it with `ingest --catalog ... --store {cfg.from_store}` first")
        total = source.count()
        if total == 0:
            raise StoreError(f"{cfg.from_store} collection {cfg.collection!r} is empty: nothing to migrate")
        pages = source.scroll(batch=MIGRATE_BATCH, with_vectors=True)
        with tqdm(total=total, desc="migrate", unit="pt") as progress:
            for hits in _timed_pages(pages, timer):
                ids = [hit.id for hit in hits]
                vectors = np.asarray([hit.payload["_vector"] for hit in hits], dtype=np.float32)  # (B, D)
                if destination is None:
                    # The dimension comes from the data itself, so nothing about the model is needed here.
                    destination = open_store(cfg.to_store, collection=cfg.collection, **cfg.store_options())
                    destination.ensure_collection(vectors.shape[1], model=identity, recreate=cfg.recreate)
                with timer.stage("check"):
                    present = destination.existing_ids(ids)
                keep = [index for index, point_id in enumerate(ids) if point_id not in present]
                if keep:
                    payloads = [_without_vector(hits[index].payload) for index in keep]
                    with timer.stage("write"):
                        destination.upsert([ids[index] for index in keep], vectors[keep], payloads)
                copied += len(keep)
                already_present += len(ids) - len(keep)
                progress.update(len(ids))
        if copied:
            with timer.stage("optimize"):
                destination.optimize()
        destination_count = destination.count()
    finally:
        source.close()
        if destination is not None:
            destination.close()

    seconds = time.perf_counter() - started
    report = {
        "mode": "migrate", "from": cfg.from_store, "to": cfg.to_store, "collection": cfg.collection,
        "model": identity, "total": total, "copied": copied, "already_present": already_present,
        "destination_count": destination_count, "seconds": round(seconds, 3),
        "points_per_s": round(copied / seconds, 2) if seconds > 0 else 0.0, "stages": timer.as_dict(),
    }
    logger.info("migrated %d points (%d already present, %d in source) %s -> %s in %.1fs",
                copied, already_present, total, cfg.from_store, cfg.to_store, seconds)
    write_report(report, cfg.report)
    return report


def _timed_pages(pages, timer: StageTimer):
    while True:
        with timer.stage("read"):
            hits = next(pages, None)
        if hits is None:
            return
        if hits:
            yield hits


def _without_vector(payload: dict) -> dict:
    return {key: value for key, value in payload.items() if key != "_vector"}
