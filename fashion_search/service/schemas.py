"""Request and response bodies of the search API (pydantic): what /docs shows and what is validated.

Requests refuse unknown keys (a misspelt "filter" must not silently search everything). Text is
checked by fashion_search.query.inputs, the same checks the search page runs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fashion_search.catalog.products import KEYWORD_FIELDS
from fashion_search.query.inputs import InputError, clean_query

DEFAULT_LIMIT = 24
MAX_LIMIT = 100
MAX_FILTER_VALUES = 64  # per field: every value of the widest field (articleType has ~140) is never needed at once


class FilterParams(BaseModel):
    """Filters as the page applies them: AND across fields, OR within a field, years inclusive."""

    model_config = ConfigDict(extra="forbid")

    filters: dict[str, list[str]] = Field(default_factory=dict, examples=[{"gender": ["Women"], "baseColour": ["Red"]}],
                                          description=f"field -> accepted values; fields: {', '.join(KEYWORD_FIELDS)}")
    year_min: int | None = Field(None, ge=1900, le=2200)
    year_max: int | None = Field(None, ge=1900, le=2200)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="hits to return")

    @field_validator("filters")
    @classmethod
    def _known_fields(cls, filters: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(filters) - set(KEYWORD_FIELDS))
        if unknown:
            raise ValueError(f"cannot filter on {', '.join(map(repr, unknown))}: filterable fields are "
                             f"{', '.join(KEYWORD_FIELDS)} (and year_min / year_max for the year)")
        for name, values in filters.items():
            if len(values) > MAX_FILTER_VALUES:
                raise ValueError(f"{len(values)} values for {name!r}; at most {MAX_FILTER_VALUES}")
        return {name: list(dict.fromkeys(values)) for name, values in filters.items() if values}

    @model_validator(mode="after")
    def _ordered_years(self) -> FilterParams:
        if self.year_min is not None and self.year_max is not None and self.year_min > self.year_max:
            raise ValueError(f"year_min {self.year_min} is after year_max {self.year_max}; swap them")
        return self


class SearchRequest(FilterParams):
    query: str = Field(..., examples=["red summer dress"], description="what the shopper typed, any language/script")
    boost_named_values: bool = Field(True, description="rank products whose catalog values the query names "
                                                       "first (the page's 'Typed values first' toggle)")
    match_words: bool = Field(True, description="match the query's words in product names beside the photo "
                                                "similarity (the page's 'Match words in names' toggle)")

    @field_validator("query", mode="before")
    @classmethod
    def _clean(cls, query):
        try:
            return clean_query(query)
        except InputError as err:
            raise ValueError(str(err)) from None


class NamedValue(BaseModel):
    field: str
    value: str


class Product(BaseModel):
    id: int
    name: str | None = None
    gender: str | None = None
    masterCategory: str | None = None
    subCategory: str | None = None
    articleType: str | None = None
    baseColour: str | None = None
    season: str | None = None
    usage: str | None = None
    year: int | None = None
    image_url: str | None = Field(None, description="relative URL of the photo; null when it may not be served")


class Hit(Product):
    score: float = Field(..., description="ranking score: photo similarity, plus the weighted word match when "
                                          "words are matched")
    matched_words: list[str] = Field(default_factory=list, description="the query's words this product's name holds")
    photo_words: list[str] = Field(default_factory=list, description="the other query words its photo tags hold "
                                                                      "(a store built with a photo tagger)")


class Timing(BaseModel):
    encode: float = Field(..., description="ms turning the query into a vector (0: cached or a stored vector)")
    search: float = Field(..., description="ms in the vector store")
    total: float = Field(..., description="ms in the handler, end to end")


class SearchResponse(BaseModel):
    hits: list[Hit]
    named_values: list[NamedValue] = Field(default_factory=list,
                                           description="catalog values the query names (offered as filters)")
    boosted: list[NamedValue] = Field(default_factory=list, description="the named values ranked first")
    cached: bool = Field(False, description="the query vector came from the recent-queries cache")
    timing_ms: Timing


class FacetValue(BaseModel):
    value: str
    count: int


class FacetsResponse(BaseModel):
    facets: dict[str, list[FacetValue]] = Field(
        ..., description="per field, values and product counts under the *other* fields' filters (as the page)")


class IndexInfo(BaseModel):
    collection: str
    points: int | None = None
    model: str | None = None
    weights_hash: str | None = None


class Health(BaseModel):
    status: str = Field(..., description="ok or degraded")
    store_reachable: bool
    model_loaded: bool
    text_encoder: str
    index: IndexInfo
    problems: list[str] = Field(default_factory=list)


class ErrorBody(BaseModel):
    detail: str | list[dict]
    kind: str = Field(..., description="machine-readable reason, as counted in search_errors_total")
