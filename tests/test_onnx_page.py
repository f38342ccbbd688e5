"""The search page with --text-encoder onnx: same results as torch; a missing export is a message, not a traceback."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from ui_fixtures import build_demo

from fashion_search.model.onnx_export import export_text_encoder
from fashion_search.model.query_encoder import build_embedder
from fashion_search.query.search import Searcher
from fashion_search.store import open_store
from fashion_search.ui.page_config import PageConfigError, parse_config

APP = str(Path(__file__).resolve().parents[1] / "search_ui" / "app.py")
QUERY = "red dresses"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(tmp_path_factory)


@pytest.fixture(scope="module")
def exported_model(demo, tmp_path_factory):
    """A copy of the demo's model (same weights) with its ONNX export beside it."""
    model = shutil.copytree(demo.model, tmp_path_factory.mktemp("onnx_page") / "model")
    export_text_encoder(model)
    return model


@pytest.fixture(scope="module")
def page_store(demo, tmp_path_factory):
    yield demo.store_copy(tmp_path_factory.mktemp("onnx_page_store"))
    st.cache_resource.clear()  # release the page's store and models


@pytest.fixture
def page_env(monkeypatch, demo, page_store):
    for var in ("QDRANT_URL", "QDRANT_COLLECTION", "FASHION_MODEL", "FASHION_TEXT_ENCODER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QDRANT_PATH", str(page_store))
    monkeypatch.setenv("FASHION_CATALOG", str(demo.catalog))
    return monkeypatch


def searched_ids(page_env, query: str) -> tuple[AppTest, list[int]]:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.text_input(key="query_box").input(query)
    at.button(key="search_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    cards = [m.value for m in at.markdown if "fs-card" in m.value]
    return at, [int(re.search(r'data-product-id="(\d+)"', card).group(1)) for card in cards]


def test_page_with_onnx_ranks_as_the_library_with_onnx(page_env, demo, exported_model, tmp_path):
    page_env.setenv("FASHION_MODEL", str(exported_model))
    page_env.setenv("FASHION_TEXT_ENCODER", "onnx")
    at, shown = searched_ids(page_env, QUERY)
    assert not at.error and not at.warning  # same weights as the collection: no mismatch warning
    assert "text encoder onnx" in "\n".join(c.value for c in at.sidebar.caption)
    store = open_store(str(demo.store_copy(tmp_path / "reference")), "products")
    try:
        searcher = Searcher(build_embedder(str(exported_model), "onnx")[0], store)
        expected = searcher.text(QUERY, limit=24, boost=searcher.named_values(QUERY)).hits
        torch_hits = Searcher(build_embedder(str(exported_model), "torch")[0], store).text(
            QUERY, limit=24, boost=searcher.named_values(QUERY)).hits
    finally:
        store.close()
    assert shown == [h.id for h in expected] and len(shown) == 24
    assert [h.id for h in torch_hits] == shown  # float32 ONNX ranks the catalog as torch does


def test_page_without_export_names_make_export_onnx(page_env, demo):
    page_env.setenv("FASHION_MODEL", str(demo.model))  # the demo's model has no onnx/ folder
    page_env.setenv("FASHION_TEXT_ENCODER", "onnx-int8")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    errors = "\n".join(e.value for e in at.error)
    assert "make export-onnx MODEL_DIR=" in errors and "Traceback" not in errors


def test_text_encoder_flag_and_variable(monkeypatch):
    monkeypatch.delenv("FASHION_TEXT_ENCODER", raising=False)
    assert parse_config([]).text_encoder == "torch"
    monkeypatch.setenv("FASHION_TEXT_ENCODER", "onnx")
    assert parse_config([]).text_encoder == "onnx"
    assert parse_config(["--text-encoder", "onnx-int8"]).text_encoder == "onnx-int8"
    with pytest.raises(PageConfigError, match="torch, onnx, onnx-int8"):
        parse_config(["--text-encoder", "tensorrt"])
