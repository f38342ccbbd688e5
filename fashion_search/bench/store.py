"""Store section: filtered search latency on Qdrant Edge at catalog size and at 1M, and Edge vs
qdrant-client local mode.

All stores are built first, then queried in one interleaved loop (every size, filtered, unfiltered and
filtered + a boosted colour as the search page sends it, alternating order), so the comparisons are
paired. Targets: filtered p50 <= 2 ms at
41k and <= 20 ms at 1M vectors on 2 CPU cores. Vectors have the model's width by default (128 for
the small preset, 512 for ViT-B/32) with synthetic clustered contents (bench/points.py). int8 scalar
quantization is the default (1M x 512 float32 is 2 GB; int8 keeps a quarter-size copy in RAM for
the graph walk and rescores with the originals); --quantization none measures without it.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from fashion_search.bench.points import PointGenerator, build_store
from fashion_search.bench.timing import interleaved, latency_summary, ratio

log = logging.getLogger(__name__)

RESULT_LIMIT = 24
# Filtered p50 targets by store size; other sizes are measured without a target.
TARGET_P50_MS = {41_154: 2.0, 1_000_000: 20.0}


def _search(store, query, filtered: bool, boosted: bool = False):
    vector, filters = query[:2]
    boost = query[2] if boosted else ()
    hits = store.search(vector, filters=filters if filtered else None, limit=RESULT_LIMIT, boost=boost)
    if not hits:
        raise RuntimeError("a benchmark query returned no hits: the store is not filled")
    return hits


def edge_sizes(tmp: Path, sizes: list[int], dim: int, reps: int, quantization: str | None, seed: int) -> tuple[dict, dict]:
    """Filtered and unfiltered p50/p95 per size, interleaved; returns (figures, {size: store})."""
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"store sizes {sizes} repeat a size")
    stores, builds, queries = {}, {}, {}
    for n in sizes:
        generator = PointGenerator(n, dim, seed)
        stores[n], builds[n] = build_store(str(tmp / f"edge-{n}"), generator, quantization=quantization)
        queries[n] = generator.queries(reps, with_boost=True)
    candidates = {}
    for n in sizes:
        for filtered in (True, False):
            name = f"{n}/{'filtered' if filtered else 'unfiltered'}"
            candidates[name] = lambda i, n=n, filtered=filtered: _search(stores[n], queries[n][i], filtered)
        # The page's default: the same filtered query with the colour it names ranked first.
        candidates[f"{n}/boosted"] = lambda i, n=n: _search(stores[n], queries[n][i], True, boosted=True)
    samples = interleaved(candidates, reps)
    figures = {}
    for n in sizes:
        filtered, unfiltered = latency_summary(samples[f"{n}/filtered"]), latency_summary(samples[f"{n}/unfiltered"])
        boosted = latency_summary(samples[f"{n}/boosted"])
        entry = {"points": n, "filtered": filtered, "unfiltered": unfiltered, "boosted": boosted,
                 "filtered_vs_unfiltered_p50": ratio(filtered["p50_ms"], unfiltered["p50_ms"]),
                 "boosted_vs_filtered_p50": ratio(boosted["p50_ms"], filtered["p50_ms"]), "build": builds[n]}
        if n in TARGET_P50_MS:
            entry["filtered_p50_target_ms"] = TARGET_P50_MS[n]
            entry["filtered_p50_met"] = filtered["p50_ms"] <= TARGET_P50_MS[n]
        figures[f"edge_{n}"] = entry
    if len(sizes) > 1:
        small, big = min(sizes), max(sizes)
        figures[f"filtered_p50_ratio_{big}_vs_{small}"] = ratio(
            figures[f"edge_{big}"]["filtered"]["p50_ms"], figures[f"edge_{small}"]["filtered"]["p50_ms"])
    return figures, stores


def edge_vs_local(edge_store, n: int, dim: int, reps: int, seed: int) -> dict:
    """The same filtered queries on Edge and on qdrant-client local mode (:memory:), interleaved."""
    generator = PointGenerator(n, dim, seed)
    local, build = build_store(":memory:", generator)
    try:
        queries = generator.queries(reps, seed=2)
        samples = interleaved({"edge": lambda i: _search(edge_store, queries[i], True),
                               "local_mode": lambda i: _search(local, queries[i], True)}, reps, warmup=1)
    finally:
        local.close()
    edge, local_mode = latency_summary(samples["edge"]), latency_summary(samples["local_mode"])
    return {"points": n, "edge": edge, "local_mode": local_mode, "local_build": build,
            "edge_speedup_p50": ratio(local_mode["p50_ms"], edge["p50_ms"])}


def run(sizes: list[int], dim: int, reps: int, quantization: str | None, local_points: int, local_reps: int,
        seed: int = 0) -> dict:
    if local_points not in sizes:
        raise ValueError(f"local-mode comparison size {local_points} must be one of the Edge sizes {sizes}")
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        figures, stores = edge_sizes(Path(tmp), sizes, dim, reps, quantization, seed)
        try:
            figures["edge_vs_local_mode"] = edge_vs_local(stores[local_points], local_points, dim, local_reps, seed)
        finally:
            for store in stores.values():
                store.close()
    return {"dim": dim, "quantization": quantization or "none", "filters": "gender + articleType",
            "limit": RESULT_LIMIT, **figures}
