"""At 1M 128-d points, is the named-values level faster through the HNSW graph than by Qdrant's exact
scan, and at what recall?

The page's top level filters by the shopper's facets and the values the query names (gender, articleType,
colour): a few thousand points, under Qdrant's full-scan threshold (10,000 KB of vectors = 20k 128-d
ones), so Qdrant evaluates the filter and scans its points (6-13 ms at 1M, docs/benchmarks.md). A store
built with a lower `full_scan_threshold_kb` sends such filters through the graph with ACORN instead.

Takes two stores built by the bench's build_store from the same PointGenerator (1M, 128-d, seed 0), one
with the default threshold and one with a lower one, and times the boosted search (the page's
named-values levels, no words) on both, interleaved, with recall@24 of each against its exact search:

    python experiments/named_levels_threshold.py --stores /tmp/default:10000 /tmp/kb1000:1000

Results: docs/benchmarks.md ("Hybrid search when the words naming catalog values are left to the levels").
"""

from __future__ import annotations

import argparse
import statistics
import time

from fashion_search.bench.points import PointGenerator
from fashion_search.store import open_store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stores", nargs="+", required=True, help="PATH:THRESHOLD_KB, built with collection 'bench'")
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()

    stores = {label: open_store(label.rsplit(":", 1)[0], collection="bench") for label in args.stores}
    queries = PointGenerator(args.points, args.dim, 0).queries(args.queries, with_boost=True)
    times = {label: [] for label in stores}
    recall = {label: [] for label in stores}
    for vector, filters, boost in queries:
        for label, store in stores.items():   # warm, and the exact answer for recall
            exact = {h.id for h in store.search(vector, filters, limit=24, exact=True, boost=boost)}
            found = {h.id for h in store.search(vector, filters, limit=24, boost=boost)}
            recall[label].append(len(exact & found) / max(1, len(exact)))
    for _ in range(args.reps):
        for vector, filters, boost in queries:
            for label, store in stores.items():
                start = time.perf_counter()
                store.search(vector, filters, limit=24, boost=boost)
                times[label].append(1000 * (time.perf_counter() - start))
    for label in stores:
        ordered = sorted(times[label])
        print(f"{label}: named-values levels p50 {statistics.median(ordered):.2f} ms, "
              f"p95 {ordered[int(0.95 * len(ordered))]:.2f} ms, recall@24 vs exact {statistics.mean(recall[label]):.4f}")
    for store in stores.values():
        store.close()


if __name__ == "__main__":
    main()
