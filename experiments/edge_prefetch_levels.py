"""Reproduce the Qdrant Edge behaviour that made store/boost.py search each match level separately.

Copies a filled store's points into fresh stores with forced HNSW (1 KB thresholds) and, per build,
counts how many of a selective filter's true top 10 come back (a) from the filter as a plain query,
(b) as a request's only prefetch, (c) as one of three prefetches with other filters (the shape of
the earlier single-request boosted search). Measured (2026-12-02, qdrant-edge-py 0.9.0, .qdrant of `make demo`, 41,154
products, "panties for women", Briefs and Women): (a) 10 and (b) 10 in every build, (c) 0 in 7 of 8
(two runs of 4 builds).

    python experiments/edge_prefetch_levels.py --store .qdrant --model runs/demo/best [--builds 4]
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import qdrant_edge as qe
from boost_recall import (  # experiments/ is on sys.path when run as `python experiments/...`
    forced_hnsw_copy,
    read_points,
)

from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder
from fashion_search.store.edge_requests import boost_conditions, search_params, to_edge_filter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=".qdrant")
    parser.add_argument("--collection", default="products")
    parser.add_argument("--model", required=True, help="the model the store was ingested with")
    parser.add_argument("--query", default="panties for women")
    parser.add_argument("--builds", type=int, default=4)
    args = parser.parse_args()
    named = [("articleType", "Briefs"), ("gender", "Women")]
    ids, vectors, payloads = read_points(args.store, args.collection)
    vector = [float(x) for x in Embedder(*load_clip(args.model)).encode_texts([args.query])[0]]
    selective = np.array([all(p.get(f) == v for f, v in named) for p in payloads])
    want = set(ids[selective][np.argsort(-(vectors[selective] @ np.array(vector)))[:10]].tolist())
    for build in range(args.builds):
        with tempfile.TemporaryDirectory() as tmp:
            store = forced_hnsw_copy(tmp, ids, vectors, payloads)
            conditions = boost_conditions(named)
            levels = [to_edge_filter(None, at_least=(conditions, m)) for m in range(len(conditions) + 1)]
            params = search_params(store.options, True, False)

            def found(prefetch_filters) -> int:
                prefetches = [qe.Prefetch(limit=10, query=qe.Query.Nearest(vector), filter=f, params=params)
                              for f in prefetch_filters]
                request = qe.QueryRequest(limit=40, prefetches=prefetches, query=qe.Query.Nearest(vector),
                                          with_payload=False, with_vector=False, params=params)
                return len(want & {p.id for p in store._require().query(request)})

            direct = store._require().query(qe.QueryRequest(
                limit=10, query=qe.Query.Nearest(vector), filter=levels[-1], with_payload=False, with_vector=False,
                params=params))
            print(f"build {build}: plain query {len(want & {p.id for p in direct})}/10, only prefetch "
                  f"{found(levels[-1:])}/10, one of three prefetches {found(levels)}/10", flush=True)
            store.close()


if __name__ == "__main__":
    main()
