"""Natural-language captions from product metadata.

`canonical_caption` is the one fixed caption used for evaluation and store payloads, e.g.
"men's navy blue casual shirt for summer. Turtle Check Men Navy Blue Shirt".
`training_captions` renders every template: the canonical one plus short forms ("tshirts", "navy blue",
"navy blue tshirts", "men's tshirts", the name alone...). The short forms matter: evaluation and real users
query with bare category values, and a model that only saw long captions ranks those poorly.

Attributes are lower-cased (queries are matched case-insensitively); the product name keeps its case.
A missing field drops the words that depend on it, never leaving "None", double spaces or a dangling "for".

`random_caption_with_constraints` also returns what the drawn caption states about the product, as
{field: catalog value}: "navy blue tshirts" -> {"baseColour": "Navy Blue", "articleType": "Tshirts"}, and
any caption containing the product name -> {"id": product id} (the name identifies one product). The
multi-positive loss (fashion_search/model/loss.py) counts every image in the batch that satisfies those
constraints as a positive of the caption, not only the image it was drawn for.
"""

from __future__ import annotations

import random

from fashion_search.catalog.name_words import detail_phrases, name_type_spelling
from fashion_search.catalog.products import Product

# Worn or sold in pairs, or plural by nature: "a jean" or "a sunglass" would not match what people type.
_PLURAL_ONLY = frozenset({
    "jeans", "trousers", "shorts", "pants", "leggings", "jeggings", "capris", "tights", "briefs", "boxers",
    "sunglasses", "shoes", "heels", "sandals", "flats", "flops", "booties", "socks", "stockings", "gloves",
    "earrings", "cufflinks", "laces", "suspenders", "accessories", "essentials", "dolls",
})
_IRREGULAR_SINGULAR = {"scarves": "scarf"}

_GENDER_POSSESSIVE = {"men": "men's", "women": "women's", "boys": "boys'", "girls": "girls'", "unisex": "unisex"}
_GENDER_FOR = {"men": "men", "women": "women", "boys": "boys", "girls": "girls", "unisex": "men and women"}


def attribute_words(value: str | None) -> str | None:
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


def _noun_field(p: Product) -> str | None:
    """The catalog field that supplies the head noun of a sentence: the most specific one present."""
    return next((f for f in ("articleType", "subCategory", "masterCategory") if getattr(p, f)), None)


def _slots(p: Product) -> dict[str, str | None]:
    """Every word group a template may use; None where the product lacks the field."""
    gender = attribute_words(p.gender)
    noun_field = getattr(p, _noun_field(p)) if _noun_field(p) else None  # the head noun of the sentence
    return {
        "gender_poss": _GENDER_POSSESSIVE.get(gender, gender) if gender else None,
        "gender_for": _GENDER_FOR.get(gender, gender) if gender else None,
        "colour": attribute_words(p.baseColour),
        "usage": attribute_words(p.usage),
        "season": attribute_words(p.season),
        "article": singular(noun_field) if noun_field else None,
        "articles": attribute_words(p.articleType),
        "sub_category": attribute_words(p.subCategory),
        "master_category": attribute_words(p.masterCategory),
        "name": " ".join(p.name.split()) if p.name else None,
    }


def _slot_constraints(p: Product) -> dict[str, tuple[str, object]]:
    """slot -> (constrained field, its catalog value): what a caption using that slot says about the product."""
    noun = _noun_field(p)
    return {
        "gender_poss": ("gender", p.gender), "gender_for": ("gender", p.gender), "colour": ("baseColour", p.baseColour),
        "usage": ("usage", p.usage), "season": ("season", p.season),
        "article": (noun, getattr(p, noun) if noun else None), "articles": ("articleType", p.articleType),
        "sub_category": ("subCategory", p.subCategory), "master_category": ("masterCategory", p.masterCategory),
        "name": ("id", p.id),  # a product name identifies the product, not a category
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


# "striped tshirt": a name's detail words (one, or two adjacent: "round neck") with the product's type
# noun, what a shopper types for a style no label holds. It states the type and the words, so every product
# of that type whose name has them is a positive (training/attributes.py): the image tower learns what
# "striped" looks like, not one photo. The type is said both as the catalog names it ("tshirt") and as the
# product name spells it ("t-shirt"), the spelling shoppers type. The weight is shared by the product's
# phrases, so a long name does not crowd out the other forms.
DETAIL_WEIGHT = 8


def _detail_captions(p: Product) -> dict[str, tuple[float, dict[str, object]]]:
    noun = _noun_field(p)
    phrases = detail_phrases(p)
    if not noun or not phrases:
        return {}
    nouns = list(dict.fromkeys([singular(getattr(p, noun)), name_type_spelling(p) or singular(getattr(p, noun))]))
    weight = DETAIL_WEIGHT / (len(phrases) * len(nouns))
    return {f"{' '.join(words)} {article}": (weight, {noun: getattr(p, noun), "name_word": words})
            for words in phrases for article in nouns}


def _caption_table(p: Product) -> dict[str, tuple[float, dict[str, object]]]:
    """text -> (weight, constraints) over all templates, in template order, duplicates merged.

    Constraints name only the slots the rendered text contains (a dropped optional part states
    nothing). Two templates rendering the same text add their weights and their constraints
    (the values agree: both come from this product), so a merged caption is never looser than either.
    """
    slots, fields = _slots(p), _slot_constraints(p)
    table: dict[str, tuple[float, dict[str, object]]] = {}  # insertion-ordered: template order kept after dedup
    rendered = ((_render(parts, strict, slots), weight, parts) for parts, strict, weight in _TEMPLATES)
    stated_by = ((text, weight, dict(fields[slot] for _, slot in parts if slots[slot] is not None))
                 for text, weight, parts in rendered if text)
    details = ((text, weight, stated) for text, (weight, stated) in _detail_captions(p).items())
    for text, weight, stated in (*stated_by, *details):
        old_weight, old_stated = table.get(text, (0, {}))
        table[text] = (old_weight + weight, {**old_stated, **stated})
    if not table:
        raise ValueError(f"product {p.id} has no metadata to caption (every field is missing)")
    return table


def _weighted_captions(p: Product) -> dict[str, float]:
    return {text: weight for text, (weight, _) in _caption_table(p).items()}


def canonical_caption(p: Product) -> str:
    """The one fixed caption of a product: description, then the product name.

    The first template that renders, i.e. the first key of _caption_table(p), without rendering the
    other eleven: ingest builds one per stored product, and the whole table cost ~0.1 ms each.
    """
    slots = _slots(p)
    for parts, strict, _ in _TEMPLATES:
        text = _render(parts, strict, slots)
        if text:
            return text
    raise ValueError(f"product {p.id} has no metadata to caption (every field is missing)")


def canonical_caption_with_constraints(p: Product) -> tuple[str, dict[str, object]]:
    """canonical_caption(p) and what it states ({"id": p.id} whenever the product has a name)."""
    text, (_, constraints) = next(iter(_caption_table(p).items()))
    return text, constraints


def training_captions(p: Product) -> list[str]:
    """All template renderings, canonical first, without duplicates."""
    return list(_weighted_captions(p))


def random_caption_with_constraints(p: Product, rng: random.Random) -> tuple[str, dict[str, object]]:
    """random_caption(p, rng) (the same draw for the same rng state) and the constraints it states.

    e.g. ("navy blue tshirts", {"baseColour": "Navy Blue", "articleType": "Tshirts"}), or
    ("Roadster Women White Tshirt", {"id": 2}) for a caption that contains the product name.
    """
    table = _caption_table(p)
    text = rng.choices(list(table), weights=[weight for weight, _ in table.values()], k=1)[0]
    return text, table[text][1]


def random_caption(p: Product, rng: random.Random) -> str:
    """One of training_captions(p), drawn with `rng` (weighted towards the specific captions)."""
    return random_caption_with_constraints(p, rng)[0]
