"""The ingest job: makes an index version equal to the catalog (sync), resumable and idempotent.

  1. every process reads the catalog's product list (no images decoded) and loads the model;
  2. rank 0 picks the version to write (ingest/target.py: a new version for a new model or --rebuild,
     else a sync of the served one), fingerprints the catalog (image bytes, payload), plans the sync
     (ingest/sync.py), applies the deletion guard, then deletes and payload-only updates;
  3. each process embeds its shard of the new and re-shot products: DataLoader workers decode +
     preprocess, the main process runs the model;
  4. each batch is upserted (the commit point) by its process, or gathered to rank 0 for a
     single-process store (Edge, local mode);
  5. rank 0 optimizes the version, switches readers to it in one step, and writes the report.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from fashion_search.ingest.config import IngestConfig
from fashion_search.ingest.dataset import make_image_loader
from fashion_search.ingest.distributed import ProcessGroup, current_process_group
from fashion_search.ingest.fingerprints import Fingerprint, with_fingerprint
from fashion_search.ingest.reader import batches_per_process, load_split_ids, select_products, shard_ids
from fashion_search.ingest.report import StageTimer, log_ingest_report, merge_stage_seconds, write_report
from fashion_search.ingest.sync import sync_counts
from fashion_search.ingest.target import finish
from fashion_search.ingest.writer import (
    BackgroundWriter,
    DirectWriter,
    GatheredWriter,
    needs_single_writer,
    payload_lookup,
)

logger = logging.getLogger(__name__)


def run_ingest(cfg: IngestConfig, group: ProcessGroup | None = None, base_store=None) -> dict:
    """base_store: an open ServerStore to write through (an in-process reader of qdrant-client local
    mode holds the only client its directory allows)."""
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
        tagger = _load_tagger(cfg)
        if tagger is not None:
            identity["tagger"] = tagger.identity()   # other tags need a new version (ingest/target.py)

    # 2. Rank 0 picks the version to write, fingerprints the catalog and plans the sync; others wait.
    single_writer = needs_single_writer(cfg.store)
    base_payload_for = payload_lookup(products, catalog.root, canonical_caption)
    store, target, closer, outcome = None, None, (lambda: None), None
    try:
        with timer.stage("plan"):
            target, plan, closer = _plan_on_main(cfg, group, embedder.dim, identity, catalog, products,
                                                 base_payload_for, base_store)
            store = target.store if target is not None else None
            if not group.is_main and not single_writer:
                store = _open_written(cfg, plan["collection"])  # rank 0 created it before answering
        todo: list[int] = plan["todo"]
        fingerprints = {i: Fingerprint(*fp) for i, fp in plan["fingerprints"].items()}

        # 3 + 4. Embed this process's shard, committing batch by batch.
        payload_for = lambda i: with_fingerprint(base_payload_for(i), fingerprints[i])  # noqa: E731
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
            embedded, skipped = _embed_and_write(cfg, group, catalog, products, my_ids, steps, embedder, writer, timer,
                                                 tagger)
        finally:
            if isinstance(writer, BackgroundWriter):
                with timer.stage("write"):
                    writer.close()  # the last batch's upsert; runs before the store closes, even on error
                timer.add("write_thread_sum", writer.busy_seconds)
        loop_seconds = time.perf_counter() - loop_started  # includes the last upsert

        # 5. Rank 0 finishes the version (stale vectors of undecodable images go, optimize, switch).
        shares = group.all_gather({"embedded": embedded, "skipped": skipped, "stages": timer.as_dict(),
                                   "loop_seconds": loop_seconds})
        embedded_ids = {i for share in shares for i in share["embedded"]}
        all_skipped = sorted((item for share in shares for item in share["skipped"]), key=lambda item: item["id"])
        stopped_early = len(embedded_ids) + len(all_skipped) < len(todo)
        if group.is_main:
            sync = plan["sync"]
            stale = [item["id"] for item in all_skipped if item["id"] in set(sync.reembed)]
            if stale:
                store.delete(stale)   # the old image's vector would no longer describe the product
            with timer.stage("optimize"):
                store.optimize()  # after a bulk load, so the HNSW index (not a brute-force scan) serves queries
            counts = sync_counts(sync, embedded_ids)
            points = store.count()
            store = None
            if stopped_early:
                target.store.close()
                logger.warning("stopped early: %s stays unserved; rerun to finish it", target.version.name)
            else:
                changed = bool(embedded_ids or sync.payload_only or sync.to_delete or stale)
                outcome = finish(target, points, counts, cfg.keep, changed)
        group.barrier()
    finally:
        if store is not None:
            store.close()
        closer()

    all_unreadable = sorted(plan["unreadable"] + all_skipped, key=lambda item: item["id"]) if group.is_main else all_skipped
    loop_seconds = max(share["loop_seconds"] for share in shares)
    report = {
        "mode": "ingest",
        "catalog": str(catalog.root), "store": cfg.store, "collection": cfg.collection, "model": identity,
        "processes": group.world_size,
        "total": len(products),
        **({"sync": counts, "unreadable": len(all_unreadable), "points": points, "version": outcome,
            "plan": plan["sync"].summary()} if group.is_main else {}),
        "already_present": len(products) - len(todo),
        "embedded": len(embedded_ids),
        "skipped": len(all_unreadable),
        "skipped_items": all_unreadable,
        "catalog_dropped": catalog_drops,
        "stopped_early": stopped_early,
        "seconds": round(time.perf_counter() - started, 3),
        "embed_loop_seconds": round(loop_seconds, 3),
        "images_per_s": round(len(embedded_ids) / loop_seconds, 2) if loop_seconds > 0 else 0.0,
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


def _load_tagger(cfg: IngestConfig):
    if cfg.tagger is None:
        return None
    from fashion_search.ingest.config import ConfigError
    from fashion_search.tagging import PhotoTagger, TaggerLoadError

    try:
        return PhotoTagger.load(cfg.tagger)
    except TaggerLoadError as error:
        raise ConfigError(f"--tagger: {error}") from None


def _device(cfg: IngestConfig, group: ProcessGroup) -> torch.device:
    if cfg.device:
        return torch.device(cfg.device)
    if group.device is not None:
        return group.device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _open_written(cfg: IngestConfig, collection: str):
    """A process other than rank 0 opens the version rank 0 chose (server stores only)."""
    from fashion_search.store import open_backend

    return open_backend(cfg.store, collection=collection, **cfg.store_options())


def _plan_on_main(cfg: IngestConfig, group: ProcessGroup, dim: int, identity: dict, catalog, products: dict,
                  base_payload_for, base_store=None):
    """Rank 0: pick the version to write (store/versions.py), check/record the model, fingerprint the
    catalog, plan the sync, apply the guard, then the cheap changes (deletes, payload updates).
    Errors reach every process. Returns (target or None, plan dict, closer)."""
    from fashion_search.ingest.fingerprints import (
        FINGERPRINT_SCHEME,
        catalog_fingerprints,
        stored_fingerprints,
        with_fingerprint,
    )
    from fashion_search.ingest.sync import DeletionGuardError, apply_metadata_changes, check_deletion_guard, plan_sync
    from fashion_search.ingest.target import choose_target, open_versions
    from fashion_search.store import StoreError

    target, plan, failure, closer = None, None, None, (lambda: None)
    if group.is_main:
        versions, close_versions = open_versions(cfg.store, cfg.collection, base_store, **cfg.store_options())
        held = contextlib.ExitStack()         # the writer lock, held until the switch is done
        held.callback(close_versions)
        closer = held.close
        try:
            held.enter_context(versions.writing())
            info = {"catalog": str(catalog.root), "fingerprints": FINGERPRINT_SCHEME}
            target = choose_target(versions, dim, identity, info, cfg.rebuild or cfg.recreate, cfg.store_options())
            if target.store.has_words != cfg.words:
                _warn_words_layout(target.store.has_words)
            wanted, unreadable = catalog_fingerprints(catalog, products, base_payload_for)
            sync = plan_sync(wanted, stored_fingerprints(target.store))
            logger.info("sync plan for %s: %s", target.version.name, sync.summary())
            try:
                check_deletion_guard(sync, cfg.max_delete_share, f"{cfg.store} ({cfg.collection})")
            except DeletionGuardError:
                target.store.close()
                if target.kind == "sync" and not target.resumed:
                    versions.discard(target.version)    # the scratch copy; the served index is untouched
                target = None
                raise
            apply_metadata_changes(target.store, sync, lambda i: with_fingerprint(base_payload_for(i), wanted[i]))
            plan = {"todo": sync.to_embed, "collection": target.store.collection,
                    "fingerprints": {i: (wanted[i].image, wanted[i].metadata) for i in sync.to_embed},
                    "sync": sync, "unreadable": unreadable}
        except (StoreError, DeletionGuardError) as error:
            failure = error
            plan = {"error": str(error)}
            if target is not None:
                target.store.close()
                target = None
            closer()
    plan = group.broadcast(plan)
    if "error" in plan:
        raise failure or StoreError(plan["error"])
    return target, plan, closer


def _warn_words_layout(has_words: bool) -> None:
    """A sync keeps the layout of the version it syncs: say how to get the one asked for."""
    if has_words:
        logger.warning("--no-words: this version already holds word vectors and a sync keeps them; add --rebuild "
                       "to build an image-only version")
    else:  # built before the words' vector existed, or with --no-words: it keeps working image-only
        logger.warning("this collection has no word vectors, so searches rank by the image alone; "
                       "rebuild it with `make ingest ARGS=--rebuild` to match words in product names")


def _embed_and_write(cfg, group, catalog, products, my_ids, steps, embedder, writer, timer, tagger=None):
    items = [(product_id, products[product_id].image_ref) for product_id in my_ids]
    # The embedder's preprocessor object, not its bound method: picklable without dragging the model
    # into spawned workers.
    # No loader for an empty shard: iter() would start worker processes just to say "done".
    batches = (iter(make_image_loader(catalog, items, embedder.image_preprocessor, cfg.batch_size, cfg.num_workers,
                                      photos=tagger is not None))
               if items else iter(()))
    embedded, skipped = [], []
    total_images = min(len(items), steps * cfg.batch_size)
    with tqdm(total=total_images, desc=f"embed (rank {group.rank})", unit="img",
              disable=not group.is_main, smoothing=0.1) as progress:
        for _ in range(steps):
            with timer.stage("read_decode_wait"):
                batch = next(batches, None)  # None: this shard is done, but gathered writes still need a step
            ids, vectors, extras = [], np.zeros((0, embedder.dim), dtype=np.float32), []
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
                    if tagger is not None:
                        with timer.stage("tag"):
                            extras = tagger.payload_fields(batch.photos)
            with timer.stage("write"):
                writer.write(ids, vectors, extras if tagger is not None else None)
            embedded.extend(int(i) for i in ids)
            progress.update(len(ids) + (len(batch.skipped) if batch is not None else 0))
            progress.set_postfix(skipped=len(skipped), refresh=False)
    del batches  # shuts DataLoader workers down now, also when max_batches stopped the loop early
    return embedded, skipped
