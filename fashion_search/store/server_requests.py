"""qdrant-client request pieces: our Filters as a client filter, and the boosted query (edge_requests.py's twin).

Kept apart from server.py (connection, collection lifecycle, reads and writes).
"""

from __future__ import annotations

from collections.abc import Callable

from qdrant_client import models as qm

from . import boost as boosting
from .base import Filters


def to_client_filter(filters: Filters | None, exclude_ids: tuple[int, ...] = (),
                     at_least: tuple[list, int] | None = None) -> qm.Filter | None:
    """at_least: (conditions, m): also require m of those conditions (a boost level, store/boost.py)."""
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
    must_not = [qm.HasIdCondition(has_id=list(exclude_ids))] if exclude_ids else None
    min_should = (qm.MinShould(conditions=at_least[0], min_count=at_least[1])
                  if at_least and at_least[1] > 0 else None)
    if not must and not must_not and min_should is None:
        return None
    return qm.Filter(must=must or None, must_not=must_not, min_should=min_should)


def boosted_query(vector: list[float], filters: Filters | None, limit: int, boost: list[tuple[str, str]],
                  params_for: Callable[[qm.Filter | None], qm.SearchParams | None]) -> dict:
    """query_points keyword arguments (prefetch, query, search_params) of the request edge_requests.py builds."""
    conditions = [qm.FieldCondition(key=name, match=qm.MatchValue(value=value)) for name, value in boost]
    levels = [to_client_filter(filters, at_least=(conditions, level)) for level in range(len(conditions) + 1)]
    params = params_for(levels[-1])  # on every stage, as edge_requests.py does
    union = qm.Prefetch(query=vector, limit=limit * len(levels), params=params, prefetch=[
        qm.Prefetch(query=vector, filter=flt, limit=limit, params=params) for flt in levels])
    formula = qm.FormulaQuery(formula=qm.SumExpression(
        sum=["$score"] + [qm.MultExpression(mult=[boosting.WEIGHT, c]) for c in conditions]))
    return {"prefetch": union, "query": formula, "search_params": params}
