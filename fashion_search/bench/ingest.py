"""Ingest section: the real ingest job's images/s vs the image encoder alone on the same batches.

Each repetition runs fashion_search.ingest's run_ingest into a fresh Edge store (DataLoader
workers decoding + preprocessing, the model, upserts) and, interleaved with it, encodes the same
products' already preprocessed pixels in batches of the same size. Target: ingest >= 0.85 x encoder.

Ratios are medians over repetitions of each back-to-back pair. Two are reported: `loop` (the job's
own embed-loop rate: decode wait + encode + upsert, what
scales with catalog size) and `job` (everything incl. model load, catalog read and the final HNSW
optimize, which a benchmark-sized catalog over-weights). The target applies to `loop`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import torch

from fashion_search.bench.timing import median, paired_ratio
from fashion_search.catalog.products import open_catalog

log = logging.getLogger(__name__)

RATIO_TARGET = 0.85


def preprocessed_batches(embedder, catalog_dir: str, batch_size: int, limit: int) -> list[torch.Tensor]:
    """The pixels the ingest job will embed, decoded and preprocessed up front (not timed)."""
    catalog = open_catalog(catalog_dir)
    products = sorted(catalog.products(), key=lambda p: p.id)[:limit]
    images = [catalog.load_image(p) for p in products]
    return [embedder.preprocess_images(images[s:s + batch_size]) for s in range(0, len(images), batch_size)]


def run(embedder, model_dir: str, catalog_dir: str, images: int, batch_size: int, num_workers: int, reps: int,
        device: str | None = None) -> dict:
    from fashion_search.ingest.config import IngestConfig
    from fashion_search.ingest.runner import run_ingest

    batches = preprocessed_batches(embedder, catalog_dir, batch_size, images)
    n_images = sum(len(b) for b in batches)
    # The encoder side runs the ingest job's batch size too (encode_pixels splits by embedder.batch_size).
    embedder_batch_size, embedder.batch_size = embedder.batch_size, batch_size
    embedder.encode_pixels(batches[0])  # warm-up (lazy init, allocator)
    job_rates, loop_rates, encoder_rates = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        for rep in range(reps):

            def ingest_once() -> None:
                cfg = IngestConfig(catalog=catalog_dir, model=model_dir, store=str(Path(tmp) / f"store-{rep}"),
                                   collection="bench", batch_size=batch_size, num_workers=num_workers,
                                   limit=images, recreate=True, device=device,
                                   report=str(Path(tmp) / f"report-{rep}.json"))
                report = run_ingest(cfg)
                if report["embedded"] != n_images or report["skipped"]:
                    raise RuntimeError(f"ingest embedded {report['embedded']} of {n_images} images "
                                       f"({report['skipped']} skipped): the benchmark catalog is broken")
                job_rates.append(report["embedded"] / report["seconds"])
                loop_rates.append(report["images_per_s"])

            def encoder_once() -> None:
                start = time.perf_counter()
                for pixels in batches:
                    embedder.encode_pixels(pixels)
                encoder_rates.append(n_images / (time.perf_counter() - start))

            for step in (ingest_once, encoder_once) if rep % 2 == 0 else (encoder_once, ingest_once):
                step()
    embedder.batch_size = embedder_batch_size
    loop_ratio = paired_ratio(loop_rates, encoder_rates)
    return {
        "images": n_images, "batch_size": batch_size, "num_workers": num_workers, "reps": reps,
        "ingest_loop_images_per_s": median(loop_rates), "ingest_job_images_per_s": median(job_rates),
        "encoder_images_per_s": median(encoder_rates),
        "loop_ratio": loop_ratio, "job_ratio": paired_ratio(job_rates, encoder_rates),
        "ratio_target": RATIO_TARGET, "ratio_met": loop_ratio >= RATIO_TARGET,
    }
