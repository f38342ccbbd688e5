"""One page render reads one index version: the sidebar's facet counts and the results come from the
version served when the render began, even when an ingest switches versions in the middle of it; the
next render shows the new version whole (its facets are not taken from the cache of the old one).

Two Edge versions of the demo store: v0001 as ingested, v0002 the same products with every colour
changed to Teal (same count, so only the version tells their facet tables apart)."""

from __future__ import annotations

import re

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from test_ui_apptest import APP, TIMEOUT_S, shown_ids
from ui_fixtures import build_demo

from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder
from fashion_search.query.page_ranking import search_as_page
from fashion_search.query.search import Searcher
from fashion_search.store import Filters
from fashion_search.store.versions import EdgeVersions

QUERY = "red summer dress"
RECOLOURED = "Teal"


def _what_the_page_shows(store, embedder) -> tuple[list[str], list[int]]:
    """(colour options as the sidebar words them, result ids) of one version, by the library."""
    searcher = Searcher(embedder, store)
    colours = searcher.facets("baseColour", Filters())
    found = search_as_page(searcher, QUERY, Filters(), 24, facets=searcher.facets_for_filters(Filters()))
    return [f"{value}  ·  {count:,}" for value, count in colours], [h.id for h in found.result.hits]


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    demo = build_demo(tmp_path_factory)
    root = demo.store_copy(tmp_path_factory.mktemp("pinned-page"))
    versions = EdgeVersions(root, "products")
    first = versions.serving()
    second = versions.begin(first.model, {"kind": "sync"}, clone_from=first)
    clip, processor = load_clip(str(demo.model))
    embedder = Embedder(clip, processor)
    with versions.open(first) as store:
        expected = {"v0001": _what_the_page_shows(store, embedder)}
    with versions.open(second) as store:
        payloads = {hit.id: {**hit.payload, "baseColour": RECOLOURED}
                    for page in store.scroll(with_vectors=False) for hit in page}
        store.overwrite_payloads(list(payloads), list(payloads.values()))
    with versions.open(second) as store:                # as the page will open it
        expected["v0002"] = _what_the_page_shows(store, embedder)
    versions.switch(second)
    versions.switch(versions.versions()["v0001"])      # v0002 complete and kept, v0001 served
    # The two versions must look different to the page, or this test could not tell them apart.
    assert expected["v0002"][0] == [f"{RECOLOURED}  ·  240"] and RECOLOURED not in str(expected["v0001"][0])
    yield demo, root, versions, expected
    st.cache_resource.clear()  # release the page's cached store so the shards close


def _card_colours(at: AppTest) -> set[str]:
    cards = [m.value for m in at.markdown if "fs-card" in m.value]
    return {colour for card in cards for colour in re.findall(r'fs-chip-baseColour[^>]*>([^<]+)<', card)}


def test_facet_counts_and_results_of_one_render_come_from_one_version(monkeypatch, two_versions):
    demo, root, versions, expected = two_versions
    for var in ("QDRANT_URL", "QDRANT_COLLECTION", "FASHION_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QDRANT_PATH", str(root))
    monkeypatch.setenv("FASHION_CATALOG", str(demo.catalog))

    # An ingest switches to v0002 right after the render's first facet read, before its results.
    real, switched = Searcher.facets_for_filters, []

    def facets_then_switch(self, *args, **kwargs):
        table = real(self, *args, **kwargs)
        if not switched:
            versions.switch(versions.versions()["v0002"])
            switched.append(versions.serving().name)
        return table

    monkeypatch.setattr(Searcher, "facets_for_filters", facets_then_switch)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.session_state["query"] = QUERY                     # the first render already searches
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert switched == ["v0002"]                          # the pointer did move during this render
    colours, ids = expected["v0001"]
    assert at.multiselect(key="filter_baseColour").options == colours
    assert shown_ids(at) == ids and RECOLOURED not in _card_colours(at)

    # The next render begins on v0002 and shows it whole: its own facet counts, its own results.
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    colours, ids = expected["v0002"]
    assert at.multiselect(key="filter_baseColour").options == colours
    assert shown_ids(at) == ids and _card_colours(at) == {RECOLOURED}
