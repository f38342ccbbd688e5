"""Captions: exact canonical text, short training forms, graceful missing fields, seeded choice."""

import random
import re
from collections import Counter
from dataclasses import replace

import pytest

from fashion_search.catalog.captions import (
    canonical_caption,
    canonical_caption_with_constraints,
    random_caption,
    random_caption_with_constraints,
    singular,
    training_captions,
)
from fashion_search.catalog.products import METADATA_FIELDS, Product

SHIRT = Product(id=15970, gender="Men", masterCategory="Apparel", subCategory="Topwear", articleType="Shirts",
                baseColour="Navy Blue", season="Summer", usage="Casual", year=2011,
                name="Turtle Check Men Navy Blue Shirt", image_ref="images/15970.jpg")
TSHIRT = replace(SHIRT, id=2, gender="Women", articleType="Tshirts", baseColour="White", season=None,
                 usage=None, name="Roadster  Women White Tshirt")


def assert_clean(caption: str):
    assert caption == caption.strip() and "  " not in caption
    assert not re.search(r"\b(none|nan)\b", caption.lower())
    assert not re.search(r"\bfor\s*(\.|$)", caption) and not caption.startswith(".") and ".." not in caption


def test_canonical_caption_is_the_documented_sentence():
    assert canonical_caption(SHIRT) == "men's navy blue casual shirt for summer. Turtle Check Men Navy Blue Shirt"
    assert canonical_caption(TSHIRT) == "women's white tshirt. Roadster Women White Tshirt"


def test_training_captions_include_short_category_forms():
    captions = training_captions(TSHIRT)
    assert captions[0] == canonical_caption(TSHIRT)
    for short in ("tshirts", "white", "white tshirts", "women's tshirts", "Roadster Women White Tshirt",
                  "women's white tshirt", "white tshirt for women", "topwear", "women's apparel"):
        assert short in captions
    assert len(captions) == len(set(captions))
    for caption in captions:
        assert_clean(caption)
    assert "casual shirts for summer" in training_captions(SHIRT)


@pytest.mark.parametrize("missing", METADATA_FIELDS)
def test_any_missing_field_leaves_no_trace(missing):
    product = replace(SHIRT, **{missing: None})
    captions = training_captions(product)
    for caption in captions:
        assert_clean(caption)
    if missing == "season":
        assert canonical_caption(product) == "men's navy blue casual shirt. Turtle Check Men Navy Blue Shirt"
    if missing == "name":
        assert canonical_caption(product) == "men's navy blue casual shirt for summer"
    if missing == "articleType":  # the head noun falls back to the sub-category
        assert canonical_caption(product).startswith("men's navy blue casual topwear for summer.")


def test_sparse_products_still_caption_and_empty_ones_raise():
    only_name = Product(1, *([None] * 8), name="Only Name Here", image_ref="r")
    assert training_captions(only_name) == ["Only Name Here"]
    only_colour = Product(2, None, None, None, None, "Black", None, None, 2012, None, "r")
    assert training_captions(only_colour) == ["black"]
    with pytest.raises(ValueError, match="no metadata"):
        canonical_caption(Product(3, *([None] * 9), image_ref="r"))


def test_singular_keeps_words_recognisable():
    cases = {"Tshirts": "tshirt", "Watches": "watch", "Dresses": "dress", "Scarves": "scarf", "Jeans": "jeans",
             "Flip Flops": "flip flops", "Night suits": "night suit", "Necklace and Chains": "necklace and chain",
             "Ties": "tie", "Nightdress": "nightdress", "Sarees": "saree", "Perfume and Body Mist":
             "perfume and body mist", "Casual Shoes": "casual shoes"}
    assert {k: singular(k) for k in cases} == cases
    assert "unisex" in canonical_caption(replace(SHIRT, gender="Unisex"))
    assert "navy blue shirt for men and women" in training_captions(replace(SHIRT, gender="Unisex"))


def test_random_caption_is_seeded_and_covers_the_templates():
    draws = [random_caption(SHIRT, random.Random(seed)) for seed in range(400)]
    assert draws == [random_caption(SHIRT, random.Random(seed)) for seed in range(400)]
    counts = Counter(draws)
    assert set(counts) == set(training_captions(SHIRT))  # every template gets drawn
    assert counts[canonical_caption(SHIRT)] > counts["topwear"]  # weighted towards specific captions
    rng_a, rng_b = random.Random(7), random.Random(7)
    assert [random_caption(TSHIRT, rng_a) for _ in range(20)] == [random_caption(TSHIRT, rng_b) for _ in range(20)]


def test_captions_with_constraints_draw_the_same_text_and_state_what_it_says():
    for product in (SHIRT, TSHIRT):
        for seed in range(200):
            text, _ = random_caption_with_constraints(product, random.Random(seed))
            assert text == random_caption(product, random.Random(seed))  # same draws, same text
    stated = {}
    for seed in range(400):
        text, constraints = random_caption_with_constraints(TSHIRT, random.Random(seed))
        assert stated.setdefault(text, constraints) == constraints  # a text always states the same thing
    assert set(stated) == set(training_captions(TSHIRT))
    assert stated["tshirts"] == {"articleType": "Tshirts"}
    assert stated["white"] == {"baseColour": "White"}
    assert stated["white tshirts"] == {"baseColour": "White", "articleType": "Tshirts"}
    assert stated["women's tshirts"] == {"gender": "Women", "articleType": "Tshirts"}
    assert stated["white tshirt for women"] == {"baseColour": "White", "articleType": "Tshirts", "gender": "Women"}
    assert stated["topwear"] == {"subCategory": "Topwear"}
    assert stated["women's apparel"] == {"gender": "Women", "masterCategory": "Apparel"}
    # The description without a name states only the fields it renders (TSHIRT has no season or usage).
    assert stated["women's white tshirt"] == {"gender": "Women", "baseColour": "White", "articleType": "Tshirts"}
    # A caption containing the product name is about that product.
    assert stated["Roadster Women White Tshirt"] == {"id": 2}
    assert stated[canonical_caption(TSHIRT)]["id"] == 2


def test_canonical_caption_constraints_and_noun_fallback():
    assert canonical_caption_with_constraints(SHIRT) == (canonical_caption(SHIRT), {
        "gender": "Men", "baseColour": "Navy Blue", "usage": "Casual", "articleType": "Shirts", "season": "Summer",
        "id": 15970})
    no_name = replace(SHIRT, name=None, articleType=None)  # the head noun comes from the sub-category
    text, constraints = canonical_caption_with_constraints(no_name)
    assert text == "men's navy blue casual topwear for summer"
    assert constraints == {"gender": "Men", "baseColour": "Navy Blue", "usage": "Casual", "subCategory": "Topwear",
                           "season": "Summer"}


def test_canonical_caption_is_the_first_caption_of_the_table_for_every_field_pattern():
    # canonical_caption renders templates until one yields text; it must agree with the full table
    # (training's first caption, the constrained form) whatever subset of fields a product has.
    rng = random.Random(0)
    for i in range(400):
        product = replace(SHIRT, id=i, **{f: None for f in METADATA_FIELDS if rng.random() < 0.4})
        if i % 3 == 0:
            product = replace(product, name=None)
        try:
            texts = training_captions(product)
        except ValueError:
            with pytest.raises(ValueError, match="no metadata"):
                canonical_caption(product)
            continue
        assert canonical_caption(product) == texts[0] == canonical_caption_with_constraints(product)[0]
