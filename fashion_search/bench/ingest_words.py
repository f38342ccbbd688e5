"""Ingest-words section: the real ingest job writing the image vector + the names' sparse BM25 vector
(the default) vs the same job with --no-words (the image vector only), on the same products.

Each repetition runs fashion_search.ingest's run_ingest twice into fresh Edge stores, once per side, the
order alternating per repetition; ratios are medians of each back-to-back pair (timing.paired_ratio).
The words cost CPU in two places: at upsert (tokenising each name, on the job's background writer
thread, and the sparse vector's insert) and at the final optimize (the sparse index is built with the
segments). So three rates per side:

  loop     the embed loop (decode wait + encode + upsert), the ingest section's figure;
  indexed  the loop + the final optimize: everything that grows with the catalog. Target: with words
           >= 0.90 x without;
  job      the whole job, model load and catalog read included (a small catalog over-weights them).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from fashion_search.bench.timing import median, paired_ratio
from fashion_search.store import open_store

log = logging.getLogger(__name__)

RATIO_TARGET = 0.90
RATES = ("loop", "indexed", "job")


def _rates(report: dict) -> dict[str, float]:
    embedded, loop_s = report["embedded"], report["embed_loop_seconds"]
    indexed_s = loop_s + report["stages"].get("optimize", 0.0)
    return {"loop": embedded / loop_s, "indexed": embedded / indexed_s, "job": embedded / report["seconds"]}


def _check_words(store: str, collection: str, side: str, images: int) -> None:
    """The side measured what it claims: the store holds the words exactly when it should."""
    words = side == "with_words"
    with open_store(store, collection=collection) as opened:
        if opened.has_words != words or opened.count() != images:
            raise RuntimeError(f"ingest {'with' if words else 'without'} words built a store with has_words="
                               f"{opened.has_words} and {opened.count()} of {images} points: the comparison is void")


def paired_ingest(model_dir: str, catalog_dir: str, images: int, batch_size: int, num_workers: int, reps: int,
                  sides: dict[str, dict], check_layout, device: str | None = None, prefix: str = "bench-ingest-") -> dict:
    """The real ingest job run once per side and repetition into fresh Edge stores, the two sides' order
    alternating; sides: {name: IngestConfig flags}, the first side is the numerator of every ratio.
    check_layout(store, collection, side, images) vouches, after each side's first run, that it built what it says."""
    from fashion_search.ingest.config import IngestConfig
    from fashion_search.ingest.runner import run_ingest

    names = list(sides)
    rates: dict[str, dict[str, list[float]]] = {side: {rate: [] for rate in RATES} for side in names}
    embedded = []
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:

        def ingest_once(rep: int, side: str) -> None:
            store = str(Path(tmp) / f"{side}-{rep}")
            cfg = IngestConfig(catalog=catalog_dir, model=model_dir, store=store, collection="bench",
                               batch_size=batch_size, num_workers=num_workers, limit=images, device=device,
                               report=str(Path(tmp) / f"report-{side}-{rep}.json"), **sides[side])
            report = run_ingest(cfg)
            if report["skipped"] or not report["embedded"]:
                raise RuntimeError(f"ingest embedded {report['embedded']} images and skipped {report['skipped']}: "
                                   "the benchmark catalog is broken")
            embedded.append(report["embedded"])
            for name, value in _rates(report).items():
                rates[side][name].append(value)
            if rep == 0:
                check_layout(store, "bench", side, report["embedded"])

        for rep in range(reps):
            for side in names if rep % 2 == 0 else names[::-1]:
                ingest_once(rep, side)
    if len(set(embedded)) != 1:
        raise RuntimeError(f"the runs embedded different numbers of images: {sorted(set(embedded))}")
    out = {"images": embedded[0], "batch_size": batch_size, "num_workers": num_workers, "reps": reps,
           "catalog": catalog_dir}
    for side in names:
        out[side] = {f"{rate}_images_per_s": median(rates[side][rate]) for rate in RATES}
    for rate in RATES:
        out[f"{rate}_ratio"] = paired_ratio(rates[names[0]][rate], rates[names[1]][rate])
    return out


def run(model_dir: str, catalog_dir: str, images: int, batch_size: int, num_workers: int, reps: int,
        device: str | None = None) -> dict:
    out = paired_ingest(model_dir, catalog_dir, images, batch_size, num_workers, reps,
                        {"with_words": {"words": True}, "without_words": {"words": False}}, _check_words, device,
                        prefix="bench-ingest-words-")
    out.update(ratio_target=RATIO_TARGET, ratio_met=out["indexed_ratio"] >= RATIO_TARGET)
    return out
