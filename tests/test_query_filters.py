"""Which catalog values a typed query names (the search page offers them as one-click filters)."""

import pytest

from fashion_search.query.named_values import suggest_filters

VALUES = {
    "gender": ["Men", "Women", "Boys", "Girls", "Unisex"],
    "masterCategory": ["Apparel", "Accessories", "Footwear"],
    "subCategory": ["Topwear", "Shoes", "Watches"],
    "articleType": ["Tshirts", "Casual Shoes", "Watches", "Dresses", "Jeans"],
    "baseColour": ["Blue", "Navy Blue", "Grey", "Grey Melange", "Red"],
    "season": ["Summer", "Winter"],
    "usage": ["Casual", "Sports"],
}


def test_longest_phrase_wins_and_order_follows_the_query():
    assert suggest_filters("Navy Blue T-shirt for men", VALUES) == [
        ("baseColour", "Navy Blue"), ("articleType", "Tshirts"), ("gender", "Men")]
    # "casual shoes" is one article type, not usage Casual + sub-category Shoes
    assert suggest_filters("men black casual shoes", VALUES) == [("gender", "Men"), ("articleType", "Casual Shoes")]
    assert suggest_filters("grey melange tshirts", VALUES) == [("baseColour", "Grey Melange"), ("articleType", "Tshirts")]


def test_whole_words_only_and_singular_equals_plural():
    assert suggest_filters("women red summer dress", VALUES) == [  # season labels disagree with names: never offered
        ("gender", "Women"), ("baseColour", "Red"), ("articleType", "Dresses")]
    # no "men" inside "womens" (which is a shopper word for Women), no "blue" inside a word
    assert suggest_filters("womens bluejeans", VALUES) == [("gender", "Women")]
    assert suggest_filters("womens bluejeans", VALUES, vocabulary=False) == []
    assert suggest_filters("jeans", VALUES) == [("articleType", "Jeans")]


def test_the_narrower_field_wins_a_shared_value():
    assert suggest_filters("steel watch", VALUES) == [("articleType", "Watches")]  # not subCategory Watches


def test_a_prebuilt_index_gives_the_same_offers():
    from fashion_search.query.named_values import suggest_from_index, value_index

    query, chosen = "navy blue t-shirt for men, casual shoes", {"gender": ["Men"]}
    assert suggest_from_index(query, value_index(VALUES), chosen) == suggest_filters(query, VALUES, chosen) == [
        ("baseColour", "Navy Blue"), ("articleType", "Tshirts"), ("articleType", "Casual Shoes")]


def test_values_already_chosen_or_absent_are_not_offered():
    assert suggest_filters("navy blue tshirt", VALUES, selected={"baseColour": ["Navy Blue"]}) == [
        ("articleType", "Tshirts")]
    assert suggest_filters("olive tshirt", {"articleType": ["Tshirts"]}) == [("articleType", "Tshirts")]
    assert suggest_filters("", VALUES) == [] and suggest_filters("red red", VALUES) == [("baseColour", "Red")]


@pytest.mark.realdata
def test_on_real_product_names_offers_mostly_agree_with_the_labels(real_parquet_dir):
    # A product's name as the query: what the matcher offers should be that product's own label.
    from collections import Counter, defaultdict

    from fashion_search.catalog.products import open_catalog
    from fashion_search.query.named_values import SUGGEST_FIELDS, suggest_from_index, value_index

    products = list(open_catalog(real_parquet_dir).products())
    values = defaultdict(set)
    for p in products:
        for field in SUGGEST_FIELDS + ("season",):
            if getattr(p, field):
                values[field].add(getattr(p, field))
    offered, agreed = Counter(), Counter()
    index = value_index(values)  # suggest_filters' index, built once for 41k names
    for p in products:
        for field, value in suggest_from_index(p.name or "", index):
            offered[field] += 1
            agreed[field] += getattr(p, field) == value
    assert offered["season"] == 0  # measured 0.20 agreement: not offered at all
    share = {f: agreed[f] / offered[f] for f in offered}
    assert offered["gender"] > 30_000 and share["gender"] >= 0.98   # measured 0.989
    assert offered["articleType"] > 30_000 and share["articleType"] >= 0.93  # 0.949
    assert offered["baseColour"] > 30_000 and share["baseColour"] >= 0.85  # 0.877


SHOP = {
    "gender": ["Men", "Women", "Boys", "Girls"],
    "articleType": ["Tshirts", "Shirts", "Casual Shoes", "Sports Shoes", "Jackets", "Jeans", "Flats", "Heels"],
    "baseColour": ["Navy Blue", "White", "Grey"],
    "usage": ["Casual", "Sports"],
}


def test_shopper_words_name_catalog_values():
    assert suggest_filters("navy polo shirt", SHOP) == [("baseColour", "Navy Blue"), ("articleType", "Tshirts")]
    assert suggest_filters("navy polo shirt", SHOP, vocabulary=False) == [("articleType", "Shirts")]
    # a word meaning any of several values names all of them (the boost counts one match per field)
    assert suggest_filters("White Sneakers", SHOP) == [
        ("baseColour", "White"), ("articleType", "Casual Shoes"), ("articleType", "Sports Shoes")]
    assert suggest_filters("gray tee for him", SHOP) == [
        ("baseColour", "Grey"), ("articleType", "Tshirts"), ("gender", "Men")]
    assert suggest_filters("kids trainers", SHOP) == [("gender", "Boys"), ("gender", "Girls"),
                                                      ("articleType", "Casual Shoes"), ("articleType", "Sports Shoes")]


def test_the_catalogs_own_words_win_over_shopper_words():
    assert suggest_filters("denim", SHOP) == [("articleType", "Jeans")]
    assert suggest_filters("denim jacket", SHOP) == [("articleType", "Jackets")]    # not Jackets and Jeans
    assert suggest_filters("flats", SHOP) == [("articleType", "Flats")]
    assert suggest_filters("heel", SHOP) == [("articleType", "Heels")]   # "heels" is plural-only in captions
    # a filter in force on the field: the shopper word adds nothing there
    assert suggest_filters("kids polo", SHOP, selected={"gender": ["Men"]}) == [("articleType", "Tshirts")]
    assert suggest_filters("kids polo", SHOP, selected={"articleType": ["Tshirts"]}) == [
        ("gender", "Boys"), ("gender", "Girls")]


def test_shopper_words_for_values_the_catalog_lacks_name_nothing():
    assert suggest_filters("hoodie", SHOP) == []                      # no Sweatshirts here
    assert suggest_filters("purse", {"articleType": ["Wallets"]}) == [("articleType", "Wallets")]


@pytest.mark.realdata
def test_every_vocabulary_value_is_a_real_catalog_value_and_no_phrase_is_shadowed(real_parquet_dir):
    # A typo in the table would silently never match; a phrase equal to the key of a catalog value of the
    # same or a narrower field never fires (named_values.value_index).
    import pandas as pd

    from fashion_search.query.named_values import SUGGEST_FIELDS, _key, value_index
    from fashion_search.query.vocabulary import vocabulary_pairs

    frame = pd.read_parquet(next(real_parquet_dir.rglob("*.parquet")), columns=list(SUGGEST_FIELDS))
    values = {f: sorted(frame[f].dropna().unique()) for f in SUGGEST_FIELDS}
    assert vocabulary_pairs(values) == vocabulary_pairs(None)
    index = value_index(values)
    assert [p for p in vocabulary_pairs(None) if not index[_key(p)].shopper_words] == []
    assert index["perfume"].pairs == (("articleType", "Perfume and Body Mist"),)   # over subCategory Perfumes


def test_named_values_read_by_field_in_query_order():
    from fashion_search.store.boost import by_field

    named = suggest_filters("kids white trainers", SHOP)
    assert by_field(named) == [("gender", ["Boys", "Girls"]), ("baseColour", ["White"]),
                               ("articleType", ["Casual Shoes", "Sports Shoes"])]


def test_words_not_naming_drops_the_catalog_words_of_ranked_values_only():
    from fashion_search.query.named_values import value_index, words_not_naming

    index = value_index(VALUES)

    def left(query, ranked=None):
        return words_not_naming(query, index, suggest_filters(query, VALUES) if ranked is None else ranked)

    assert left("men red casual shoes") == ""                        # every word names a ranked value
    assert left("Striped T-Shirt for men") == "striped for"          # phrase words go together
    assert left("navy blue tshirt", [("articleType", "Tshirts")]) == "navy blue"   # not ranked: matched
    assert left("red sneakers") == "sneakers"                        # a shopper's word is a detail too
    assert left("red summer dress", []) == "red summer dress"
    assert left("") == "" and left("!!! ???") == ""
