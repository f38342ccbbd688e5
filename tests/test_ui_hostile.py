"""The search page under hostile input (AppTest): every refused upload or query is a warning naming the
problem, awkward but valid photos are searched, and nothing ever raises into the page."""

from __future__ import annotations

import pytest
import streamlit as st
from hostile_inputs import accepted, refused
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest
from test_ui_apptest import APP, TIMEOUT_S, shown_ids, texts
from ui_fixtures import build_demo


@pytest.fixture(scope="module")
def page_store(tmp_path_factory):
    demo = build_demo(tmp_path_factory)
    yield demo, demo.store_copy(tmp_path_factory.mktemp("hostile-page"))
    st.cache_resource.clear()  # release the page's cached store so the shard closes


@pytest.fixture
def page(monkeypatch, page_store) -> AppTest:
    demo, store = page_store
    for var in ("QDRANT_URL", "QDRANT_COLLECTION", "FASHION_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QDRANT_PATH", str(store))
    monkeypatch.setenv("FASHION_CATALOG", str(demo.catalog))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader[0].set_value((name, data, "image/jpeg")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at.error)
    return at


def submit(at: AppTest, query: str) -> AppTest:
    at.text_input(key="query_box").set_value(query)  # set_value: bypasses the box's max_chars, as a crafted request would
    at.button(key="search_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at.error)
    return at


MESSAGES = {"upload_empty": "is empty", "upload_not_image": "not an image", "upload_damaged": "damaged",
            "upload_too_many_pixels": "MP", "upload_too_large": "MB"}


@pytest.mark.parametrize("name", sorted(refused()))
def test_a_hostile_upload_is_a_warning_and_the_page_keeps_working(page, name):
    data, kind = refused()[name]
    at = upload(page, "crafted.jpg", data)
    warning = texts(at.warning)
    assert "crafted.jpg" in warning and MESSAGES[kind] in warning
    assert "Traceback" not in warning and "/" not in warning.replace("crafted.jpg", "")  # no server paths
    assert shown_ids(at) == [] and "image encoding" not in texts(at.caption)
    assert len(shown_ids(submit(at, "blue jeans"))) == 24  # text search still works afterwards


@pytest.mark.parametrize("name", ["exif_rotated_jpeg", "animated_gif", "cmyk_jpeg", "sixteen_bit_png"])
def test_an_awkward_but_valid_photo_is_searched(page, name):
    at = upload(page, "photo.jpg", accepted()[name])  # the uploader checks the extension, not the content
    assert len(shown_ids(at)) == 24 and "image encoding" in texts(at.caption)


@pytest.mark.parametrize("query, shows_results, message", [
    ("   \t ", False, "Type what you are looking for"),
    ("dress " * 1667, True, None),  # the box keeps its first 500 characters (max_chars), which are searched
    ("\x00red\x1b dress\u202e", True, None),
    ("красное платье", True, None),
    ("赤いドレス 👗", True, None),
])
def test_odd_queries(page, query, shows_results, message):
    at = submit(page, query)
    assert (len(shown_ids(at)) == 24) == shows_results
    if message:
        assert message in texts(at.warning) + texts(at.info)
    assert len(at.session_state["query"]) <= 500


def test_error_details_are_off():
    # Set by the page itself (and by .streamlit/config.toml and the launch flags): an unexpected
    # exception shows a generic notice, never its type, message or traceback.
    AppTest.from_file(APP, default_timeout=TIMEOUT_S)  # the option is process-wide once a page ran
    assert st_config.get_option("client.showErrorDetails") == "none"
