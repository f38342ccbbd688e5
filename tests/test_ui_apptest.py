"""The search page's logic through streamlit.testing.v1.AppTest, against a small ingested Edge store.

Every test checks what the page rendered (cards, captions, messages) against the library's own
answer on a second copy of the same store, and that no exception reached the page.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from ui_fixtures import build_demo

from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder
from fashion_search.query.ranking import RankingOptions
from fashion_search.query.search import Searcher
from fashion_search.store import Filters, open_store
from fashion_search.ui import components as ui

SEARCH_UI = Path(__file__).resolve().parents[1] / "search_ui"
APP = str(SEARCH_UI / "app.py")
TIMEOUT_S = 60  # first run loads torch + the model; later runs take well under a second


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(tmp_path_factory)


@pytest.fixture(scope="module")
def page_store(demo, tmp_path_factory):
    """The store directory the page opens (its own copy: an Edge shard opens once per process)."""
    yield demo.store_copy(tmp_path_factory.mktemp("page"))
    st.cache_resource.clear()  # drop the page's cached store and model so the shard is released


@pytest.fixture(scope="module")
def reference(demo, tmp_path_factory):
    """The library's answers, from a second copy of the same store."""
    store = open_store(str(demo.store_copy(tmp_path_factory.mktemp("reference"))), "products")
    clip, processor = load_clip(str(demo.model))
    yield Searcher(Embedder(clip, processor), store)
    store.close()


@pytest.fixture
def page_env(monkeypatch, demo, page_store):
    for var in ("QDRANT_URL", "QDRANT_COLLECTION", "FASHION_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QDRANT_PATH", str(page_store))
    monkeypatch.setenv("FASHION_CATALOG", str(demo.catalog))
    return monkeypatch


def run_page(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def search(at: AppTest, query: str) -> AppTest:
    at.text_input(key="query_box").input(query)
    at.button(key="search_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown_ids(at: AppTest) -> list[int]:
    cards = [m.value for m in at.markdown if "fs-card" in m.value]
    return [int(re.search(r'data-product-id="(\d+)"', card).group(1)) for card in cards]


def page_ranking(reference: Searcher, query: str, filters: Filters | None = None, boost: bool = True,
                 words: bool = True):
    """The library's answer for what the page shows: by default the values the query names rank first,
    then image and words together."""
    named = reference.named_values(query, filters) if boost else []
    return reference.text(query, filters, limit=24, boost=named,
                          options=RankingOptions(words=words, named_values_first=boost))


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def test_a_query_renders_the_library_ranking_with_latency(page_env, reference):
    at = search(run_page(), "red summer dress")
    expected = page_ranking(reference, "red summer dress")
    assert shown_ids(at) == [h.id for h in expected.hits]
    assert not at.error
    assert re.search(r"24 results · text encoding \d+\.\d ms · search \d+\.\d ms", texts(at.caption))
    # Every card shows its image (the catalog is configured), none the placeholder.
    cards = [m.value for m in at.markdown if "fs-card" in m.value]
    assert all("data:image/jpeg;base64," in c and "fs-missing" not in c for c in cards)


def test_a_filter_click_reuses_the_query_vector(page_env, reference):
    query = "navy blue formal shoes for an office party"  # no other test searches this text
    at = search(run_page(), query)
    assert re.search(r"text encoding \d+\.\d ms · search", texts(at.caption))
    at.multiselect(key="filter_gender").set_value(["Men"]).run()  # same text, new filter: a rerun
    assert not at.exception, [e.value for e in at.exception]
    assert re.search(r"text encoding cached · search \d+\.\d ms", texts(at.caption))
    expected = page_ranking(reference, query, Filters({"gender": ["Men"]}))
    assert shown_ids(at) == [h.id for h in expected.hits] and expected.hits


def test_values_the_query_names_are_one_click_filters(page_env, reference):
    query = "red casual tshirts for women"  # no other test searches this text
    at = search(run_page(), query)
    offered = {b.key: b.label for b in at.button if b.key and b.key.startswith("suggest_")}
    # Each offer is a value the catalog has, in the query's order (the library decides which).
    catalog = {f: [v for v, _ in reference.facets(f)] for f in ("baseColour", "usage", "articleType", "gender")}
    assert offered == {"suggest_baseColour_Red": "Colour: Red", "suggest_usage_Casual": "Usage: Casual",
                       "suggest_articleType_Tshirts": "Article type: Tshirts", "suggest_gender_Women": "Gender: Women"}
    assert all(v in catalog[f] for f, v in (("baseColour", "Red"), ("usage", "Casual"), ("articleType", "Tshirts")))
    at.button(key="suggest_baseColour_Red").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["filter_baseColour"] == ["Red"]
    assert at.multiselect(key="filter_baseColour").value == ["Red"]
    expected = page_ranking(reference, query, Filters({"baseColour": ["Red"]}))
    assert shown_ids(at) == [h.id for h in expected.hits] and expected.hits
    assert all(h.payload["baseColour"] == "Red" for h in expected.hits)
    assert re.search(r"text encoding cached", texts(at.caption))  # the click reran the store query only
    # The applied value is no longer offered; the others still are.
    offered = {b.key for b in at.button if b.key and b.key.startswith("suggest_")}
    assert "suggest_baseColour_Red" not in offered and "suggest_articleType_Tshirts" in offered


def test_named_values_rank_first_and_the_toggle_turns_it_off(page_env, reference):
    query = "red dresses"  # no other test searches this text
    # Word match off: the synthetic names spell colour and type, so words alone would order alike.
    at = search(run_page(match_words=False), query)
    boosted = page_ranking(reference, query, words=False)
    assert boosted.boosted == [("baseColour", "Red"), ("articleType", "Dresses")]
    assert shown_ids(at) == [h.id for h in boosted.hits]
    first = boosted.hits[0].payload
    assert (first["baseColour"], first["articleType"]) == ("Red", "Dresses")
    assert "First: products matching Colour: Red · Article type: Dresses" in texts(at.caption)
    cards = [m.value for m in at.markdown if "fs-card" in m.value]
    # Each card marks exactly the named values it has (why a lower score can rank above a higher one).
    for card, hit in zip(cards, boosted.hits):
        assert ("fs-chip-baseColour fs-chip-match" in card) == (hit.payload["baseColour"] == "Red"), hit.payload
        assert ("fs-chip-articleType fs-chip-match" in card) == (hit.payload["articleType"] == "Dresses")
    assert {h.payload["articleType"] == "Dresses" for h in boosted.hits} == {True, False}  # both kinds shown
    at.toggle(key="boost_named").set_value(False).run()
    assert not at.exception, [e.value for e in at.exception]
    plain = page_ranking(reference, query, boost=False, words=False)
    assert shown_ids(at) == [h.id for h in plain.hits] != [h.id for h in boosted.hits]
    assert "First: products matching" not in texts(at.caption)
    assert not any("fs-chip-match" in m.value for m in at.markdown)
    assert re.search(r"text encoding cached", texts(at.caption))  # the toggle reran the store query only


def test_words_in_names_count_by_default_cards_tick_them_and_the_toggle_turns_them_off(page_env, reference):
    query = "striped shirts"  # no other test searches this text; the synthetic names carry "Striped"
    at = search(run_page(), query)
    hybrid = page_ranking(reference, query)
    assert hybrid.words == query and shown_ids(at) == [h.id for h in hybrid.hits]
    cards = [m.value for m in at.markdown if "fs-card" in m.value]
    # Each card ticks exactly the query words its name holds, under the same tokenizer.
    for card, product in zip(cards, hybrid.products):
        ticked = re.findall(r'class="fs-word fs-word-match"[^>]*>([^<]+)<', card)
        assert ticked == list(product.matched_words), product.name
    assert "the words in product names" in texts(at.caption)
    at.toggle(key="match_words").set_value(False).run()
    assert not at.exception, [e.value for e in at.exception]
    no_words = reference.text(query, limit=24, boost=reference.named_values(query),
                              options=RankingOptions(words=False))
    assert shown_ids(at) == [h.id for h in no_words.hits] != [h.id for h in hybrid.hits]
    striped = [sum("Striped" in (p.name or "") for p in r.products[:10]) for r in (hybrid, no_words)]
    assert striped[0] > striped[1] and striped[0] >= 5       # the word lifted the products that hold it
    assert not any("fs-word-match" in m.value for m in at.markdown)
    assert "the words in product names" not in texts(at.caption)
    assert re.search(r"text encoding cached", texts(at.caption))  # the toggle reran the store query only


def test_a_store_built_without_words_ranks_by_photo_and_says_how_to_rebuild(page_env, demo, tmp_path, reference):
    import numpy as np
    import qdrant_edge as qe

    # The same products in a collection created the way stores were before words existed.
    with open_store(str(demo.store_copy(tmp_path / "src")), "products") as src:
        hits = [h for batch in src.scroll(batch=512) for h in batch]
        model = src.model_info()
    shard = qe.EdgeShard.create(str(tmp_path / "old" / "products"), qe.EdgeConfig(
        vectors=qe.EdgeVectorParams(size=len(hits[0].payload["_vector"]), distance=qe.Distance.Cosine)))
    shard.close()
    with open_store(str(tmp_path / "old"), "products") as old:
        old.ensure_collection(len(hits[0].payload["_vector"]), model=model)
        assert not old.has_words
        old.upsert([h.id for h in hits], np.stack([h.payload.pop("_vector") for h in hits]), [h.payload for h in hits])
    page_env.setenv("QDRANT_PATH", str(tmp_path / "old"))
    at = search(run_page(), "striped shirts")
    assert "make ingest ARGS=--recreate" in texts(at.info) and not at.error
    no_words = reference.text("striped shirts", limit=24, boost=reference.named_values("striped shirts"),
                              options=RankingOptions(words=False))
    assert shown_ids(at) == [h.id for h in no_words.hits]


def test_a_shopper_word_naming_several_values_ranks_them_first_and_reads_as_or(page_env, reference):
    query = "kids navy sneakers"  # none of these words is a catalog value; this store has no Sports Shoes
    at = search(run_page(), query)
    expected = page_ranking(reference, query)
    assert expected.boosted == [("gender", "Boys"), ("gender", "Girls"), ("baseColour", "Navy Blue"),
                                ("articleType", "Casual Shoes")]
    assert shown_ids(at) == [h.id for h in expected.hits]
    first = expected.hits[0].payload
    assert first["gender"] in ("Boys", "Girls") and first["articleType"] == "Casual Shoes"
    assert first["baseColour"] == "Navy Blue"
    assert ("First: products matching Gender: Boys or Girls · Colour: Navy Blue · Article type: Casual Shoes"
            in texts(at.caption))
    offered = {b.key for b in at.button if b.key and b.key.startswith("suggest_")}
    assert {"suggest_gender_Boys", "suggest_gender_Girls", "suggest_articleType_Casual Shoes"} <= offered


def test_more_offers_than_a_row_holds_wrap_onto_a_second_row(page_env, reference):
    query = "casual kids navy sneakers"
    at = search(run_page(), query)
    named = reference.named_values(query)
    assert len(named) == 5 and shown_ids(at) == [h.id for h in page_ranking(reference, query).hits]
    offers = {b.key: b.label for b in at.button if b.key and b.key.startswith("suggest_")}
    assert offers == {f"suggest_{field}_{value}": f"{ui.FILTER_LABELS.get(field, field)}: {value}"
                      for field, value in named}
    # two rows of 1 + 3 columns (3 + 2 buttons), "Narrow to" once (the look: checked on a screenshot)
    offer_columns = [c for c in at.columns if any(b.key and b.key.startswith("suggest_") for b in c.button)]
    assert len(offer_columns) == 5 and [c.value for c in at.caption].count("Narrow to") == 1
    at.button(key="suggest_gender_Girls").click().run()   # still a filter click
    assert not at.exception and at.session_state["filter_gender"] == ["Girls"]


def test_a_value_with_no_products_under_the_filters_is_not_offered(page_env, reference):
    footwear = Filters({"masterCategory": ["Footwear"]})
    assert reference.store.count(Filters({"masterCategory": ["Footwear"], "articleType": ["Tshirts"]})) == 0
    at = search(run_page(filter_masterCategory=["Footwear"]), "black tshirts for men")
    offered = {b.key for b in at.button if b.key and b.key.startswith("suggest_")}
    assert "suggest_articleType_Tshirts" not in offered  # no footwear is a T-shirt
    men_footwear = reference.store.count(Filters({"masterCategory": ["Footwear"], "gender": ["Men"]}))
    assert ("suggest_gender_Men" in offered) == (men_footwear > 0) and men_footwear > 0
    assert shown_ids(at) == [h.id for h in page_ranking(reference, "black tshirts for men", footwear).hits]


def test_every_result_satisfies_the_chosen_filters(page_env, reference):
    filters = Filters({"masterCategory": ["Footwear"], "gender": ["Men", "Women"]})
    at = search(run_page(filter_masterCategory=["Footwear"], filter_gender=["Men", "Women"]), "shoes")
    ids = shown_ids(at)
    assert len(ids) == min(24, reference.store.count(filters)) > 0
    for hit in reference.store.retrieve(ids):
        assert hit.payload["masterCategory"] == "Footwear" and hit.payload["gender"] in ("Men", "Women")
    # The other facets narrow to what the filters leave: only footwear article types are offered.
    offered = set(at.multiselect(key="filter_articleType").options)
    footwear = {v for v, _ in reference.facets("articleType", filters)}
    assert offered and {o.split("  ·  ")[0] for o in offered} == footwear


def test_year_slider_narrows_results(page_env, reference):
    at = run_page()
    low, high = at.slider(key="filter_year").value
    at.slider(key="filter_year").set_value((low, low + 1))
    at = search(at, "watch")
    years = {h.payload.get("year") for h in reference.store.retrieve(shown_ids(at))}
    assert years and years <= {low, low + 1}


def test_empty_query_shows_a_prompt_not_an_error(page_env):
    at = run_page()
    assert "Type what you are looking for" in texts(at.info)
    assert not at.error and shown_ids(at) == []
    assert at.text_input(key="query_box").value == ""


def test_no_match_under_the_filters_hints_to_loosen_them(page_env):
    at = search(run_page(filter_masterCategory=["Footwear"], filter_articleType=["Tshirts"]), "red shirt")
    assert shown_ids(at) == []
    assert "No products match" in texts(at.info) and "Loosen" in texts(at.info)
    at.button(key="clear_filters_empty").click().run()
    assert len(shown_ids(at)) == 24  # the same query without filters finds products again


def test_more_like_this_shows_neighbours_without_the_source(page_env, reference):
    at = search(run_page(), "blue jeans")
    source = shown_ids(at)[2]
    at.button(key=f"more_{source}").click().run()
    ids = shown_ids(at)
    assert source not in ids
    assert ids == [h.id for h in reference.more_like_this(source, limit=24).hits]
    assert "More like this" in texts(at.markdown)
    assert "text encoding" not in texts(at.caption)  # nothing was encoded
    at.button(key="back_from_similar").click().run()
    assert shown_ids(at) == [h.id for h in page_ranking(reference, "blue jeans").hits]


def test_an_example_query_is_one_click_away(page_env, reference):
    at = run_page()
    at.button(key="example_0").click().run()
    query = at.text_input(key="query_box").value
    assert query and shown_ids(at) == [h.id for h in page_ranking(reference, query).hits]


def test_search_by_uploaded_image_finds_that_product(page_env, demo):
    at = run_page()
    photo = (demo.catalog / "images" / "17.jpg").read_bytes()
    at.file_uploader[0].set_value(("look.jpg", photo, "image/jpeg")).run()
    assert shown_ids(at)[0] == 17
    assert "image encoding" in texts(at.caption)
    at.file_uploader[0].set_value(("notes.png", b"not an image", "image/png")).run()
    assert "not an image that can be read" in texts(at.warning)


def test_images_come_from_the_catalog_the_collection_records(page_env):
    page_env.delenv("FASHION_CATALOG")  # no --catalog: the ingest job recorded the catalog it read
    at = search(run_page(), "red summer dress")
    cards = [m.value for m in at.markdown if "fs-card" in m.value]
    assert len(cards) == 24 and all("data:image" in c and "fs-missing" not in c for c in cards)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_names_the_url(page_env):
    url = f"http://127.0.0.1:{_free_port()}"
    page_env.setenv("QDRANT_URL", url)
    page_env.setenv("QDRANT_TIMEOUT", "2")
    at = run_page()
    assert url in texts(at.error) and "cannot reach" in texts(at.error).lower()
    assert shown_ids(at) == []


def test_flags_override_the_environment(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(SEARCH_UI))
    from fashion_search.ui.page_config import PageConfigError, parse_config

    monkeypatch.setenv("QDRANT_URL", "http://127.0.0.1:6333")
    monkeypatch.setenv("FASHION_MODEL", "runs/small/best")
    monkeypatch.delenv("FASHION_CATALOG", raising=False)
    from_env = parse_config([])
    assert (from_env.store, from_env.model, from_env.catalog) == ("http://127.0.0.1:6333", "runs/small/best", None)
    flags = parse_config(["--store", str(tmp_path), "--model", "m", "--catalog", str(tmp_path)])
    assert (flags.store, flags.model, flags.catalog) == (str(tmp_path), "m", str(tmp_path))
    with pytest.raises(PageConfigError, match="--catalog"):
        parse_config(["--catalog", str(tmp_path / "nowhere")])
    with pytest.raises(PageConfigError, match="bad page arguments"):
        parse_config(["--stor", "x"])


def test_a_bad_catalog_setting_is_an_error_message_not_a_traceback(page_env, tmp_path):
    page_env.setenv("FASHION_CATALOG", str(tmp_path / "nowhere"))
    at = run_page()
    assert "does not exist" in texts(at.error) and "FASHION_CATALOG" in texts(at.error)


@pytest.mark.parametrize("create", [True, False], ids=["empty", "missing"])
def test_empty_or_missing_collection_says_to_run_make_ingest(page_env, tmp_path, create):
    if create:
        with open_store(str(tmp_path), "products") as store:
            store.ensure_collection(16, model={"name": "m", "weights_hash": "h"})
    page_env.setenv("QDRANT_PATH", str(tmp_path))
    at = run_page()
    assert "make ingest" in texts(at.info)
    assert not at.error and shown_ids(at) == []
