"""Hybrid section: the page's hybrid query on Qdrant Edge at several store sizes (default the catalog's
41,154 products and 1,000,000), against the image-only query on the same store.

Every store is built first (synthetic clustered vectors of the model's width and synthetic payloads
with product names, bench/points.py; the words' BM25 vectors are written at upsert as ingest writes
them; HNSW built once by one optimize), then all sizes are queried in one interleaved loop, so each
ratio is a pair measured side by side. Per size, through Searcher.text as the search page calls it:

  hybrid / image        the store path: the text vector already cached (the page's TextVectorCache,
                        as on a filter click), so what is timed is the named values, the store's
                        query (one per named-values level, each an image + BM25 prefetch fused by the
                        formula) and the hits; image = the same filtered query, IMAGE_ONLY;
  named                 the named-values levels without words (where the levels' share shows);
  hybrid_end_to_end /   the same with the query text encoded every time (search.py's
  image_end_to_end      hybrid_vs_image_p50 at that size; its 1.30 target is judged there).

Queries are search.py's shopper queries ("men black casual shoes" + gender and articleType filters).
Every word of those names a value the levels rank by, so the page matches none of them in the names
(query/search.py) and hybrid ~ named there. The `_detail` forms add the product's brand, a word no level
ranks by ("men black puma casual shoes"): the words' prefetch fetches by it and the other words re-score
its candidates (store/hybrid.py's context words), the page's full hybrid path; their image-only side
ranks the same texts, so both sides of a ratio encode the same words.

The store's vectors are synthetic, so the model's vector for a query text points nowhere in particular
among them, where a trained model's query lands among the products it names. The `_aligned` forms search
the brand queries with a vector from their product's cluster (bench/points.py) instead, text vector
cached, so a run shows whether that direction changes the filtered searches' cost (at 1M it did not:
docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from fashion_search.bench.points import PointGenerator, build_store
from fashion_search.bench.search import RESULT_LIMIT, shopper_products, shopper_queries
from fashion_search.bench.timing import interleaved, latency_summary, paired_ratio, ratio
from fashion_search.query.ranking import IMAGE_ONLY, PAGE_DEFAULT, RankingOptions
from fashion_search.query.search import Searcher, TextVectorCache

log = logging.getLogger(__name__)

FORMS = {"hybrid": PAGE_DEFAULT, "named": RankingOptions(words=False), "image": IMAGE_ONLY}


def _timed(searcher: Searcher, query, options: RankingOptions):
    result = searcher.text(query[0], query[1], limit=RESULT_LIMIT, options=options)
    if not result.hits:
        raise RuntimeError("a filtered benchmark query returned no hits: the store is not filled")
    return result


def size_candidates(n: int, store, embedder, queries, detailed, aligned_vectors) -> dict:
    """The timed calls of one store size, named "<n>/<form>". aligned_vectors: per detailed query, a vector
    among its product's cluster in the synthetic store (what the `_aligned` forms search with)."""
    cached = Searcher(embedder, store, text_cache=TextVectorCache(max_entries=len(queries) + len(detailed)))
    encoding = Searcher(embedder, store)
    aligned = Searcher(embedder, store, text_cache=TextVectorCache(max_entries=len(detailed)))
    for (text, _), vector in zip(detailed, aligned_vectors, strict=True):
        aligned.text_cache.get_or_encode(text, lambda _text, v=vector: v)
    for searcher in (cached, encoding, aligned):
        searcher.named_values("warm up")  # the value index is read from the facets once per searcher
    for text, _ in queries + detailed:
        cached.text(text, limit=1)  # the shopper's first search of each text, untimed
    if not store.has_words:
        raise RuntimeError("the benchmark store holds no words: the hybrid query would rank by image only")
    candidates = {f"{n}/{form}": lambda i, o=options: _timed(cached, queries[i], o) for form, options in FORMS.items()}
    for form in ("hybrid", "image"):
        candidates[f"{n}/{form}_end_to_end"] = lambda i, o=FORMS[form]: _timed(encoding, queries[i], o)
        candidates[f"{n}/{form}_detail"] = lambda i, o=FORMS[form]: _timed(cached, detailed[i], o)
        candidates[f"{n}/{form}_detail_end_to_end"] = lambda i, o=FORMS[form]: _timed(encoding, detailed[i], o)
        candidates[f"{n}/{form}_detail_aligned"] = lambda i, o=FORMS[form]: _timed(aligned, detailed[i], o)
    return candidates


def run(embedder, sizes: list[int], reps: int, seed: int = 0) -> dict:
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"hybrid store sizes {sizes} repeat a size")
    stores, builds, candidates = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-hybrid-") as tmp:
        try:
            for n in sizes:
                generator = PointGenerator(n, embedder.dim, seed)
                stores[n], builds[n] = build_store(str(Path(tmp) / f"edge-{n}"), generator)
                aligned = generator.vectors_for(shopper_products(generator, reps), np.random.default_rng([seed, 4]))
                candidates.update(size_candidates(n, stores[n], embedder, shopper_queries(generator, reps),
                                                  shopper_queries(generator, reps, brand=True), aligned))
            samples = interleaved(candidates, reps)
        finally:
            for store in stores.values():
                store.close()
    out = {"dim": embedder.dim, "filters": "gender + articleType", "limit": RESULT_LIMIT, "sizes": sizes,
           "quantization": "none"}
    for n in sizes:
        entry = {"points": n, "build": builds[n]}
        for name in candidates:
            size, form = name.split("/")
            if int(size) == n:
                entry[form] = latency_summary(samples[name])
        entry["hybrid_vs_image_p50"] = ratio(entry["hybrid"]["p50_ms"], entry["image"]["p50_ms"])
        entry["hybrid_vs_image_p95"] = ratio(entry["hybrid"]["p95_ms"], entry["image"]["p95_ms"])
        # Median of per-query ratios (the two calls of a query run back to back): robust to the
        # scheduler starving the process for a while, which a shared machine does.
        entry["hybrid_vs_image_paired_median"] = paired_ratio(samples[f"{n}/hybrid"], samples[f"{n}/image"])
        entry["named_vs_image_p50"] = ratio(entry["named"]["p50_ms"], entry["image"]["p50_ms"])
        entry["end_to_end_hybrid_vs_image_p50"] = ratio(entry["hybrid_end_to_end"]["p50_ms"],
                                                        entry["image_end_to_end"]["p50_ms"])
        entry["detail_aligned_hybrid_vs_image_p50"] = ratio(entry["hybrid_detail_aligned"]["p50_ms"],
                                                            entry["image_detail_aligned"]["p50_ms"])
        entry["detail_hybrid_vs_image_p50"] = ratio(entry["hybrid_detail"]["p50_ms"], entry["image_detail"]["p50_ms"])
        # Both sides encode the same text: the brand adds tokens, which the image-only side pays for too.
        entry["detail_end_to_end_hybrid_vs_image_p50"] = ratio(entry["hybrid_detail_end_to_end"]["p50_ms"],
                                                               entry["image_detail_end_to_end"]["p50_ms"])
        out[f"edge_{n}"] = entry
    if len(sizes) > 1:
        small, big = min(sizes), max(sizes)
        out[f"hybrid_p50_ratio_{big}_vs_{small}"] = ratio(out[f"edge_{big}"]["hybrid"]["p50_ms"],
                                                          out[f"edge_{small}"]["hybrid"]["p50_ms"])
    return out
