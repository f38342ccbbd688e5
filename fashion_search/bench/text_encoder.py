"""Text-encoder section: one query at a time on one CPU thread, torch vs ONNX Runtime float32 vs int8.

The model's text tower is exported (model/onnx_export.py) into the bench's temp dir, so the model
directory is left alone. The three encoders of the same weights then alternate query by query
(bench/timing.interleaved): torch pinned to one intra-op thread and ONNX Runtime given one, the
search page's setting for single queries. Figures: onnx p50 / torch p50 (target <= 0.40) and
onnx-int8 p50 / torch p50 (target <= 0.20), targets judged on the ViT-B/32 architecture; the median
of per-query paired ratios; each ONNX model's smallest and mean cosine to the torch vectors over the
shoppers' queries (targets >= 0.999 float32, >= 0.99 int8).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from fashion_search.bench.timing import (
    interleaved,
    latency_summary,
    paired_ratio,
    ratio,
)
from fashion_search.evaluation.queries import HELDOUT_SHOPPER_QUERIES, SHOPPER_QUERIES
from fashion_search.model.embed import Embedder
from fashion_search.model.onnx_export import (
    FP32_MIN_COSINE,
    INT8_MIN_COSINE,
    export_text_encoder,
)
from fashion_search.model.onnx_text import OnnxTextEmbedder

log = logging.getLogger(__name__)

ONNX_TARGET = 0.40
INT8_TARGET = 0.20
ENCODERS = ("torch", "onnx", "onnx_int8")


def bench_queries() -> list[str]:
    """The hand-written shopper queries, as people type them into the search box."""
    return [text for text, _ in SHOPPER_QUERIES + HELDOUT_SHOPPER_QUERIES]


def cosine_stats(vectors: np.ndarray, reference: np.ndarray) -> dict:
    cosines = (vectors * reference).sum(axis=1)  # rows are unit vectors
    return {"min": float(cosines.min()), "mean": float(cosines.mean())}


def run(model, processor, model_dir: str, export_dir: Path, reps: int) -> dict:
    """model/processor: the loaded CLIP on the CPU (shared by all three encoders)."""
    started = time.perf_counter()
    manifest = export_text_encoder(model_dir, export_dir=export_dir)
    export_s = time.perf_counter() - started
    identity = manifest["model"]
    encoders = {
        "torch": Embedder(model, processor, device="cpu"),
        "onnx": OnnxTextEmbedder(model, processor, model_dir, identity, "fp32", device="cpu", threads=1,
                                 export_dir=export_dir),
        "onnx_int8": OnnxTextEmbedder(model, processor, model_dir, identity, "int8", device="cpu", threads=1,
                                      export_dir=export_dir),
    }
    queries = bench_queries()
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        samples = interleaved({name: (lambda i, e=encoder: e.encode_texts([queries[i % len(queries)]]))
                               for name, encoder in encoders.items()}, reps)
        vectors = {name: np.concatenate([e.encode_texts([q]) for q in queries]) for name, e in encoders.items()}
    finally:
        torch.set_num_threads(torch_threads)
    latency = {name: latency_summary(samples[name]) for name in ENCODERS}
    out = {"threads": 1, "queries": len(queries), "reps": reps, "export_s": export_s, "opset": manifest["opset"],
           "onnx_mb": manifest["files"]["fp32"]["bytes"] / 1e6, "int8_mb": manifest["files"]["int8"]["bytes"] / 1e6,
           "latency": latency}
    for name, target, floor in (("onnx", ONNX_TARGET, FP32_MIN_COSINE), ("onnx_int8", INT8_TARGET, INT8_MIN_COSINE)):
        value = ratio(latency[name]["p50_ms"], latency["torch"]["p50_ms"])
        cosine = cosine_stats(vectors[name], vectors["torch"])
        out[name] = {"p50_ratio": value, "paired_median_ratio": paired_ratio(samples[name], samples["torch"]),
                     "target": target, "met": value <= target, "cosine": cosine, "cosine_floor": floor,
                     "cosine_met": cosine["min"] >= floor}
    log.info("text encoder p50 ms: %s", {k: round(v["p50_ms"], 2) for k, v in latency.items()})
    return out
