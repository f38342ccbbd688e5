"""A derived, indexed keyword "articleType/baseColour" that narrow filters read from one index entry.

Why: a search whose filter names an article type and a colour (the page's top match level for "red
summer dress": gender + Dresses + Red) matches ~0.6% of a 1M-point store. That is below Qdrant's
full-scan threshold, so Qdrant reads the points of the filter's most selective single condition from
its payload index (~100k T-shirts) and checks every other condition on each: 5-8 ms at 1M x 128-d,
more than the search itself. With this keyword in every payload and one more `must` condition on it,
Qdrant reads exactly the ~6k points of that type and colour: 5.0 -> 1.5 ms and 8.2 -> 2.5 ms for that
search in two runs, same hits (experiments/narrow_level_filter.py, docs/benchmarks.md).

The condition is redundant with the type and colour conditions, so results cannot change, provided
every point carries the keyword. Hence the store decides per collection: a collection gets the index
when it is created, and only a collection with the index gets the condition and has the keyword
written by every upsert and payload overwrite. A collection built before keeps working as it was (no
index, no condition); rebuilding it (ingest --rebuild) makes it fast. The keyword never leaves the
store: reads drop it, so payloads look as the catalog wrote them and a sync compares them unchanged.
"""

from __future__ import annotations

from itertools import product

from fashion_search.store.base import TYPE_COLOUR_KEY, Filters

KEY = TYPE_COLOUR_KEY
FIELDS = ("articleType", "baseColour")
# A filter admitting more combinations than this gains little over the type's own index entry and
# would make the condition itself the slow part; it then gets none.
MAX_VALUES = 64


def value(article_type: str, colour: str) -> str:
    # Readable in a raw payload. Values containing "/" can collide ("A/B" + "C" and "A" + "B/C"): harmless,
    # the type and colour conditions stay in the filter, so the keyword only ever narrows what Qdrant reads.
    return f"{article_type}/{colour}"


def with_key(payload: dict) -> dict:
    """The payload plus its keyword when it has both fields as strings; without one, none (a filter on
    type and colour cannot match such a product anyway)."""
    article_type, colour = payload.get(FIELDS[0]), payload.get(FIELDS[1])
    if isinstance(article_type, str) and isinstance(colour, str):
        return {**payload, KEY: value(article_type, colour)}
    return payload


def admitted(filters: Filters | None, named: list[tuple[str, list[str]]] = ()) -> list[str]:
    """The keyword values a filter admits that requires every clause of `filters` and, besides, one of
    the values of each (field, values) in `named` (a boost level requiring all its fields); [] when it
    does not constrain both fields, or admits more than MAX_VALUES combinations."""
    allowed: dict[str, set[str]] = {}
    for clause in (filters or Filters()).clauses():
        if clause[0] == "any" and clause[1] in FIELDS:
            allowed[clause[1]] = set(clause[2])
    for name, values in named:
        if name in FIELDS:
            allowed[name] = allowed[name] & set(values) if name in allowed else set(values)
    if not all(name in allowed for name in FIELDS):
        return []
    combinations = len(allowed[FIELDS[0]]) * len(allowed[FIELDS[1]])
    if combinations > MAX_VALUES:
        return []
    # An empty intersection admits nothing: one impossible value keeps the filter matching nothing.
    return sorted(value(t, c) for t, c in product(sorted(allowed[FIELDS[0]]), sorted(allowed[FIELDS[1]]))) or [
        value("", "")]
