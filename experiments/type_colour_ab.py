"""The page's search at 1M points with the store's type/colour keyword condition on and off, same store.

store/type_colour.py adds one condition on a derived "articleType/baseColour" keyword to every filter
that names a type and a colour (the page's top named-values level). This times the page's calls
(Searcher.text, as bench/hybrid.py does: brand queries "men black puma casual shoes", gender +
articleType filters) with that condition applied and withheld, call by call in one interleaved loop:

  hybrid_* / named_*    text vector cached: the page's hybrid query, and the named-values levels
                        without words; image = the image-only query (no level, no keyword)
  e2e_*                 the same with the query text encoded every time: the bench's end-to-end ratio

and checks that both give the same hits (a difference is printed with both lists).

    python experiments/type_colour_ab.py --model runs/small/best --store /tmp/tc-1m [--points 1000000] [--reps 100]

The store is built on the first run (1M points: ~11 min on an idle host) and reused after.
Results: docs/benchmarks.md ("A derived type/colour keyword").
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fashion_search.bench.points import PointGenerator, build_store
from fashion_search.bench.search import RESULT_LIMIT, shopper_queries
from fashion_search.bench.timing import interleaved, latency_summary
from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder
from fashion_search.query.ranking import IMAGE_ONLY, PAGE_DEFAULT, RankingOptions
from fashion_search.query.search import Searcher, TextVectorCache
from fashion_search.store import open_store
from fashion_search.store.serving import pin

FORMS = {"hybrid": PAGE_DEFAULT, "named": RankingOptions(words=False)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the CLIP whose text vectors query the store")
    parser.add_argument("--store", required=True, help="directory for the bench store (built when absent)")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=100)
    args = parser.parse_args()
    embedder = Embedder(*load_clip(args.model), device="cpu")
    generator = PointGenerator(args.points, embedder.dim, 0)
    if (Path(args.store) / "bench" / "edge_config.json").is_file():
        store = open_store(args.store, collection="bench")
    else:
        store, _ = build_store(args.store, generator)
    with pin(store) as (_, backend):
        pass
    if not backend.type_colour_indexed:
        raise SystemExit(f"{args.store} was built before the type/colour keyword: delete it to rebuild")
    queries = shopper_queries(generator, args.reps, brand=True)
    cached = Searcher(embedder, store, text_cache=TextVectorCache(max_entries=len(queries)))
    encoding = Searcher(embedder, store)
    for searcher in (cached, encoding):
        searcher.named_values("warm up")

    def call(searcher, options, keyword: bool):
        def run(i: int):
            backend.type_colour_indexed = keyword     # withheld: the filters Qdrant got before
            try:
                return searcher.text(queries[i][0], queries[i][1], limit=RESULT_LIMIT, options=options).hits
            finally:
                backend.type_colour_indexed = True
        return run

    for name, options in FORMS.items():
        for i, (text, _) in enumerate(queries):
            with_keyword, without = call(cached, options, True)(i), call(cached, options, False)(i)
            if [h.id for h in with_keyword] != [h.id for h in without]:
                print(f"{name} differs for {text!r}:\n  keyword {[(h.id, round(h.score, 5)) for h in with_keyword]}"
                      f"\n  without {[(h.id, round(h.score, 5)) for h in without]}")
    candidates = {"image": call(cached, IMAGE_ONLY, True), "e2e_image": call(encoding, IMAGE_ONLY, True)}
    for name, options in FORMS.items():
        for keyword in (True, False):
            tag = "keyword" if keyword else "without"
            candidates[f"{name}_{tag}"] = call(cached, options, keyword)
            if name == "hybrid":
                candidates[f"e2e_hybrid_{tag}"] = call(encoding, options, keyword)
    samples = interleaved(candidates, args.reps)
    p50 = {}
    for name, values in samples.items():
        summary = latency_summary(values)
        p50[name] = summary["p50_ms"]
        print(f"{name:22s} p50 {summary['p50_ms']:6.2f} ms  p95 {summary['p95_ms']:6.2f} ms")
    print(f"end to end, hybrid / image-only: with the keyword {p50['e2e_hybrid_keyword'] / p50['e2e_image']:.3f}, "
          f"without {p50['e2e_hybrid_without'] / p50['e2e_image']:.3f}")
    store.close()


if __name__ == "__main__":
    main()
