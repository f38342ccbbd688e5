"""qdrant-client request pieces: our Filters as a client filter, a boost level's conditions, search
parameters, a new collection's settings (edge_requests.py's twin).

Kept apart from server.py (collection lifecycle, reads and writes) and server_client.py (the connection).
"""

from __future__ import annotations

from qdrant_client import models as qm

from fashion_search.store import boost as boosting
from fashion_search.store import lexical, type_colour
from fashion_search.store.base import Filters, IndexOptions, index_kind


def to_client_filter(filters: Filters | None, exclude_ids: tuple[int, ...] = (),
                     at_least: tuple[list, int] | None = None, type_colours: list[str] = ()) -> qm.Filter | None:
    """at_least: (conditions, m): also require m of those conditions (a boost level, store/boost.py);
    type_colours: also require one of these derived keywords (store/type_colour.py)."""
    must = []
    for clause in (filters or Filters()).clauses():
        if clause[0] == "any":
            _, name, values = clause          # MatchAny = OR within the field
            # One value: MatchValue, as in edge.py (the same matches, a faster path in Qdrant's index).
            match = qm.MatchValue(value=values[0]) if len(values) == 1 else qm.MatchAny(any=values)
            must.append(qm.FieldCondition(key=name, match=match))
        else:
            _, name, gte, lte = clause
            must.append(qm.FieldCondition(key=name, range=qm.Range(gte=gte, lte=lte)))
    if type_colours:
        must.append(qm.FieldCondition(key=type_colour.KEY, match=qm.MatchValue(value=type_colours[0])
                                      if len(type_colours) == 1 else qm.MatchAny(any=list(type_colours))))
    must_not = [qm.HasIdCondition(has_id=list(exclude_ids))] if exclude_ids else None
    min_should = None
    if at_least and at_least[1] >= len(at_least[0]):
        must += at_least[0]   # all of them: plain conditions, as edge_requests.py does
    elif at_least and at_least[1] > 0:
        min_should = qm.MinShould(conditions=at_least[0], min_count=at_least[1])
    if not must and not must_not and min_should is None:
        return None
    return qm.Filter(must=must or None, must_not=must_not, min_should=min_should)


def boost_conditions(boost: list[tuple[str, str]]) -> list:
    """One condition per field, its values OR'ed (edge_requests.boost_conditions' twin)."""
    return [qm.FieldCondition(key=name, match=qm.MatchValue(value=values[0]) if len(values) == 1
                              else qm.MatchAny(any=values))
            for name, values in boosting.by_field(boost)]


def search_params(options: IndexOptions, filtered: bool, exact: bool) -> qm.SearchParams:
    """edge_requests.search_params' twin (the int8 copy skipped when exact, else 2x oversampled and rescored)."""
    acorn = qm.AcornSearchParams(enable=True) if options.acorn and filtered else None
    quantization = None
    if options.quantization:
        quantization = (qm.QuantizationSearchParams(ignore=True) if exact
                        else qm.QuantizationSearchParams(rescore=True, oversampling=2.0))
    return qm.SearchParams(hnsw_ef=options.search_ef, exact=exact, acorn=acorn, quantization=quantization)


def collection_config(dim: int, options: IndexOptions) -> dict:
    """create_collection's vector, words, index and quantization settings for a new collection."""
    quantization = (qm.ScalarQuantization(scalar=qm.ScalarQuantizationConfig(
        type=qm.ScalarType.INT8, quantile=0.99, always_ram=True)) if options.quantization == "int8" else None)
    return dict(
        vectors_config=qm.VectorParams(size=dim, distance=qm.Distance.COSINE),
        # The products' words; IDF kept by Qdrant (store/lexical.py).
        sparse_vectors_config=({lexical.WORDS_VECTOR: qm.SparseVectorParams(modifier=qm.Modifier.IDF)}
                               if options.words else None),
        hnsw_config=qm.HnswConfigDiff(m=options.hnsw_m, ef_construct=options.hnsw_ef_construct,
                                      full_scan_threshold=options.full_scan_threshold_kb),
        optimizers_config=(qm.OptimizersConfigDiff(indexing_threshold=options.indexing_threshold_kb)
                           if options.indexing_threshold_kb else None),
        quantization_config=quantization)


def payload_index_schema(name: str):
    """base.index_kind(name) in qdrant-client's types."""
    kind = index_kind(name)
    if kind == "integer":
        return qm.PayloadSchemaType.INTEGER
    return (qm.KeywordIndexParams(type=qm.KeywordIndexType.KEYWORD, is_tenant=True) if kind == "tenant keyword"
            else qm.PayloadSchemaType.KEYWORD)


def ranked_query(vector: list[float], words, flt, limit: int, params, fusion, diversity: float | None,
                 rescore=None) -> dict:
    """edge_requests.ranked_request's twin: keyword arguments for query_points (store/hybrid.py)."""
    from fashion_search.store.hybrid import mmr_candidates
    from fashion_search.store.lexical import WORDS_VECTOR

    prefetch = max(fusion.prefetch, limit)
    channels = [qm.Prefetch(query=vector, filter=flt, limit=prefetch, params=params)]
    if words is not None:
        channels.append(qm.Prefetch(query=qm.SparseVector(indices=words[0], values=words[1]), using=WORDS_VECTOR,
                                    filter=flt, limit=prefetch))
    fused = (qm.RrfQuery(rrf=qm.Rrf(k=fusion.rrf_k)) if fusion.method == "rrf"
             else qm.FusionQuery(fusion=qm.Fusion.DBSF))
    if words is not None and fusion.method == "formula":   # as edge_requests.ranked_request
        union = qm.Prefetch(prefetch=channels, query=vector, limit=2 * prefetch, params=params)
        matched = channels[1] if rescore is None else qm.Prefetch(
            prefetch=[channels[1]], query=qm.SparseVector(indices=rescore[0], values=rescore[1]), using=WORDS_VECTOR,
            limit=prefetch)
        channels = [union, matched]
        fused = qm.FormulaQuery(formula=qm.SumExpression(sum=[
            "$score[0]", qm.MultExpression(mult=[float(fusion.word_weight), "$score[1]"])]),
            defaults={"$score[1]": 0.0})
    if diversity is None:
        return {"prefetch": channels, "query": fused, "limit": limit}
    candidates = mmr_candidates(limit, prefetch)
    pool = (qm.Prefetch(prefetch=channels, query=fused, limit=candidates) if words is not None
            else qm.Prefetch(query=vector, filter=flt, limit=candidates, params=params))
    exact = None if params is None else qm.SearchParams(exact=True)   # as edge_requests: an exact MMR stage
    return {"prefetch": [pool], "limit": limit, "query_filter": flt, "search_params": exact,
            "query": qm.NearestQuery(nearest=vector, mmr=qm.Mmr(diversity=diversity, candidates_limit=candidates))}
