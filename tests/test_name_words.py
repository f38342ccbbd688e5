"""Detail words of product names, the captions built from them and how the loss matches them."""

import random
from dataclasses import replace

import torch

from fashion_search.catalog.captions import DETAIL_WEIGHT, random_caption_with_constraints, training_captions
from fashion_search.catalog.name_words import detail_phrases, detail_words, name_type_spelling
from fashion_search.catalog.products import Product
from fashion_search.model.loss import UNCONSTRAINED, positive_mask
from fashion_search.training.attributes import (
    ATTR_FIELDS,
    MISSING,
    NAME_WORD_SLOTS,
    constraint_codes,
    product_attr_codes,
)

TEE = Product(id=1, gender="Men", masterCategory="Apparel", subCategory="Topwear", articleType="Tshirts",
              baseColour="Navy Blue", season="Summer", usage="Casual", year=2012,
              name="United Colors of Benetton Men Striped Polo Navy Blue T-shirt", image_ref="images/1.jpg")
PLAIN_TEE = replace(TEE, id=2, name="Roadster Men Navy Blue T-shirt")
STRIPED_SHIRT = replace(TEE, id=3, articleType="Shirts", name="Arrow Men Striped Blue Shirts")
OTHER_STRIPED_TEE = replace(TEE, id=4, baseColour="Red", name="Puma Men's Red Striped Tshirt")


def test_detail_words_drop_brand_gender_colour_and_type_words():
    assert detail_words(TEE) == ("striped", "polo")  # "Colors of Benetton" is brand: before the gender word
    assert detail_words(PLAIN_TEE) == ()
    assert detail_words(STRIPED_SHIRT) == ("striped",)  # "Shirts" is the product's own type
    assert detail_words(OTHER_STRIPED_TEE) == ("striped",)  # "Men's" is a gender word, "Tshirt" a type spelling
    # No gender word: the first word is the brand.
    assert detail_words(replace(TEE, name="Fabindia Beige Jaipur Print Cotton Kurta", articleType="Kurtas")) == (
        "jaipur", "print", "cotton")
    assert detail_words(replace(TEE, name="Titan Women Analog Analog Watch", articleType="Watches")) == ("analog",)
    assert detail_words(replace(TEE, name=None)) == ()
    assert detail_words(replace(TEE, name="Nike Men 2 in 1 Red Tee")) == ()  # numbers and short words


def test_detail_phrases_are_words_and_adjacent_pairs_and_the_name_spells_the_type():
    assert detail_phrases(TEE) == (("striped",), ("polo",), ("striped", "polo"))
    crew = replace(TEE, name="Nike Men Striped Navy Round Neck T-shirt")
    assert detail_phrases(crew) == (("striped",), ("round",), ("neck",), ("round", "neck"))  # colour splits pairs
    assert name_type_spelling(TEE) == "t-shirt" and name_type_spelling(STRIPED_SHIRT) == "shirts"
    assert name_type_spelling(replace(TEE, name="Puma Men Tshirt Navy")) is None


def test_detail_captions_state_the_type_and_the_words_and_share_one_weight():
    stated = {}
    for seed in range(3000):
        text, constraints = random_caption_with_constraints(TEE, random.Random(seed))
        stated.setdefault(text, constraints)
    assert stated["striped tshirt"] == {"articleType": "Tshirts", "name_word": ("striped",)}
    assert stated["striped t-shirt"] == {"articleType": "Tshirts", "name_word": ("striped",)}  # the name's spelling
    assert stated["striped polo tshirt"] == {"articleType": "Tshirts", "name_word": ("striped", "polo")}
    assert {"striped tshirt", "polo t-shirt"} <= set(training_captions(TEE))
    assert not any(text.endswith(" tshirt") and len(text.split()) == 2 for text in training_captions(PLAIN_TEE))
    # TEE's 3 phrases x 2 spellings share DETAIL_WEIGHT; OTHER_STRIPED_TEE's one phrase x one spelling has it all.
    draws = [random_caption_with_constraints(p, random.Random(s))[0] for p in (TEE, OTHER_STRIPED_TEE)
             for s in range(6000)]
    six_ways, one_way = draws[:6000].count("striped tshirt"), draws[6000:].count("striped tshirt")
    assert DETAIL_WEIGHT > 0 and 0.1 < six_ways / one_way < 0.25


def test_a_detail_caption_describes_every_image_of_its_type_whose_name_has_the_word():
    images = [TEE, PLAIN_TEE, STRIPED_SHIRT, OTHER_STRIPED_TEE]
    attrs = torch.tensor([product_attr_codes(p) for p in images])
    assert attrs.shape == (4, len(ATTR_FIELDS) + NAME_WORD_SLOTS)
    assert (attrs[1, len(ATTR_FIELDS):] == MISSING).all()  # no detail words: padded
    captions = [{"articleType": "Tshirts", "name_word": ("striped",)}, {"articleType": "Tshirts"}, {"id": 1},
                {"name_word": ("polo",)}, {"name_word": ("striped", "polo")}]
    constraints = torch.tensor([constraint_codes(c) for c in captions])
    assert (constraints[1, len(ATTR_FIELDS):] == UNCONSTRAINED).all()
    mask = positive_mask(constraints, attrs, set_columns=NAME_WORD_SLOTS)
    assert mask.tolist() == [
        [True, False, False, True],  # striped tshirt: both striped T-shirts, not the plain one nor the shirt
        [True, True, False, True],  # tshirts
        [True, False, False, False],  # the name: that product only
        [True, False, False, False],  # polo: the word sits in the second set column of product 1
        [True, False, False, False],  # striped polo: both words, only product 1 has both
    ]
    # Read column by column (no set), the word would only match where it sits in the same column.
    by_column = positive_mask(constraints, attrs)
    assert by_column[3].tolist() == [False, False, False, False]
    assert by_column[4].tolist() == [True, False, False, False]
