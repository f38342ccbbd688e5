"""Hand-written query sets, kept as data: <name>.json beside this module.

Each file holds {"about": why the set exists and how it was written, "queries": [{"query": text,
"relevant": {field: [values]}}]}: a product is relevant when its labels satisfy every field (AND),
any value within a field (OR).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

QUERY_DIR = Path(__file__).resolve().parent
QuerySet = tuple[tuple[str, dict[str, list[str]]], ...]


@cache
def load_queries(name: str) -> QuerySet:
    """The query set `name` ("shopper", "shopper_heldout") as ((text, {field: [values]}), ...)."""
    path = QUERY_DIR / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in QUERY_DIR.glob("*.json"))
        raise FileNotFoundError(f"no query set {name!r} in {QUERY_DIR}; known sets: {', '.join(known)}")
    rows = json.loads(path.read_text(encoding="utf-8"))["queries"]
    return tuple((row["query"], row["relevant"]) for row in rows)


SHOPPER_QUERIES = load_queries("shopper")
HELDOUT_SHOPPER_QUERIES = load_queries("shopper_heldout")
