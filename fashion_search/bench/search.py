"""Search section: what the store and plumbing add on top of encoding the query text.

- latency: Searcher.text(query, filters) end to end vs Embedder.encode_texts([query]) alone, the two
  interleaved per query; overhead = p50 end-to-end / p50 encoder - 1 (target <= 15%).
- throughput: the same queries from 4 concurrent client threads vs 1 client, interleaved in blocks.
- threads: one-query encoding with torch's default intra-op threads vs a single thread.
- boosted: the query with the values its words name ranked first (store/boost.py: a filtered search per
  match level until one fills the page), vs the encoder alone.
- hybrid: the query as the page ranks it by default (query/ranking.py: named values first, image and
  the words' BM25 fused inside Qdrant per level), vs the image-only end-to-end query: hybrid_vs_image_p50.
- filter click: the search page's rerun of a text it has just searched with a new filter (its
  TextVectorCache holds the vector), vs the encoder alone: what a shopper narrowing results waits for.

The store holds synthetic clustered vectors of the model's width (bench/points.py) and synthetic
payloads, as many as the real catalog has products, so search cost matches a real collection.
"""

from __future__ import annotations

import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import torch

from fashion_search.bench.points import PointGenerator, build_store
from fashion_search.bench.timing import interleaved, latency_summary, paired_ratio, ratio
from fashion_search.query.ranking import IMAGE_ONLY, RankingOptions
from fashion_search.query.search import Searcher, TextVectorCache
from fashion_search.store import Filters

log = logging.getLogger(__name__)
# Hybrid query p50 / image-only end-to-end p50, both through Searcher.text with encoding.
HYBRID_TARGET = 1.30

OVERHEAD_TARGET = 0.15
CLIENTS = 4
RESULT_LIMIT = 24  # what the search page asks for


def shopper_products(generator: PointGenerator, count: int) -> list[dict]:
    """The products shopper_queries are drawn from, in order: a fixed stride, varied but reproducible."""
    return [generator.pool[(i * 7919) % len(generator.pool)] for i in range(count)]


def shopper_queries(generator: PointGenerator, count: int, brand: bool = False) -> list[tuple[str, Filters]]:
    """("men black casual shoes", gender=Men + articleType=Casual Shoes)-style queries; with `brand`, the
    same queries with the product's brand (its name's first word) before the type: "men black puma
    casual shoes", a word no named-values level ranks by."""
    out = []
    for p in shopper_products(generator, count):
        words = [p["gender"], p["baseColour"], *([p["name"].split()[0]] if brand else []), p["articleType"]]
        text = " ".join(words).lower()
        out.append((text, Filters({"gender": [p["gender"]], "articleType": [p["articleType"]]})))
    return out


def concurrent_qps(searcher: Searcher, queries: list[tuple[str, Filters]], rounds: int) -> dict:
    """Queries per second with CLIENTS threads vs one, alternating which goes first each round."""
    elapsed = {"clients_4": 0.0, "clients_1": 0.0}

    def one(query) -> int:
        return len(searcher.text(query[0], query[1], limit=RESULT_LIMIT, options=IMAGE_ONLY).hits)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        list(pool.map(one, queries[:CLIENTS]))  # warm the threads
        for r in range(rounds):
            modes = ["clients_4", "clients_1"] if r % 2 == 0 else ["clients_1", "clients_4"]
            for mode in modes:
                start = time.perf_counter()
                found = list(pool.map(one, queries)) if mode == "clients_4" else [one(q) for q in queries]
                elapsed[mode] += time.perf_counter() - start
                if not all(found):
                    raise RuntimeError("a filtered benchmark query returned no hits: the store is not filled")
    total = len(queries) * rounds
    qps4, qps1 = total / elapsed["clients_4"], total / elapsed["clients_1"]
    return {"qps_4_clients": qps4, "qps_1_client": qps1, "qps_ratio_4_vs_1": ratio(qps4, qps1)}


def thread_comparison(embedder, texts: list[str]) -> dict:
    """One-query text encoding with torch's default intra-op threads vs one thread, alternating.

    On a busy machine a multi-threaded op waits for every worker thread to get a core, which can
    cost far more than the op itself; this pair shows whether the search process should pin torch
    to one thread for single queries.
    """
    default_threads = torch.get_num_threads()
    samples = {"default": [], "one": []}
    try:
        for i, text in enumerate(texts):
            for mode in ("default", "one") if i % 2 == 0 else ("one", "default"):
                torch.set_num_threads(default_threads if mode == "default" else 1)  # outside the timed call
                start = time.perf_counter()
                embedder.encode_texts([text])
                samples[mode].append((time.perf_counter() - start) * 1000.0)
    finally:
        torch.set_num_threads(default_threads)
    default, one = latency_summary(samples["default"]), latency_summary(samples["one"])
    return {"torch_threads_default": default_threads, "encoder_default_threads": default, "encoder_one_thread": one,
            "one_thread_speedup_p50": ratio(default["p50_ms"], one["p50_ms"])}


def run(embedder, points: int, reps: int, qps_rounds: int, seed: int = 0) -> dict:
    generator = PointGenerator(points, embedder.dim, seed)
    queries = shopper_queries(generator, reps)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        store, build = build_store(tmp, generator)
        try:
            searcher = Searcher(embedder, store)  # no text cache: every query pays for its encoding
            page = Searcher(embedder, store, text_cache=TextVectorCache(max_entries=len(queries)))
            for text, _ in queries:
                page.text(text, limit=1)  # the shopper's first search of each text, untimed
            searcher.named_values("warm up")  # the value index is read from the facets once per searcher
            samples = interleaved({
                "end_to_end": lambda i: searcher.text(queries[i][0], queries[i][1], limit=RESULT_LIMIT,
                                                      options=IMAGE_ONLY),
                # The values the words name (less those filtered on) rank first.
                "boosted": lambda i: searcher.text(queries[i][0], queries[i][1], limit=RESULT_LIMIT,
                                                   options=RankingOptions(words=False)),
                # The page's default ranking: named values first, image + words inside each level.
                "hybrid": lambda i: searcher.text(queries[i][0], queries[i][1], limit=RESULT_LIMIT),
                "encoder": lambda i: embedder.encode_texts([queries[i][0]]),
                "filter_click": lambda i: page.text(queries[i][0], queries[i][1], limit=RESULT_LIMIT,
                                                    options=IMAGE_ONLY),
            }, reps)
            throughput = concurrent_qps(searcher, queries[: max(CLIENTS * 4, reps // 2)], qps_rounds)
            threads = thread_comparison(embedder, [text for text, _ in queries])
        finally:
            store.close()
    e2e, enc = latency_summary(samples["end_to_end"]), latency_summary(samples["encoder"])
    click, boosted = latency_summary(samples["filter_click"]), latency_summary(samples["boosted"])
    hybrid = latency_summary(samples["hybrid"])
    overhead = ratio(e2e["p50_ms"], enc["p50_ms"]) - 1.0
    return {
        "points": points, "dim": embedder.dim, "filters": "gender + articleType", "limit": RESULT_LIMIT,
        "end_to_end": e2e, "encoder": enc,
        "overhead_p50": overhead, "added_p50_ms": e2e["p50_ms"] - enc["p50_ms"],
        # Median of per-query ratios (the two calls of a query run back to back): robust to the
        # scheduler starving the process for a while, which a shared machine does.
        "overhead_paired_median": paired_ratio(samples["end_to_end"], samples["encoder"]) - 1.0,
        "overhead_p95": ratio(e2e["p95_ms"], enc["p95_ms"]) - 1.0,
        "overhead_target": OVERHEAD_TARGET, "overhead_met": overhead <= OVERHEAD_TARGET,
        "filter_click": click, "filter_click_vs_encoder_p50": ratio(click["p50_ms"], enc["p50_ms"]),
        "boosted": boosted, "boosted_overhead_p50": ratio(boosted["p50_ms"], enc["p50_ms"]) - 1.0,
        "boost_added_p50_ms": boosted["p50_ms"] - e2e["p50_ms"],
        "hybrid": hybrid, "hybrid_vs_image_p50": ratio(hybrid["p50_ms"], e2e["p50_ms"]),
        "hybrid_target": HYBRID_TARGET, "hybrid_met": ratio(hybrid["p50_ms"], e2e["p50_ms"]) <= HYBRID_TARGET,
        "boosted_queries": sum(bool(searcher.named_values(*q)) for q in queries),  # of `reps` queries
        **throughput, **threads,
        "store_build": build,
    }
