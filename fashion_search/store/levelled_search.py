"""The search both backends share: the checks, the named-values levels (store/boost.py), the hybrid
ranking's settings (store/hybrid.py) and the derived type/colour keyword (store/type_colour.py).

A backend says how its client writes a filter and a level's conditions (`_filter`, `_boost_conditions`:
edge_requests / server_requests) and runs one request (`_query`, `_query_fused`); the levels, their order
and what each request is asked for are decided here once, so Edge and a server cannot drift apart.
"""

from __future__ import annotations

from fashion_search.store import boost as boosting
from fashion_search.store import hybrid, type_colour
from fashion_search.store.base import Filters, Hit, check_limit, check_query_vector, clean_payloads


class LevelledSearch:
    """Mixed into a VectorStore backend, before VectorStore in its bases."""

    # Whether every point carries the type/colour keyword (a collection created with its index).
    type_colour_indexed: bool = False

    # --- what a backend supplies -------------------------------------------------------------------
    def _query_dim(self) -> int:
        """The open collection's vector size (raises if it is not open)."""
        raise NotImplementedError

    def _filter(self, filters: Filters | None, exclude_ids: tuple[int, ...] = (), at_least=None, type_colours=()):
        """filters in the client's filter type (edge_requests.to_edge_filter's arguments)."""
        raise NotImplementedError

    def _boost_conditions(self, boost: list[tuple[str, str]]) -> list:
        raise NotImplementedError

    def _query(self, vector: list[float], flt, limit: int, exact: bool) -> list[Hit]:
        raise NotImplementedError

    def _query_fused(self, vector: list[float], flt, limit: int, exact: bool, ranking) -> list[Hit]:
        """One level of a hybrid and/or diverse search (store/hybrid.py's request, in the client's terms)."""
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------------------
    def _stored_payloads(self, payloads: list[dict], n: int) -> list[dict]:
        payloads = clean_payloads(payloads, n)
        return [type_colour.with_key(p) for p in payloads] if self.type_colour_indexed else payloads

    def _type_colours(self, filters: Filters | None, named: list[tuple[str, list[str]]] = ()) -> list[str]:
        return type_colour.admitted(filters, named) if self.type_colour_indexed else []

    def _query_ranked(self, vector: list[float], flt, limit: int, exact: bool, ranking) -> list[Hit]:
        """A plain search, or one level of a hybrid / diverse search (store/hybrid.py)."""
        words, _, diversity, _ = ranking
        if words is None and diversity is None:
            return self._query(vector, flt, limit, exact)
        return self._query_fused(vector, flt, limit, exact, ranking)

    def search(self, vector, filters: Filters | None = None, limit: int = 10, exact: bool = False,
               boost=(), words: str | None = None, fusion=None, diversity: float | None = None,
               context_words: str | None = None) -> list[Hit]:
        """VectorStore.search."""
        vector, limit = check_query_vector(vector, self._query_dim()), check_limit(limit)
        boost = boosting.check_boost(boost)
        ranking = hybrid.ranking(words if self.has_words else None, context_words, fusion, diversity)
        if boost:
            return self._query_boosted(vector, filters, limit, bool(exact), boost, ranking)
        return self._query_ranked(vector, self._filter(filters, type_colours=self._type_colours(filters)), limit,
                                  bool(exact), ranking)

    def _query_boosted(self, vector: list[float], filters: Filters | None, limit: int, exact: bool,
                       boost: list[tuple[str, str]], ranking) -> list[Hit]:
        """Matches of more boost pairs first, then similarity; exact (store/boost.py says how and why)."""
        conditions = self._boost_conditions(boost)
        named = boosting.by_field(boost)

        def level_filter(m: int):
            return self._filter(filters, at_least=(conditions, m),
                                type_colours=self._type_colours(filters, named if m == len(conditions) else ()))
        return boosting.ranked(
            lambda m: self._query_ranked(vector, level_filter(m), limit, exact, ranking),
            len(conditions), boost, limit, by_position=ranking[0] is not None or ranking[2] is not None)

    def _search_excluding(self, vector, filters, exclude_id: int, limit: int) -> list[Hit]:
        flt = self._filter(filters, exclude_ids=(exclude_id,), type_colours=self._type_colours(filters))
        return self._query(vector, flt, limit, False)
