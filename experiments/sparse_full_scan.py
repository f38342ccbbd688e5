"""At which filtered-candidate count should Qdrant score the words' BM25 by scanning the filtered
products instead of walking the query words' posting lists?

Qdrant decides per filtered sparse search: when the filter's estimated cardinality (its upper bound)
is below the sparse index's `full_scan_threshold` (default 5,000 points) it scores the filtered points
one by one ("plain"); above it, it walks every posting list of the query's words and checks the filter
on each entry. Frequent words ("men", "shoes") have posting lists of a large share of the catalog, so
at 1M points a filter of a few thousand products costs tens of milliseconds the second way.

The probe takes one built Edge store (the bench's synthetic points with names), copies it once per
threshold, sets the threshold in the copies' segment configs (so one 25-minute build serves every
value), and times the page's hybrid query (and the same matching every query word, as it did before words
naming catalog values were left to the levels), interleaved across the copies, for three query kinds:

  shopper      "men black casual shoes" + gender and articleType filters (the bench's queries);
  descriptive  "printed dress"-style: a detail word of the names + the type, no filter;
  broad        "men printed t-shirt" with only a gender filter (a large filtered set).

    python experiments/sparse_full_scan.py --store /tmp/sparse1m/edge --model runs/small/best \
        --thresholds 5000,20000,50000,100000,200000

Found (2026-12-04, 1M points, 128-d): the patched threshold changed nothing measurable (shopper hybrid
p50 22.3-22.8 ms at every value), but neither did a patched HNSW full_scan_threshold on a dense query,
so Qdrant Edge may not take index parameters from a segment's config file at load: inconclusive at 1M.
Two 200k stores built with the threshold at 1 and at 10^9 (open_store's option, removed since) answered
one frequent word under a named-values filter in 1.36 vs 1.01 ms. At 1M a dense search under the same
three-condition filter takes 6-13 ms exact or not (the filter's evaluation costs), so a scan would not
be much cheaper than the posting lists; what removed the cost is matching only the words that name no
ranked value (shopper hybrid 21.8 -> 6.7 ms: docs/hybrid.md, docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

from fashion_search.bench.points import PointGenerator
from fashion_search.bench.search import shopper_products
from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder
from fashion_search.query.ranking import IMAGE_ONLY, PAGE_DEFAULT, RankingOptions
from fashion_search.query.search import Searcher, TextVectorCache
from fashion_search.store import Filters, open_store

DETAILS = ("printed", "striped", "slim fit", "sleeveless", "training", "solid", "checked")


def patch_threshold(store_dir: Path, threshold: int) -> int:
    """Set the words vector's full_scan_threshold in every segment config under store_dir."""
    patched = 0
    for segment_json in store_dir.rglob("segment.json"):
        config = json.loads(segment_json.read_text())
        sparse = config["config"].get("sparse_vector_data", {})
        for params in sparse.values():
            params["index"]["full_scan_threshold"] = threshold
            patched += 1
        segment_json.write_text(json.dumps(config))
    return patched


def queries(generator: PointGenerator, count: int) -> dict[str, list[tuple[str, Filters | None]]]:
    shopper, descriptive, broad = [], [], []
    for i, p in enumerate(shopper_products(generator, count)):
        shopper.append((f"{p['gender']} {p['baseColour']} {p['articleType']}".lower(),
                        Filters({"gender": [p["gender"]], "articleType": [p["articleType"]]})))
        detail = DETAILS[i % len(DETAILS)]
        descriptive.append((f"{detail} {p['articleType']}".lower(), None))
        broad.append((f"{p['gender']} {detail} {p['articleType']}".lower(), Filters({"gender": [p["gender"]]})))
    return {"shopper": shopper, "descriptive": descriptive, "broad": broad}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, help="an Edge store built by the bench's build_store (Edge dir)")
    ap.add_argument("--collection", default="bench")
    ap.add_argument("--model", required=True)
    ap.add_argument("--points", type=int, default=1_000_000, help="the store's size (regenerates its queries)")
    ap.add_argument("--thresholds", default="5000,20000,50000,100000,200000")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--work", default="/tmp/sparse_full_scan")
    args = ap.parse_args()

    thresholds = [int(t) for t in args.thresholds.split(",")]
    embedder = Embedder(*load_clip(args.model), device="cpu")
    work = Path(args.work)
    stores, searchers = {}, {}
    for t in thresholds:
        copy = work / f"t{t}"
        if not copy.exists():
            shutil.copytree(args.store, copy)
        print(f"threshold {t}: {patch_threshold(copy, t)} sparse segment configs set", flush=True)
        stores[t] = open_store(str(copy), collection=args.collection)
        searchers[t] = Searcher(embedder, stores[t], text_cache=TextVectorCache(max_entries=10_000))
    kinds = queries(PointGenerator(args.points, embedder.dim, 0), args.queries)
    forms = {"hybrid": PAGE_DEFAULT, "every word": RankingOptions(match_named_words=True),
             "named": RankingOptions(words=False), "image": IMAGE_ONLY}
    samples = {(kind, t, form): [] for kind in kinds for t in thresholds for form in forms}
    reference = {}
    for qs in kinds.values():
        for text, filters in qs:  # warm: value index, text vectors, pages
            for t in thresholds:
                hits = searchers[t].text(text, filters, limit=24).hits
                reference.setdefault((text, str(filters)), [h.id for h in hits])
                if [h.id for h in hits] != reference[(text, str(filters))]:
                    print(f"  note: threshold {t} ranks {text!r} differently")
    for _ in range(args.reps):
        for kind, qs in kinds.items():
            for text, filters in qs:
                for t in thresholds:
                    for form, options in forms.items():
                        start = time.perf_counter()
                        searchers[t].text(text, filters, limit=24, options=options)
                        samples[(kind, t, form)].append(1000 * (time.perf_counter() - start))
    print("\np50 ms, hybrid (the page) / hybrid matching every query word / named values without words /"
          " image-only, per full_scan_threshold")
    print(f"{'':<14}" + "".join(f"{t:>32}" for t in thresholds))
    for kind in kinds:
        row = ["{:6.2f} / {:6.2f} / {:5.2f} / {:5.2f}".format(*(statistics.median(samples[(kind, t, form)])
                                                              for form in forms)) for t in thresholds]
        print(f"{kind:<14}" + "".join(f"{c:>32}" for c in row))
    for store in stores.values():
        store.close()


if __name__ == "__main__":
    main()
