"""Descriptive queries: a detail only the photo or the product's own words show ("striped t-shirt").

Query sets are data files (evaluation/queries/descriptive*.json): each query has the product types it
asks for and the detail words its product names carry. A product is relevant when its articleType is
one of the types and one of the words is a whole word of its name (case-insensitive), so relevance is
judged on the names even where the ranking never sees them (--hide-names).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

QUERY_DIR = Path(__file__).with_name("queries")
QUERY_SETS = {"descriptive": QUERY_DIR / "descriptive.json",
              "descriptive_heldout": QUERY_DIR / "descriptive_heldout.json"}


class QuerySetError(ValueError):
    """A query file that cannot be used; the message names the file and the fix."""


def load_query_set(path) -> list[dict]:
    """[{"query", "article_types", "name_words"}, ...] from a query file, validated."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise QuerySetError(f"cannot read the query set {path}: {err}") from err
    queries = data.get("queries") if isinstance(data, dict) else None
    if not isinstance(queries, list) or not queries:
        raise QuerySetError(f"{path}: expected {{\"queries\": [...]}} with at least one query")
    for i, q in enumerate(queries):
        ok = (isinstance(q, dict) and isinstance(q.get("query"), str) and q["query"].strip()
              and all(isinstance(q.get(k), list) and q[k] and all(isinstance(v, str) and v for v in q[k])
                      for k in ("article_types", "name_words")))
        if not ok:
            raise QuerySetError(f"{path}: query {i} must have a non-empty \"query\" string and non-empty "
                                f"\"article_types\" and \"name_words\" string lists, got {q!r}")
    return queries


def name_has_word(name: str | None, words: Sequence[str]) -> bool:
    if not name:
        return False
    return any(re.search(rf"(?<![a-z0-9]){re.escape(w.lower())}(?![a-z0-9])", name.lower()) for w in words)


def relevant_mask(products: Sequence, query: dict) -> np.ndarray:
    """(D,) bool: the products this descriptive query asks for."""
    types = set(query["article_types"])
    return np.array([p.articleType in types and name_has_word(p.name, query["name_words"]) for p in products],
                    dtype=bool)


def relevance(products: Sequence, queries: list[dict], min_relevant: int) -> tuple[list[str], list[np.ndarray], list[str]]:
    """(kept query texts, their relevance masks, skipped query texts with fewer than min_relevant)."""
    kept, masks, skipped = [], [], []
    for query in queries:
        mask = relevant_mask(products, query)
        if mask.sum() < min_relevant:
            skipped.append(query["query"])
            continue
        kept.append(query["query"])
        masks.append(mask)
    return kept, masks, skipped
