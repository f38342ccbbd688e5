"""The catalog values a typed query names: "navy blue tshirt for men" -> articleType Tshirts, baseColour
Navy Blue, gender Men. The search page ranks products matching them first (store/boost.py; a sidebar
toggle turns that off) and offers each as a one-click filter (season is neither: see SUGGEST_FIELDS).

Why: the page ranks by the text embedding, which for confusable colours (Cream / Off White / Beige,
Maroon / Burgundy) puts about 7 of 10 right (test colour P@10 0.695), while the catalog's own labels
are exact. Nothing is filtered silently: a typed word can describe a style rather than a facet, or a
brand ("Red Rose" nightdresses are Maroon), so a boost only reorders (a product whose label disagrees
still shows, lower) and hiding the rest is the shopper's click; the text vector is cached so the click
reruns the store query only.

Matching is on whole words, case-insensitive, with hyphens and spaces ignored inside a phrase
("t-shirt" = "tshirt", "navy-blue" = "navy blue") and singular = plural (captions.singular); longer
phrases win ("navy blue" claims both words before "blue" could, "casual shoes" before "casual").
Shoppers' words count too (query/vocabulary.py: "sneakers" -> Casual Shoes or Sports Shoes), below
the catalog's own. On the 41,154 real product names (which the vocabulary was not written from), per
name and field the values offered include that product's label as often with them as without:
articleType 0.956 of 36,837 names (0.958 of 33,816), baseColour 0.961 (0.964), gender 0.988 (0.990).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from fashion_search.catalog.captions import singular
from fashion_search.query.vocabulary import vocabulary_pairs

# Offered in this order of preference when one phrase names values of several fields (the catalog's
# "Watches" is a subCategory and an articleType: the narrower field wins). Measured on the 41,154 real
# product names, a value this matcher finds in a name agrees with that product's own label for
# gender 0.99, articleType 0.95, baseColour 0.88, usage 0.86, subCategory 0.76, but season 0.20
# ("Winter Jacket" is labelled Fall: the label is a merchandising season), so season is not offered.
SUGGEST_FIELDS = ("articleType", "baseColour", "gender", "usage", "subCategory", "masterCategory")
MAX_PHRASE_WORDS = 3  # "grey melange", "casual shoes", "lounge tshirts"; no catalog value is longer
WORD = re.compile(r"[a-z0-9]+")


def _key(text: str) -> str:
    return "".join(WORD.findall(text.lower()))


class Named(NamedTuple):
    """What one phrase names: its (field, value) pairs (several = any of them) and whether the words are a
    shopper's (query/vocabulary.py) rather than the catalog's own."""
    pairs: tuple[tuple[str, str], ...]
    shopper_words: bool = False


def value_index(values_by_field: Mapping[str, Iterable[str]], vocabulary: bool = True) -> dict[str, Named]:
    """Phrase key ("navyblue", "tshirt", "sneakers") -> Named, catalog values first in SUGGEST_FIELDS order.

    vocabulary: also the shopper words for values this catalog has (query/vocabulary.py)."""
    index: dict[str, Named] = {}
    present = {field: list(values_by_field.get(field, ())) for field in SUGGEST_FIELDS}  # read iterators once
    for field in SUGGEST_FIELDS:
        for value in present[field]:
            if not value or not _key(value):
                continue
            for key in (_key(value), _key(singular(value))):
                index.setdefault(key, Named(((field, value),)))
    if vocabulary:
        rank = SUGGEST_FIELDS.index
        for phrase, pairs in vocabulary_pairs(present).items():
            # The catalog's words win, unless theirs is a broader field: "perfume" is the catalog's
            # subCategory Perfumes (5 products of 41k) but the articleType Perfume and Body Mist (570).
            current = index.get(_key(phrase))
            if current is None or rank(pairs[0][0]) < rank(current.pairs[0][0]):
                index[_key(phrase)] = Named(pairs, shopper_words=True)
    return index


def suggest_filters(query: str, values_by_field: Mapping[str, Iterable[str]],
                    selected: Mapping[str, Iterable[str]] | None = None,
                    vocabulary: bool = True) -> list[tuple[str, str]]:
    """(field, value) pairs the query names, in the order they appear in it, minus values already chosen.

    values_by_field: the catalog's values per field (the page's facets); selected: the filters in force;
    vocabulary: also shopper words ("sneakers", "navy"), see value_index.
    """
    return suggest_from_index(query, value_index(values_by_field, vocabulary), selected)


def suggest_from_index(query: str, index: Mapping[str, Named],
                       selected: Mapping[str, Iterable[str]] | None = None) -> list[tuple[str, str]]:
    """suggest_filters with the value_index built once, for many queries over the same values (eval).

    A shopper word's values are dropped for a field the query names in catalog words or a filter sets:
    "denim jacket" is Jackets, not Jackets and Jeans."""
    selected = {field: list(values) for field, values in (selected or {}).items() if values}
    chosen = {(field, value) for field, values in selected.items() for value in values}
    found = {start: match for start, (_, match) in _phrases(WORD.findall((query or "").lower()), index).items()}
    named_fields = {f for m in found.values() if not m.shopper_words for f, _ in m.pairs} | set(selected)
    out = []
    for _, match in sorted(found.items()):
        for field, value in match.pairs:
            if match.shopper_words and field in named_fields:
                continue
            if (field, value) not in chosen and (field, value) not in out:
                out.append((field, value))
    return out


def _phrases(words: list[str], index: Mapping[str, Named]) -> dict[int, tuple[int, Named]]:
    """start word -> (phrase length, what it names); longer phrases claim their words first."""
    found: dict[int, tuple[int, Named]] = {}
    claimed = [False] * len(words)
    for length in range(min(MAX_PHRASE_WORDS, len(words)), 0, -1):
        for start in range(len(words) - length + 1):
            span = range(start, start + length)
            if any(claimed[i] for i in span):
                continue
            match = index.get("".join(words[i] for i in span))
            if match is None:
                continue
            for i in span:
                claimed[i] = True
            found[start] = (length, match)
    return found


def words_not_naming(query: str, index: Mapping[str, Named], ranked: Iterable[tuple[str, str]]) -> str:
    """The query's words minus the phrases that name one of the `ranked` (field, value) pairs (the values
    ranked first, or filtered on): what is left for the words' match in product names.

    Why: the named-values levels already order by those values, so matching their words again in the
    names adds little to the order, and such words ("men", "black", "shoes") occur in a large share of
    names, the costly case for a BM25 search (docs/hybrid.md)."""
    ranked = set(ranked)
    words = WORD.findall((query or "").lower())
    drop = [False] * len(words)
    for start, (length, match) in _phrases(words, index).items():
        if not match.shopper_words and ranked.intersection(match.pairs):
            drop[start:start + length] = [True] * length
    return " ".join(w for w, gone in zip(words, drop) if not gone)
