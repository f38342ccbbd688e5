"""What a named-values level costs in a large store, and one way around it that was tried and not adopted.

On the bench's synthetic store (bench/points.py), per shopper query with a brand ("men black puma casual
shoes", gender + articleType filters, baseColour named), through Qdrant Edge directly:

  base      the filters alone (gender + articleType): what the image-only search reads
  level     the filters plus the named colour: the named-values level store/boost.py searches first
  count_*   an exact count of each filter: what visiting every matching point costs
  top_level the level's nearest `limit` taken instead from the base filter's 3 x limit nearest images,
            a formula adding 3 to those with the named colour (tried, not adopted; docs/benchmarks.md)
  compound  the level's filter plus one condition on a compound keyword "articleType/baseColour" (with
            --compound: written into every point's payload by filter and indexed on the first run), so
            the most selective condition Qdrant starts from holds the level's own points (since built
            into the store: store/type_colour.py; experiments/type_colour_ab.py times the page with it)

with the query vector among the product's cluster ("aligned", as a trained model's query lands among the
products it names) or the model-free random direction a synthetic store gives a real model's vector.
Also printed: how often the top-level request could certify its answer (its first `limit` all carry the
colour) and whether it then equals the level's own search.

    python experiments/narrow_level_filter.py --points 1000000 --store /tmp/narrow-1m [--reps 100] [--compound]

The store is built on the first run (1M points: ~11 min) and reused after.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import qdrant_edge as qe

from fashion_search.bench.points import PointGenerator, build_store
from fashion_search.bench.search import RESULT_LIMIT, shopper_products, shopper_queries
from fashion_search.bench.timing import interleaved, latency_summary
from fashion_search.query.search import Searcher
from fashion_search.store import open_store
from fashion_search.store.edge_requests import boost_conditions, search_params, to_edge_filter

COMPOUND = "type_colour"
BONUS = 3.0   # cosine similarity is in [-1, 1]: a product with the colour scores above 2, others below 1
DEPTH = 3     # base-filter neighbours read per product needed


def compound_value(product: dict) -> str:
    return f"{product['articleType']}/{product['baseColour']}"


def add_compound(shard, generator: PointGenerator) -> None:
    """The compound keyword on every point, one set-payload-by-filter per (articleType, baseColour) pair."""
    for article_type, colour in sorted({(p["articleType"], p["baseColour"]) for p in generator.pool}):
        flt = qe.Filter(must=[qe.FieldCondition("articleType", match=qe.MatchValue(article_type)),
                              qe.FieldCondition("baseColour", match=qe.MatchValue(colour))])
        shard.update(qe.UpdateOperation.set_payload_by_filter(
            flt, {COMPOUND: compound_value({"articleType": article_type, "baseColour": colour})}))
    shard.update(qe.UpdateOperation.create_field_index(COMPOUND, qe.PayloadSchemaType.Keyword))
    shard.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--store", required=True, help="directory for the store (built when absent)")
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--compound", action="store_true", help="also time the level with a compound condition")
    args = parser.parse_args()
    generator = PointGenerator(args.points, args.dim, 0)
    if (Path(args.store) / "bench" / "edge_config.json").is_file():
        store = open_store(args.store, collection="bench")
    else:
        store, _ = build_store(args.store, generator)
    shard = store._require()
    if args.compound and COMPOUND not in shard.info().payload_schema:
        add_compound(shard, generator)
    queries = shopper_queries(generator, args.reps, brand=True)
    products = shopper_products(generator, args.reps)
    searcher = Searcher(None, store)
    named = [boost_conditions(searcher.named_values(text, filters)) for text, filters in queries]
    base = [to_edge_filter(filters) for _, filters in queries]
    level = [to_edge_filter(filters, at_least=(conditions, len(conditions)))
             for (_, filters), conditions in zip(queries, named)]
    aligned = generator.vectors_for(products, np.random.default_rng([0, 4])).tolist()
    rng = np.random.default_rng(5)
    random = rng.standard_normal((args.reps, args.dim)).astype(np.float32)
    random = (random / np.linalg.norm(random, axis=1, keepdims=True)).tolist()
    compound = [qe.Filter(must=[*flt.must, qe.FieldCondition(COMPOUND, match=qe.MatchValue(compound_value(p)))])
                for flt, p in zip(level, products)]
    params = search_params(store.options, True, False)
    deep_params = qe.SearchParams(hnsw_ef=DEPTH * RESULT_LIMIT, acorn=params.acorn)

    def nearest(vector, flt):
        request = qe.QueryRequest(limit=RESULT_LIMIT, query=qe.Query.Nearest(vector), filter=flt, params=params,
                                  with_payload=True, with_vector=False)
        return [(int(p.id), float(p.score)) for p in shard.query(request)]

    def top_level(i, vector):
        E = qe.Expression
        deep = qe.Prefetch(limit=DEPTH * RESULT_LIMIT, query=qe.Query.Nearest(vector), filter=base[i],
                           params=deep_params)
        formula = qe.Formula(E.Sum([E.Variable("$score[0]"),
                                    E.Mult([E.Constant(BONUS), E.Condition(qe.Filter(must=named[i]))])]))
        request = qe.QueryRequest(limit=RESULT_LIMIT, prefetches=[deep], query=formula, with_payload=True,
                                  with_vector=False)
        top = [(int(p.id), float(p.score) - BONUS) for p in shard.query(request) if p.score > BONUS / 2]
        return top if len(top) == RESULT_LIMIT else None

    def count(flt):
        return shard.count(qe.CountRequest(filter=flt, exact=True))

    print(f"{args.points} points, {args.reps} brand queries, limit {RESULT_LIMIT}; level filter holds "
          f"{np.median([count(f) for f in level[:20]]):.0f} points (median of 20), base "
          f"{np.median([count(f) for f in base[:20]]):.0f}")
    for name, vectors in (("aligned", aligned), ("random", random)):
        answers = [top_level(i, vectors[i]) for i in range(args.reps)]
        certified = [a for a in answers if a is not None]
        same = [[pid for pid, _ in a] == [pid for pid, _ in nearest(vectors[i], level[i])]
                for i, a in enumerate(answers) if a is not None]
        print(f"{name}: top level certified in {len(certified) / args.reps:.2f} of queries; "
              f"equal to the level's own search in {np.mean(same) if same else float('nan'):.2f} of those")
        if args.compound:
            same = [nearest(vectors[i], compound[i]) == nearest(vectors[i], level[i]) for i in range(args.reps)]
            print(f"{name}: compound condition gives the level's own hits in {np.mean(same):.2f} of queries")
        forms = {"compound": lambda i, v=vectors: nearest(v[i], compound[i])} if args.compound else {}
        samples = interleaved({
            **forms,
            "base": lambda i, v=vectors: nearest(v[i], base[i]),
            "level": lambda i, v=vectors: nearest(v[i], level[i]),
            "top_level": lambda i, v=vectors: top_level(i, v[i]),
            "count_base": lambda i: count(base[i]),
            "count_level": lambda i: count(level[i]),
        }, args.reps)
        for form, values in samples.items():
            summary = latency_summary(values)
            print(f"  {name:8s} {form:12s} p50 {summary['p50_ms']:.2f} ms  mean {summary['mean_ms']:.2f} ms")
    store.close()


if __name__ == "__main__":
    main()
