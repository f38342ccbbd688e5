"""How the search page ranks a typed query by default, in one function: the page and the command line
both call `search_as_page`, so whatever the page's default ranking becomes, the CLI shows the same.

The default: image similarity plus the match of the query's words in the product's name (BM25, one
Qdrant formula query), with the catalog values the query names (named_values.py) ranked first. Only
values that still have products under the filters in force are named (the page's
facets, each field counted under the other fields' filters), so neither a boost nor a one-click
filter offer ever points at nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from fashion_search.catalog.products import KEYWORD_FIELDS
from fashion_search.query.named_values import suggest_filters
from fashion_search.query.ranking import PAGE_DEFAULT
from fashion_search.query.search import Searcher, SearchResult
from fashion_search.store.base import Filters


@dataclass
class PageSearch:
    result: SearchResult
    named: list[tuple[str, str]]  # (field, value) pairs the query names: offered as filters, ranked first if boosted


def search_as_page(searcher: Searcher, query: str, filters: Filters | None = None, limit: int = 24, *,
                   boost_named: bool = True, match_words: bool = True, facets: dict | None = None) -> PageSearch:
    """The hits the search page shows for `query` under `filters`.

    boost_named: the page's "rank named values first" toggle (on by default).
    match_words: the page's "match words in names" toggle (on by default): the hybrid ranking, image
    similarity plus the query words' BM25 match in the product's name (query/ranking.py).
    facets: {field: [(value, count), ...]} as Searcher.facets_for_filters(filters) returns them; the
    page passes its cached table, a caller running many queries under one filter state can compute
    it once. Computed here when not given.
    """
    filters = filters or Filters()
    if facets is None:
        facets = searcher.facets_for_filters(filters, fields=KEYWORD_FIELDS)
    values = {field: [value for value, count in facets.get(field, []) if count] for field in KEYWORD_FIELDS}
    named = suggest_filters(query, values, filters.values)
    options = PAGE_DEFAULT.with_(words=match_words, named_values_first=boost_named)
    result = searcher.text(query, filters, limit, boost=named if boost_named else [], options=options)
    return PageSearch(result=result, named=named)
