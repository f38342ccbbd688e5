"""Searcher on a small ingested store: filters hold, more-like-this excludes the source, timings reported,
facets narrow under the other filters, and images come only from trusted catalog roots."""

from __future__ import annotations

import pytest
from PIL import Image
from ui_fixtures import build_demo

from fashion_search.catalog.products import open_catalog
from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder
from fashion_search.query.ranking import IMAGE_ONLY, PAGE_DEFAULT, RankingOptions
from fashion_search.query.search import (
    CatalogImages,
    ProductHit,
    Searcher,
    TextVectorCache,
    catalog_root_from_model_info,
)
from fashion_search.store import Filters, Hit, open_store


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(tmp_path_factory)


@pytest.fixture(scope="module")
def searcher(demo, tmp_path_factory):
    store = open_store(str(demo.store_copy(tmp_path_factory.mktemp("search"))), "products")
    clip, processor = load_clip(str(demo.model))
    yield Searcher(Embedder(clip, processor), store)
    store.close()


def satisfies(payload: dict, filters: Filters) -> bool:
    year = payload.get("year")
    return (all(payload.get(f) in values for f, values in filters.values.items() if values)
            and (filters.year_min is None or (year is not None and year >= filters.year_min))
            and (filters.year_max is None or (year is not None and year <= filters.year_max)))


def test_text_search_ranks_by_score_and_reports_both_timings(searcher):
    result = searcher.text("red summer dress", limit=10, options=IMAGE_ONLY)
    assert len(result.hits) == 10
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert result.encode_ms > 0 and result.search_ms > 0
    assert [p.id for p in result.products] == [h.id for h in result.hits]


def test_text_cache_skips_the_encoder_for_a_repeated_text_and_keeps_results(searcher):
    calls = []

    class CountingEmbedder:
        def __init__(self, inner):
            self.inner = inner

        def encode_texts(self, texts):
            calls.append(list(texts))
            return self.inner.encode_texts(texts)

    cache = TextVectorCache(max_entries=2)
    cached = Searcher(CountingEmbedder(searcher.embedder), searcher.store, text_cache=cache)
    footwear = Filters({"masterCategory": ["Footwear"]})
    first = cached.text("red summer dress", limit=10)
    again = cached.text("  red summer dress ", footwear, limit=10)  # a filter click: same text, new filters
    assert (first.cached, again.cached) == (False, True) and calls == [["red summer dress"]]
    # Same hits as an uncached searcher, with and without the filter.
    for got, flt in ((first, None), (again, footwear)):
        want = searcher.text("red summer dress", flt, limit=10)
        assert [(h.id, h.score) for h in got.hits] == [(h.id, h.score) for h in want.hits]
    # Least recently used out: "red summer dress" was used last, so "black shoes" goes when a third text comes.
    cached.text("black shoes")
    cached.text("red summer dress")
    cached.text("white sneakers")
    assert len(cache) == 2 and (cache.hits, cache.misses) == (2, 3)
    assert cached.text("red summer dress").cached and not cached.text("black shoes").cached
    vector, _ = cache.get_or_encode("white sneakers", lambda text: None)
    assert not vector.flags.writeable  # shared between sessions: nobody may change it in place
    with pytest.raises(ValueError, match="max_entries"):
        TextVectorCache(0)


def test_empty_query_is_refused_with_a_hint(searcher):
    with pytest.raises(ValueError, match="red summer dress"):
        searcher.text("   ")


def test_every_hit_satisfies_the_filters(searcher):
    filters = Filters({"masterCategory": ["Footwear", "Accessories"], "gender": ["Men"]},
                      year_min=2011, year_max=2012)
    expected = searcher.store.count(filters)
    assert 0 < expected < 60  # the filter really narrows the 240 products
    result = searcher.text("black shoes", filters=filters, limit=60)
    assert len(result.hits) == expected  # all matches come back when the limit allows
    assert all(satisfies(h.payload, filters) for h in result.hits)


def test_image_search_finds_the_product_whose_photo_it_is(searcher, demo):
    catalog = open_catalog(demo.catalog)
    product = next(p for p in catalog.products() if p.id == 17)
    result = searcher.image(catalog.load_image(product), limit=5)
    assert result.hits[0].id == 17
    assert result.hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert result.encode_ms > 0 and result.search_ms > 0


def test_more_like_this_is_the_neighbourhood_without_the_source(searcher):
    source_vector = searcher.store.retrieve([17], with_vectors=True)[0].payload["_vector"]
    neighbours = searcher.store.search(source_vector, limit=9, exact=True)
    assert neighbours[0].id == 17
    filters = Filters({"gender": [neighbours[0].payload["gender"]]})
    result = searcher.more_like_this(17, limit=8)
    assert 17 not in [h.id for h in result.hits]
    assert [h.id for h in result.hits][:3] == [h.id for h in neighbours[1:4]]
    assert result.encode_ms == 0.0 and result.search_ms > 0  # the stored vector needs no encoding
    filtered = searcher.more_like_this(17, filters=filters, limit=8)
    assert filtered.hits and all(satisfies(h.payload, filters) and h.id != 17 for h in filtered.hits)


def test_facets_of_a_field_are_narrowed_by_the_other_fields_only(searcher):
    filters = Filters({"masterCategory": ["Footwear"]})
    facets = searcher.facets_for_filters(filters)
    footwear_types = {h.payload["articleType"] for batch in searcher.store.scroll(with_vectors=False)
                      for h in batch if h.payload.get("masterCategory") == "Footwear"}
    assert {v for v, _ in facets["articleType"]} == footwear_types
    for value, count in facets["articleType"]:
        assert count == searcher.store.count(Filters({"masterCategory": ["Footwear"], "articleType": [value]}))
    # The chosen field still lists its alternatives (OR within a field), counted over everything.
    assert dict(facets["masterCategory"]) == dict(searcher.facets("masterCategory"))
    # The year facet (the slider's range) is counted under the category choice too.
    assert sum(c for _, c in facets["year"]) == searcher.store.count(filters)


def test_product_hit_from_hit_types_the_payload():
    hit = Hit(5, 0.25, {"name": "Nike Men Red Shoes", "gender": "Men", "articleType": "Casual Shoes",
                        "baseColour": "Red", "year": 2012, "image_ref": "images/5.jpg", "catalog": "/c"})
    product = ProductHit.from_hit(hit)
    assert (product.id, product.score, product.title, product.year) == (5, 0.25, "Nike Men Red Shoes", 2012)
    assert product.season is None
    assert product.attributes() == [("articleType", "Casual Shoes"), ("baseColour", "Red"),
                                    ("gender", "Men"), ("year", "2012")]
    assert ProductHit.from_hit(Hit(6, 0.1, {"caption": "red shoes"})).title == "red shoes"


def _hit_for(product_id: int, catalog: str | None, image_ref: str) -> ProductHit:
    return ProductHit.from_hit(Hit(product_id, 0.5, {"image_ref": image_ref, "catalog": catalog}))


def test_images_come_only_from_configured_catalog_roots(demo, tmp_path):
    images = CatalogImages([str(demo.catalog)])
    good = images.image_bytes(_hit_for(3, str(demo.catalog), "images/3.jpg"))
    assert good == (demo.catalog / "images" / "3.jpg").read_bytes()
    # A payload naming another root is refused even though the file exists there.
    other = tmp_path / "other"
    (other / "images").mkdir(parents=True)
    (other / "images" / "3.jpg").write_bytes(good)
    assert images.image_bytes(_hit_for(3, str(other), "images/3.jpg")) is None
    assert images.refused == 1
    # Refs escaping the root and missing files become placeholders, counted.
    assert images.image_bytes(_hit_for(3, str(demo.catalog), "../other/images/3.jpg")) is None
    assert images.image_bytes(_hit_for(9999, str(demo.catalog), "images/9999.jpg")) is None
    assert images.missing == 2
    # A configured root that cannot be opened is reported, not raised.
    broken = CatalogImages([str(tmp_path / "nowhere")])
    assert len(broken.problems) == 1 and "nowhere" in broken.problems[0]


def test_catalog_root_is_read_from_model_info_when_recorded():
    assert catalog_root_from_model_info({"name": "m", "weights_hash": "h", "catalog": "/data/c"}) == "/data/c"
    assert catalog_root_from_model_info({"name": "m", "weights_hash": "h"}) is None
    assert catalog_root_from_model_info(None) is None


def test_image_search_accepts_non_rgb_images(searcher):
    grey = Image.new("L", (60, 80), 128)
    assert len(searcher.image(grey, limit=3).hits) == 3


def test_boost_named_ranks_products_matching_the_typed_values_first(searcher):
    """'red dresses': Red and Dresses are named; hits matching both come first, then one, then none,
    each group by similarity; the same products as the plain query's neighbours, reordered."""
    plain = searcher.text("red dresses", limit=240, options=IMAGE_ONLY)  # every product, by similarity
    boosted = searcher.text("red dresses", limit=240, boost=searcher.named_values("red dresses"),
                            options=RankingOptions(words=False))
    assert set(boosted.boosted) == {("baseColour", "Red"), ("articleType", "Dresses")}
    assert plain.boosted == []

    def matched(hit):
        return sum(hit.payload.get(f) == v for f, v in boosted.boosted)

    want = sorted(plain.hits, key=lambda h: (-matched(h), -h.score))
    assert [h.id for h in boosted.hits] == [h.id for h in want]
    assert matched(boosted.hits[0]) == 2 and [h.id for h in boosted.hits] != [h.id for h in plain.hits]
    # A value already chosen as a filter is not boosted again; words naming nothing boost nothing.
    only_red = Filters({"baseColour": ["Red"]})
    assert searcher.named_values("red dresses", only_red) == [("articleType", "Dresses")]
    assert searcher.named_values("something nice") == []


def test_default_ranking_is_the_pages_named_values_then_words(searcher):
    """The default options: named values first (computed by the Searcher), then similarity + the words'
    BM25 inside each level; the cards learn which query words each name holds."""
    default = searcher.text("red dresses", limit=240)
    assert set(default.boosted) == {("baseColour", "Red"), ("articleType", "Dresses")}
    assert default.words == "red dresses" and default.note is None and searcher.store.has_words

    def matched(hit):
        return sum(hit.payload.get(f) == v for f, v in default.boosted)

    levels = [matched(h) for h in default.hits]
    assert levels == sorted(levels, reverse=True) and levels[0] == 2
    no_words = searcher.text("red dresses", limit=240, options=RankingOptions(words=False))
    # Both words name values ranked first: no word is left to match in the names, the levels rank alone.
    assert searcher.words_to_match("red dresses", None, default.boosted, PAGE_DEFAULT) is None
    assert no_words.words is None and [(h.id, h.score) for h in no_words.hits] == [(h.id, h.score) for h in default.hits]
    every_word = searcher.text("red dresses", limit=240, options=RankingOptions(match_named_words=True))
    assert [h.id for h in every_word.hits] != [h.id for h in default.hits]
    assert {h.id for h in every_word.hits} == {h.id for h in default.hits}      # reordered, nothing hidden
    for product in default.products:
        name_words = set((product.name or "").lower().replace("-", " ").split())
        assert set(product.matched_words) <= {"red", "dresses"}
        assert ("dresses" in product.matched_words) == bool(name_words & {"dress", "dresses"})
        assert ("red" in product.matched_words) == ("red" in name_words)
    assert any(p.matched_words for p in default.products)
    with pytest.raises(ValueError, match="RankingOptions"):
        searcher.text("red dresses", options={"words": False})
    with pytest.raises(ValueError, match="diversity"):
        RankingOptions(diversity=2)


def test_a_store_without_words_ranks_by_image_and_says_how_to_rebuild(searcher):
    class OldStore:
        has_words = False

        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

    old = Searcher(searcher.embedder, OldStore(searcher.store))
    result = old.text("red dresses", limit=20)
    assert result.words is None and "make ingest ARGS=--recreate" in result.note
    want = searcher.text("red dresses", limit=20, options=RankingOptions(words=False))
    assert [h.id for h in result.hits] == [h.id for h in want.hits]


def test_words_naming_ranked_values_are_left_to_the_levels(searcher):
    """"red printed dresses": Red and Dresses rank first; only "printed" is matched in the names, so the
    page's ranking is the store's hybrid search with that word alone. A value the shopper filtered on
    counts like a ranked one; a shopper word ("sneakers") is matched like any detail word."""
    query = "red printed dresses"
    default = searcher.text(query, limit=30)
    assert set(default.boosted) == {("baseColour", "Red"), ("articleType", "Dresses")}
    assert searcher.words_to_match(query, None, default.boosted, PAGE_DEFAULT) == "printed"
    vector = searcher.embedder.encode_texts([query])[0]
    # "red" and "dresses" re-score the products "printed" found (context words), fetching none.
    want = searcher.store.search(vector, limit=30, boost=default.boosted, words="printed", context_words=query)
    assert [(h.id, round(h.score, 5)) for h in default.hits] == [(h.id, round(h.score, 5)) for h in want]
    ignored = searcher.text(query, limit=30, options=RankingOptions(named_word_weight=0.0))
    want = searcher.store.search(vector, limit=30, boost=default.boosted, words="printed")
    assert [(h.id, round(h.score, 5)) for h in ignored.hits] == [(h.id, round(h.score, 5)) for h in want]
    assert any("Printed" in (h.payload.get("name") or "") for h in default.hits[:10])
    assert default.words == query                   # the cards still tick every query word their name holds
    red = Filters({"baseColour": ["Red"]})
    assert searcher.words_to_match(query, red, [("articleType", "Dresses")], PAGE_DEFAULT) == "printed"
    assert searcher.words_to_match("red printed dresses", None, [], PAGE_DEFAULT) == "red printed dresses"
    assert searcher.words_to_match("black sneakers", None, searcher.named_values("black sneakers"),
                                   PAGE_DEFAULT) == "sneakers"
    assert searcher.words_to_match(query, None, default.boosted, RankingOptions(match_named_words=True)) == query
    with pytest.raises(ValueError, match="match_named_words"):
        RankingOptions(match_named_words="no")
    for bad in (-0.1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="named_word_weight"):
            RankingOptions(named_word_weight=bad)
