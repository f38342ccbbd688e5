"""The ingest job: catalog -> image embeddings -> Qdrant, resumable and idempotent.

  1. every process reads the catalog's product list (no images decoded) and loads the model;
  2. rank 0 opens the store, checks the model identity (a mismatch fails here, before any embedding)
     and asks which candidates are already stored; every process gets that plan;
  3. each process embeds its shard of the missing ids: DataLoader workers decode + preprocess,
     the main process runs the model;
  4. each batch is upserted (the commit point) by its process, or gathered to rank 0 for a
     single-process store (Edge, local mode);
  5. rank 0 optimizes the index and writes the report.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from fashion_search.ingest.config import IngestConfig
from fashion_search.ingest.dataset import make_image_loader
from fashion_search.ingest.distributed import ProcessGroup, current_process_group
from fashion_search.ingest.reader import batches_per_process, load_split_ids, missing_ids, select_products, shard_ids
from fashion_search.ingest.report import StageTimer, log_ingest_report, merge_stage_seconds, write_report
from fashion_search.ingest.writer import (
    BackgroundWriter,
    DirectWriter,
    GatheredWriter,
    needs_single_writer,
    payload_lookup,
)

logger = logging.getLogger(__name__)


def run_ingest(cfg: IngestConfig, group: ProcessGroup | None = None) -> dict:
    from fashion_search.catalog.captions import canonical_caption
    from fashion_search.catalog.products import open_catalog
    from fashion_search.model.clip import DEFAULT_MODEL, load_clip, model_identity
    from fashion_search.model.embed import Embedder

    group = group or current_process_group()
    timer = StageTimer()
    started = time.perf_counter()

    # 1. Candidates and model, identically on every process.
    with timer.stage("read_catalog"):
        catalog = open_catalog(cfg.catalog)
        allowed = load_split_ids(cfg.splits_file, cfg.split) if cfg.split else None
        products = select_products(catalog.products(), allowed, cfg.limit)
    catalog_drops = _catalog_drops(catalog, complete_pass=cfg.limit is None)
    if group.is_main:
        logger.info("catalog %s (%s layout): %d candidate products", catalog.root, catalog.layout, len(products))
    model_name = cfg.model or DEFAULT_MODEL
    with timer.stage("load_model"):
        model, processor = load_clip(model_name)
        # The absolute path of a local model dir lets the page load the same model from anywhere; the
        # catalog root tells the page which catalog it may show images from. Stores compare weights only.
        local = Path(model_name).expanduser()
        identity = {**model_identity(str(local.resolve()) if local.is_dir() else model_name, model),
                    "catalog": str(catalog.root)}
        embedder = Embedder(model, processor, device=_device(cfg, group), batch_size=cfg.batch_size)

    # 2. Rank 0 owns the schema and the plan; other processes wait for its verdict.
    single_writer = needs_single_writer(cfg.store)
    store = None
    try:
        with timer.stage("plan"):
            store, plan = _plan_on_main(cfg, group, embedder.dim, identity, list(products))
            if not group.is_main and not single_writer:
                store = _open(cfg)  # the collection exists now: rank 0 created it before answering
        todo: list[int] = plan["todo"]

        # 3 + 4. Embed this process's shard, committing batch by batch.
        payload_for = payload_lookup(products, catalog.root, canonical_caption)
        # Gathered writes are collectives every rank must enter in step: those stay in line.
        writer = (GatheredWriter(group, store, payload_for, embedder.dim) if single_writer and group.distributed
                  else BackgroundWriter(DirectWriter(store, payload_for)))
        my_ids = shard_ids(todo, group.rank, group.world_size)
        steps = (batches_per_process(len(todo), group.world_size, cfg.batch_size) if isinstance(writer, GatheredWriter)
                 else -(-len(my_ids) // cfg.batch_size))
        if cfg.max_batches is not None:
            steps = min(steps, cfg.max_batches)
        loop_started = time.perf_counter()
        try:
            embedded, skipped = _embed_and_write(cfg, group, catalog, products, my_ids, steps, embedder, writer, timer)
        finally:
            if isinstance(writer, BackgroundWriter):
                with timer.stage("write"):
                    writer.close()  # the last batch's upsert; runs before the store closes, even on error
                timer.add("write_thread_sum", writer.busy_seconds)
        loop_seconds = time.perf_counter() - loop_started  # includes the last upsert

        # 5. One report for the whole job.
        shares = group.all_gather({"embedded": embedded, "skipped": skipped, "stages": timer.as_dict(),
                                   "loop_seconds": loop_seconds})
        total_embedded = sum(share["embedded"] for share in shares)
        if group.is_main and total_embedded:
            with timer.stage("optimize"):
                store.optimize()  # after a bulk load, so the HNSW index (not a brute-force scan) serves queries
        group.barrier()
    finally:
        if store is not None:
            store.close()

    all_skipped = sorted((item for share in shares for item in share["skipped"]), key=lambda item: item["id"])
    loop_seconds = max(share["loop_seconds"] for share in shares)
    report = {
        "mode": "ingest",
        "catalog": str(catalog.root), "store": cfg.store, "collection": cfg.collection, "model": identity,
        "processes": group.world_size,
        "total": len(products),
        "already_present": len(products) - len(todo),
        "embedded": total_embedded,
        "skipped": len(all_skipped),
        "skipped_items": all_skipped,
        "catalog_dropped": catalog_drops,
        "stopped_early": total_embedded + len(all_skipped) < len(todo),
        "seconds": round(time.perf_counter() - started, 3),
        "embed_loop_seconds": round(loop_seconds, 3),
        "images_per_s": round(total_embedded / loop_seconds, 2) if loop_seconds > 0 else 0.0,
        # rank 0's timer is read last: it also holds the optimize stage, timed after the gather
        "stages": merge_stage_seconds([share["stages"] for share in shares] + [timer.as_dict()]),
    }
    if group.is_main:
        log_ingest_report(report)
        write_report(report, cfg.report)
        logger.info("report written to %s", cfg.report)
    return report


def _catalog_drops(catalog, complete_pass: bool) -> dict | None:
    """Products the catalog itself dropped while listing (e.g. image file missing): they never become
    candidates, so they are reported here. None after a --limit run, whose pass stopped early
    (asking for the report would re-read the whole catalog)."""
    if not complete_pass:
        return None
    report = catalog.report
    return {"missing_image": report.dropped_missing_image, "bad_image": report.dropped_bad_image,
            "duplicate_id": report.dropped_duplicate_id, "malformed": report.dropped_malformed,
            "examples": report.examples}


def _device(cfg: IngestConfig, group: ProcessGroup) -> torch.device:
    if cfg.device:
        return torch.device(cfg.device)
    if group.device is not None:
        return group.device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _open(cfg: IngestConfig):
    from fashion_search.store import open_store

    return open_store(cfg.store, collection=cfg.collection, **cfg.store_options())


def _plan_on_main(cfg: IngestConfig, group: ProcessGroup, dim: int, identity: dict, candidate_ids: list[int]):
    """Rank 0: open the store, check/record the model, list the missing ids. Errors reach every process."""
    from fashion_search.store import StoreError

    store, plan, failure = None, None, None
    if group.is_main:
        try:
            store = _open(cfg)
            store.ensure_collection(dim, model=identity, recreate=cfg.recreate)
            if not store.has_words:     # built before the words' vector existed: it keeps working image-only
                logger.warning("this collection has no word vectors, so searches rank by the image alone; "
                               "rebuild it with `make ingest ARGS=--recreate` to match words in product names")
            todo = missing_ids(store, candidate_ids, show_progress=True)
            plan = {"todo": todo}
            logger.info("%d of %d candidates already stored, %d to embed",
                        len(candidate_ids) - len(todo), len(candidate_ids), len(todo))
        except StoreError as error:
            failure = error
            plan = {"error": str(error)}
            if store is not None:
                store.close()
                store = None
    plan = group.broadcast(plan)
    if "error" in plan:
        raise failure or StoreError(plan["error"])
    return store, plan


def _embed_and_write(cfg, group, catalog, products, my_ids, steps, embedder, writer, timer):
    items = [(product_id, products[product_id].image_ref) for product_id in my_ids]
    # The embedder's preprocessor object, not its bound method: picklable without dragging the model
    # into spawned workers.
    # No loader for an empty shard: iter() would start worker processes just to say "done".
    batches = (iter(make_image_loader(catalog, items, embedder.image_preprocessor, cfg.batch_size, cfg.num_workers))
               if items else iter(()))
    embedded, skipped = 0, []
    total_images = min(len(items), steps * cfg.batch_size)
    with tqdm(total=total_images, desc=f"embed (rank {group.rank})", unit="img",
              disable=not group.is_main, smoothing=0.1) as progress:
        for _ in range(steps):
            with timer.stage("read_decode_wait"):
                batch = next(batches, None)  # None: this shard is done, but gathered writes still need a step
            ids, vectors = [], np.zeros((0, embedder.dim), dtype=np.float32)
            if batch is not None:
                timer.add("decode_worker_sum", batch.decode_seconds)
                skipped.extend(batch.skipped)
                for item in batch.skipped:
                    logger.debug("skipped product %s: %s", item["id"], item["reason"])
                if batch.pixels is not None:
                    with timer.stage("embed"):
                        vectors = embedder.encode_pixels(batch.pixels)  # (B, D) float32, L2-normalised
                    ids = batch.ids
                    if vectors.shape[0] != len(ids):
                        raise RuntimeError(f"embedder returned {vectors.shape[0]} vectors for {len(ids)} images")
            with timer.stage("write"):
                writer.write(ids, vectors)
            embedded += len(ids)
            progress.update(len(ids) + (len(batch.skipped) if batch is not None else 0))
            progress.set_postfix(skipped=len(skipped), refresh=False)
    del batches  # shuts DataLoader workers down now, also when max_batches stopped the loop early
    return embedded, skipped
