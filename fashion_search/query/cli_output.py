"""The command-line search's two outputs: a table for people, one JSON line per query for programs."""

from __future__ import annotations

import json

from fashion_search.catalog.products import KEYWORD_FIELDS
from fashion_search.query.page_ranking import PageSearch
from fashion_search.query.search import ProductHit

NAME_WIDTH = 40  # wide enough for most product names ("Turtle Check Men Navy Blue Shirt" is 32)
FIELD_WIDTH = 16


def hit_record(product: ProductHit) -> dict:
    return {"id": product.id, "score": product.score, "name": product.name,
            **{field: getattr(product, field) for field in KEYWORD_FIELDS}, "year": product.year,
            "matched_words": list(product.matched_words), "photo_words": list(product.photo_words)}


def json_line(query: str, found: PageSearch) -> str:
    return json.dumps({"query": query,
                       "named_values": [{"field": f, "value": v} for f, v in found.named],
                       "hits": [hit_record(p) for p in found.result.products]}, ensure_ascii=False)


def _cell(value, width: int) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _named(pairs) -> str:
    by_field: dict[str, list[str]] = {}
    for field, value in pairs:
        by_field.setdefault(field, []).append(value)
    return " · ".join(f"{field}={' or '.join(values)}" for field, values in by_field.items())


def table(query: str, found: PageSearch) -> str:
    result = found.result
    timing = f"text encoding {result.encode_ms:.1f} ms · search {result.search_ms:.1f} ms"
    lines = [f'"{query}": {len(result.hits)} hits · {timing}']
    if result.boosted:
        lines.append(f"first: products matching {_named(result.boosted)}")
    elif found.named:
        lines.append(f"the query names {_named(found.named)} (not ranked first: --no-boost)")
    if result.note:  # e.g. a store built without product words: how to rebuild it
        lines.append(result.note)
    if not result.hits:
        lines.append("no products match these filters: loosen --filter / --year-min / --year-max")
        return "\n".join(lines)
    header = ("rank", "score", "id", "name", *KEYWORD_FIELDS, "year")
    rows = [(str(rank), f"{p.score:.3f}", str(p.id), _cell(p.name, NAME_WIDTH),
             *(_cell(getattr(p, f), FIELD_WIDTH) for f in KEYWORD_FIELDS), _cell(p.year, 4))
            for rank, p in enumerate(result.products, start=1)]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    numeric = {0, 1, 2}  # right-aligned
    for row in (header, *rows):
        lines.append("  ".join(cell.rjust(w) if i in numeric else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
    return "\n".join(lines)
