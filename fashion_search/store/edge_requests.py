"""Qdrant Edge request pieces: our Filters as an Edge filter, search params, and the boosted request.

Kept apart from edge.py (the shard's lifecycle, reads and writes) so that file stays about storage.
"""

from __future__ import annotations

from collections.abc import Callable

import qdrant_edge as qe

from . import boost as boosting
from .base import Filters, IndexOptions


def to_edge_filter(filters: Filters | None, exclude_ids: tuple[int, ...] = (),
                   at_least: tuple[list, int] | None = None) -> qe.Filter | None:
    """at_least: (conditions, m): also require m of those conditions (a boost level, store/boost.py)."""
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
    must_not = [qe.HasIdCondition(set(exclude_ids))] if exclude_ids else None
    min_should = qe.MinShould(at_least[0], at_least[1]) if at_least and at_least[1] > 0 else None
    if not must and not must_not and min_should is None:
        return None
    return qe.Filter(must=must or None, must_not=must_not, min_should=min_should)


def boost_conditions(boost: list[tuple[str, str]]) -> list:
    return [qe.FieldCondition(name, match=qe.MatchValue(value)) for name, value in boost]


def search_params(options: IndexOptions, filtered: bool, exact: bool) -> qe.SearchParams:
    acorn = qe.AcornSearchParams(enable=True) if options.acorn and filtered else None
    quantization = None
    if options.quantization:
        # exact means exact: skip the int8 copy. Otherwise fetch 2x candidates from it and rescore
        # them with the originals (41k 512-d: recall@10 0.93 -> 1.00 at the same latency).
        quantization = (qe.QuantizationSearchParams(ignore=True) if exact
                        else qe.QuantizationSearchParams(rescore=True, oversampling=2.0))
    return qe.SearchParams(hnsw_ef=options.search_ef, exact=exact, acorn=acorn, quantization=quantization)


def boosted_request(vector: list[float], filters: Filters | None, limit: int, boost: list[tuple[str, str]],
                    params_for: Callable[[qe.Filter | None], qe.SearchParams]) -> qe.QueryRequest:
    """One prefetch per match level, their union rescored by the vector, then the formula (store/boost.py)."""
    conditions = boost_conditions(boost)
    levels = [to_edge_filter(filters, at_least=(conditions, level)) for level in range(len(conditions) + 1)]
    # One set of search params (ACORN: every level but the first is filtered) on every stage and on the
    # request. Measured under forced HNSW at 41k: with ACORN on the filtered prefetches alone, a level
    # filtered to 2% of the points found 1-9 of its 10 nearest; Edge did not apply a Prefetch's own
    # params by themselves. With them everywhere: 10 of 10 (scripts/boost_recall.py, --forced-hnsw).
    params = params_for(levels[-1])
    nearest = qe.Query.Nearest(vector)
    union = qe.Prefetch(limit=limit * len(levels), query=nearest, params=params, prefetches=[
        qe.Prefetch(limit=limit, query=nearest, filter=flt, params=params) for flt in levels])
    E = qe.Expression
    formula = qe.Formula(E.Sum([E.Variable("$score")] + [E.Mult([E.Constant(boosting.WEIGHT), E.Condition(c)])
                                                        for c in conditions]))
    return qe.QueryRequest(limit=limit, prefetches=[union], query=formula, with_payload=True, with_vector=False,
                           params=params)
