"""Qdrant Edge request pieces: our Filters as an Edge filter, a boost level's conditions, search params, a new
shard's settings.

Kept apart from edge.py (the shard's lifecycle, reads and writes) so that file stays about storage.
"""

from __future__ import annotations

import qdrant_edge as qe

from fashion_search.store import boost as boosting
from fashion_search.store import lexical, type_colour
from fashion_search.store.base import Filters, IndexOptions, index_kind

QDRANT_DEFAULT_THRESHOLD_KB = 10_000   # Qdrant's own default, used where the options leave it unset


def to_edge_filter(filters: Filters | None, exclude_ids: tuple[int, ...] = (),
                   at_least: tuple[list, int] | None = None, type_colours: list[str] = ()) -> qe.Filter | None:
    """at_least: (conditions, m): also require m of those conditions (a boost level, store/boost.py);
    m = all of them goes in as plain `must` conditions. type_colours: also require one of these derived
    keywords (store/type_colour.py; redundant with the conditions, only faster)."""
    must = []
    for clause in (filters or Filters()).clauses():
        if clause[0] == "any":
            _, name, values = clause          # MatchAny = OR within the field
            # One value: MatchValue. Same matches, but Qdrant serves it from the keyword index about
            # twice as fast (bench, 41k points, gender + articleType: 0.32 vs 0.65 ms p50 at 128-d).
            match = qe.MatchValue(values[0]) if len(values) == 1 else qe.MatchAny(values)
            must.append(qe.FieldCondition(name, match=match))
        else:
            _, name, gte, lte = clause
            must.append(qe.FieldCondition(name, range=qe.RangeFloat(gte=gte, lte=lte)))
    if type_colours:
        must.append(qe.FieldCondition(type_colour.KEY, match=qe.MatchValue(type_colours[0]) if len(type_colours) == 1
                                      else qe.MatchAny(list(type_colours))))
    must_not = [qe.HasIdCondition(set(exclude_ids))] if exclude_ids else None
    min_should = None
    if at_least and at_least[1] >= len(at_least[0]):
        must += at_least[0]
    elif at_least and at_least[1] > 0:
        min_should = qe.MinShould(at_least[0], at_least[1])
    if not must and not must_not and min_should is None:
        return None
    return qe.Filter(must=must or None, must_not=must_not, min_should=min_should)


def boost_conditions(boost: list[tuple[str, str]]) -> list:
    """One condition per field (its values OR'ed): a payload holds one value per field, so a product's
    matched pairs = its matched conditions, and the top level is plain `must` conditions."""
    return [qe.FieldCondition(name, match=qe.MatchValue(values[0]) if len(values) == 1 else qe.MatchAny(values))
            for name, values in boosting.by_field(boost)]


def search_params(options: IndexOptions, filtered: bool, exact: bool) -> qe.SearchParams:
    acorn = qe.AcornSearchParams(enable=True) if options.acorn and filtered else None
    quantization = None
    if options.quantization:
        # exact means exact: skip the int8 copy. Otherwise fetch 2x candidates from it and rescore
        # them with the originals (41k 512-d: recall@10 0.93 -> 1.00 at the same latency).
        quantization = (qe.QuantizationSearchParams(ignore=True) if exact
                        else qe.QuantizationSearchParams(rescore=True, oversampling=2.0))
    return qe.SearchParams(hnsw_ef=options.search_ef, exact=exact, acorn=acorn, quantization=quantization)


def edge_config(dim: int, options: IndexOptions, segments: int | None, search_threads: int | None) -> qe.EdgeConfig:
    """A new shard's vector, words, index, quantization and optimizer settings (server_requests.collection_config's
    twin)."""
    quantization = (qe.ScalarQuantizationConfig(qe.ScalarType.Int8, quantile=0.99, always_ram=True)
                    if options.quantization == "int8" else None)
    return qe.EdgeConfig(
        vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine),
        # The products' words; IDF kept by Qdrant (store/lexical.py).
        sparse_vectors=({lexical.WORDS_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}
                        if options.words else None),
        hnsw_config=qe.HnswIndexConfig(
            m=options.hnsw_m, ef_construct=options.hnsw_ef_construct,
            full_scan_threshold=options.full_scan_threshold_kb or QDRANT_DEFAULT_THRESHOLD_KB),
        quantization_config=quantization,
        optimizers=qe.EdgeOptimizersConfig(indexing_threshold=options.indexing_threshold_kb,
                                           default_segment_number=segments),
        max_search_threads=search_threads,
    )


def payload_index_schema(name: str):
    """base.index_kind(name) in Qdrant Edge's types."""
    kind = index_kind(name)
    if kind == "integer":
        return qe.PayloadSchemaType.Integer
    return qe.KeywordIndexParams(is_tenant=True) if kind == "tenant keyword" else qe.PayloadSchemaType.Keyword


def ranked_request(vector: list[float], words, flt, limit: int, params: qe.SearchParams, fusion,
                   diversity: float | None, rescore=None) -> qe.QueryRequest:
    """One level of a hybrid and/or diverse search (store/hybrid.py): image and words prefetches under
    `flt`, fused; with `diversity`, MMR over the fused candidates. words: (indices, values) or None;
    rescore: the words plus the context words at their weight (lexical.with_context) or None."""
    from fashion_search.store.hybrid import mmr_candidates
    from fashion_search.store.lexical import WORDS_VECTOR

    prefetch = max(fusion.prefetch, limit)
    channels = [qe.Prefetch(limit=prefetch, query=qe.Query.Nearest(vector), filter=flt, params=params)]
    if words is not None:
        channels.append(qe.Prefetch(limit=prefetch, query=qe.Query.Nearest(qe.SparseVector(*words), using=WORDS_VECTOR),
                                    filter=flt))
    fused = qe.Fusion.Rrf(k=fusion.rrf_k) if fusion.method == "rrf" else qe.Fusion.Dbsf()
    if words is not None and fusion.method == "formula":
        # $score[0]: the image similarity of every candidate (the union re-scored by the image vector);
        # $score[1]: the words' BM25, 0 where the words' prefetch did not bring the product.
        # With context words, $score[1] is the words' candidates re-scored with them added (none fetched).
        union = qe.Prefetch(limit=2 * prefetch, prefetches=channels, query=qe.Query.Nearest(vector), params=params)
        matched = channels[1] if rescore is None else qe.Prefetch(
            limit=prefetch, prefetches=[channels[1]], query=qe.Query.Nearest(qe.SparseVector(*rescore), using=WORDS_VECTOR))
        E = qe.Expression
        channels = [union, matched]
        fused = qe.Formula(E.Sum([E.Variable("$score[0]"),
                                  E.Mult([E.Constant(float(fusion.word_weight)), E.Variable("$score[1]")])]),
                           defaults={"$score[1]": 0.0})
    if diversity is None:
        return qe.QueryRequest(limit=limit, prefetches=channels, query=fused, with_payload=True, with_vector=False)
    candidates = mmr_candidates(limit, prefetch)
    pool = (qe.Prefetch(limit=candidates, prefetches=channels, query=fused) if words is not None
            else qe.Prefetch(limit=candidates, query=qe.Query.Nearest(vector), filter=flt, params=params))
    # Qdrant Edge takes MMR's lambda (1 = relevance only), the server its complement, "diversity".
    # The filter again on the MMR stage: Qdrant Edge 0.9 otherwise draws MMR's picks from outside the pool.
    # And an exact MMR stage: through HNSW its picks differed between two builds of the same store.
    return qe.QueryRequest(limit=limit, prefetches=[pool], query=qe.Mmr(vector, 1.0 - diversity, candidates),
                           filter=flt, params=qe.SearchParams(exact=True), with_payload=True, with_vector=False)
