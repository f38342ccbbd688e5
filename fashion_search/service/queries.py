"""Request bodies -> the Searcher's arguments: Filters checked against the collection's values, and the
ranking options. The API has no search logic of its own; this is the whole translation.
"""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from fashion_search.query.ranking import PAGE_DEFAULT
from fashion_search.service.schemas import FilterParams, SearchRequest
from fashion_search.store import Filters

SHOWN_KNOWN_VALUES = 12  # how many of a field's values an "unknown value" error lists


class ApiError(HTTPException):
    """An HTTP error with the `kind` metrics count it under."""

    def __init__(self, status: int, detail: str, kind: str):
        super().__init__(status_code=status, detail=detail)
        self.kind = kind


def filter_params(filter_args: list[str], year_min, year_max, limit) -> FilterParams:
    """GET endpoints' ?filter=field:value (repeatable) & year_min & year_max & limit, validated like a body."""
    values: dict[str, list[str]] = {}
    for arg in filter_args:
        name, sep, value = arg.partition(":")
        if not sep or not name or not value:
            raise ApiError(422, f"filter {arg!r} is not field:value, e.g. filter=gender:Women", "validation")
        values.setdefault(name, []).append(value)
    try:
        return FilterParams(filters=values, year_min=year_min, year_max=year_max, limit=limit)
    except ValidationError as err:
        raise RequestValidationError(err.errors()) from None


def to_filters(params: FilterParams, known: dict[str, frozenset[str]]) -> Filters:
    """The store's Filters; a value the collection does not have is an error, not an empty page (a typo
    such as "red" for "Red" would otherwise look like "nothing matches")."""
    for name, chosen in params.filters.items():
        unknown = [v for v in chosen if v not in known.get(name, ())]
        if unknown:
            examples = sorted(known.get(name, ()))[:SHOWN_KNOWN_VALUES]
            raise ApiError(422, f"{name} has no value {', '.join(map(repr, unknown))} in this catalog "
                                f"(values are case-sensitive; e.g. {', '.join(examples)}; GET /facets lists them all)",
                           "unknown_filter_value")
    return Filters({k: list(v) for k, v in params.filters.items()}, params.year_min, params.year_max)


def ranking_options(request: SearchRequest, named: list[tuple[str, str]]) -> dict:
    """Keyword arguments for Searcher.text beyond query, filters and limit: the page's ranking toggles.
    named: the catalog values the query names (Searcher.named_values)."""
    options = PAGE_DEFAULT.with_(words=request.match_words, named_values_first=request.boost_named_values)
    return {"boost": named if request.boost_named_values else [], "options": options}
