"""Which catalog values a typed query names (the search page offers them as one-click filters)."""

from fashion_search.query_filters import suggest_filters

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
    assert suggest_filters("women red summer dress", VALUES) == [
        ("gender", "Women"), ("baseColour", "Red"), ("season", "Summer"), ("articleType", "Dresses")]
    assert suggest_filters("womens bluejeans", VALUES) == []  # no "men" inside "womens", no "blue" inside a word
    assert suggest_filters("jeans", VALUES) == [("articleType", "Jeans")]


def test_the_narrower_field_wins_a_shared_value():
    assert suggest_filters("steel watch", VALUES) == [("articleType", "Watches")]  # not subCategory Watches


def test_values_already_chosen_or_absent_are_not_offered():
    assert suggest_filters("navy blue tshirt", VALUES, selected={"baseColour": ["Navy Blue"]}) == [
        ("articleType", "Tshirts")]
    assert suggest_filters("olive tshirt", {"articleType": ["Tshirts"]}) == [("articleType", "Tshirts")]
    assert suggest_filters("", VALUES) == [] and suggest_filters("red red", VALUES) == [("baseColour", "Red")]
