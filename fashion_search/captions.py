"""Natural-language captions from product metadata.

`canonical_caption` is the one fixed caption used for evaluation and store payloads, e.g.
"men's navy blue casual shirt for summer. Turtle Check Men Navy Blue Shirt".
`training_captions` renders every template: the canonical one plus short forms ("tshirts", "navy blue",
"navy blue tshirts", "men's tshirts", the name alone...). The short forms matter: evaluation and real users
query with bare category values, and a model that only saw long captions ranks those poorly.

Attributes are lower-cased (queries are matched case-insensitively); the product name keeps its case.
A missing field drops the words that depend on it, never leaving "None", double spaces or a dangling "for".
"""

from __future__ import annotations

import random

from fashion_search.catalog import Product

# Worn or sold in pairs, or plural by nature: "a jean" or "a sunglass" would not match what people type.
_PLURAL_ONLY = frozenset({
    "jeans", "trousers", "shorts", "pants", "leggings", "jeggings", "capris", "tights", "briefs", "boxers",
    "sunglasses", "shoes", "heels", "sandals", "flats", "flops", "booties", "socks", "stockings", "gloves",
    "earrings", "cufflinks", "laces", "suspenders", "accessories", "essentials", "dolls",
})
_IRREGULAR_SINGULAR = {"scarves": "scarf"}

_GENDER_POSSESSIVE = {"men": "men's", "women": "women's", "boys": "boys'", "girls": "girls'", "unisex": "unisex"}
_GENDER_FOR = {"men": "men", "women": "women", "boys": "boys", "girls": "girls", "unisex": "men and women"}


def _lower(value: str | None) -> str | None:
    return " ".join(value.lower().split()) if value else None


def singular(article_type: str) -> str:
    """'Tshirts' -> 'tshirt', 'Watches' -> 'watch', 'Dresses' -> 'dress'; pair words ('Jeans') stay plural."""
    words = article_type.lower().split()
    last = words[-1]
    if last in _PLURAL_ONLY:
        pass
    elif last in _IRREGULAR_SINGULAR:
        last = _IRREGULAR_SINGULAR[last]
    elif last.endswith(("sses", "ches", "shes", "xes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us")):
        last = last[:-1]
    return " ".join(words[:-1] + [last])


def _slots(p: Product) -> dict[str, str | None]:
    """Every word group a template may use; None where the product lacks the field."""
    gender = _lower(p.gender)
    noun_field = p.articleType or p.subCategory or p.masterCategory  # the head noun of the sentence
    return {
        "gender_poss": _GENDER_POSSESSIVE.get(gender, gender) if gender else None,
        "gender_for": _GENDER_FOR.get(gender, gender) if gender else None,
        "colour": _lower(p.baseColour),
        "usage": _lower(p.usage),
        "season": _lower(p.season),
        "article": singular(noun_field) if noun_field else None,
        "articles": _lower(p.articleType),
        "sub_category": _lower(p.subCategory),
        "master_category": _lower(p.masterCategory),
        "name": " ".join(p.name.split()) if p.name else None,
    }


# A template is a tuple of parts; each part names one slot, optionally with a prefix word ("for season").
# Optional templates drop the parts whose slot is missing; strict ones are skipped unless every slot exists.
_DESCRIPTION = (("", "gender_poss"), ("", "colour"), ("", "usage"), ("", "article"), ("for ", "season"))
# (parts, strict, weight): weight biases random_caption towards the specific, name-bearing captions,
# because short shared captions ("black") make many in-batch negatives look like positives.
_TEMPLATES: tuple[tuple[tuple[tuple[str, str], ...], bool, int], ...] = (
    (_DESCRIPTION + ((". ", "name"),), False, 4),  # canonical
    (_DESCRIPTION, False, 2),
    ((("", "name"),), True, 3),
    ((("", "articles"),), True, 1),
    ((("", "colour"),), True, 1),
    ((("", "colour"), ("", "articles")), True, 1),
    ((("", "gender_poss"), ("", "articles")), True, 1),
    ((("", "gender_poss"), ("", "colour"), ("", "article")), True, 1),
    ((("", "colour"), ("", "article"), ("for ", "gender_for")), True, 1),
    ((("", "usage"), ("", "articles"), ("for ", "season")), True, 1),
    ((("", "sub_category"),), True, 1),
    ((("", "gender_poss"), ("", "master_category")), True, 1),
)


def _render(parts, strict: bool, slots: dict) -> str | None:
    if strict and any(slots[slot] is None for _, slot in parts):
        return None
    words = []
    for prefix, slot in parts:
        value = slots[slot]
        if value is None:
            continue
        if prefix == ". ":  # a sentence break before the name only when a description precedes it
            words.append(f"{words.pop()}." if words else "")
            words.append(value)
        else:
            words.append(f"{prefix}{value}")
    text = " ".join(w for w in words if w)
    return text or None


def _weighted_captions(p: Product) -> dict[str, int]:
    slots = _slots(p)
    weighted: dict[str, int] = {}  # insertion-ordered, so template order is kept after dedup
    for parts, strict, weight in _TEMPLATES:
        text = _render(parts, strict, slots)
        if text:
            weighted[text] = weighted.get(text, 0) + weight
    if not weighted:
        raise ValueError(f"product {p.id} has no metadata to caption (every field is missing)")
    return weighted


def canonical_caption(p: Product) -> str:
    """The one fixed caption of a product: description, then the product name."""
    return next(iter(_weighted_captions(p)))


def training_captions(p: Product) -> list[str]:
    """All template renderings, canonical first, without duplicates."""
    return list(_weighted_captions(p))


def random_caption(p: Product, rng: random.Random) -> str:
    """One of training_captions(p), drawn with `rng` (weighted towards the specific captions)."""
    weighted = _weighted_captions(p)
    return rng.choices(list(weighted), weights=list(weighted.values()), k=1)[0]
