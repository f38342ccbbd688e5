"""Detail words of a product name: what the name says beyond the catalog's labels and the brand.

"Roadster Men Striped Navy Blue Tshirt" -> ("striped",): the words a shopper types to ask for a style
("striped", "polo", "floral", "chronograph") that no catalog field holds. Training pairs such words with
the product type ("striped tshirt") so the image tower learns to see them (catalog/captions.py).

What is not a detail: the brand (the words before the gender word, or the first word when the name has
none: Kaggle-style names read "Brand Gender ... Type"), gender and colour words, the product's own type
words in any spelling ("T-shirt" of a Tshirts product), numbers, sizes and short function words.
"""

from __future__ import annotations

import re

from fashion_search.catalog.products import Product

_GENDER_WORDS = frozenset({"men", "mens", "women", "womens", "boys", "girls", "unisex", "kids", "man", "woman"})
# Every word of the catalog's baseColour values, plus spellings names use for them ("golden").
_COLOUR_WORDS = frozenset("""beige black blue bronze brown burgundy charcoal coffee cream fluorescent gold golden
    green grey gray melange khaki lavender lime magenta maroon mauve metallic multi multicolor multicoloured
    mushroom mustard navy nude off olive orange peach pink purple red rose rust sea silver skin steel tan taupe
    teal turquoise white yellow""".split())
_FUNCTION_WORDS = frozenset("and with the for set pack of in on a an by to from new".split())
# Type nouns names use in another spelling than the articleType value ("T-shirt" for Tshirts).
_TYPE_SPELLINGS = frozenset("tshirt tshirts shirt shirts tee tees top tops shoe shoes".split())
_WORD = re.compile(r"[a-z]+(?:'s)?")


def _type_words(p: Product) -> set[str]:
    words = set()
    for value in (p.articleType, p.subCategory, p.masterCategory):
        for word in (value or "").lower().split():
            stem = word[:-2] if word.endswith("es") else word.rstrip("s")
            words |= {word, stem, word.rstrip("s"), f"{stem}s", f"{stem}es"}
    return words


def _detail_tokens(p: Product) -> list[str | None]:
    """The name's words after the brand, a detail word kept as is and any other word as None (so that
    adjacency survives: "Round Neck" is a phrase, "Striped Navy Polo" is not)."""
    tokens = [t.removesuffix("'s") for t in _WORD.findall(p.name.lower().replace("-", ""))]
    gender_at = next((i for i, t in enumerate(tokens) if t in _GENDER_WORDS), None)
    tokens = tokens[gender_at + 1:] if gender_at is not None else tokens[1:]  # drop the brand
    excluded = _GENDER_WORDS | _COLOUR_WORDS | _FUNCTION_WORDS | _TYPE_SPELLINGS | _type_words(p)
    return [t if len(t) >= 3 and t not in excluded else None for t in tokens]


def detail_words(p: Product) -> tuple[str, ...]:
    """The product name's detail words, lower-case, in name order, without repeats; () without a name."""
    if not p.name:
        return ()
    return tuple(dict.fromkeys(t for t in _detail_tokens(p) if t))


def detail_phrases(p: Product) -> tuple[tuple[str, ...], ...]:
    """Each detail word alone, then each pair of detail words adjacent in the name ("round neck",
    "slim fit", "graphic print"): shoppers type such pairs, and a pair is a narrower style than either word."""
    if not p.name:
        return ()
    tokens = _detail_tokens(p)
    pairs = ((a, b) for a, b in zip(tokens, tokens[1:]) if a and b and a != b)
    return tuple(dict.fromkeys([(w,) for w in detail_words(p)] + list(pairs)))


def name_type_spelling(p: Product) -> str | None:
    """How the name itself spells the product type when it ends with one ("t-shirt" in "... Navy T-shirt"),
    lower-case with its hyphen; None when the name ends otherwise. Shoppers type these spellings."""
    if not p.name:
        return None
    last = p.name.lower().split()[-1]
    joined = last.replace("-", "")
    return last if joined in _TYPE_SPELLINGS | _type_words(p) else None
