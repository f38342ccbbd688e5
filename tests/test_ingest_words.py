"""--no-words: the ingest job builds an image-only index version on request; a sync keeps the layout of
the version it syncs (and says how to change it), --rebuild builds the layout asked for, and a version
left building with the other layout is discarded rather than resumed."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from test_ingest import BATCH, ingest_args, killed_at_write, write_catalog
from tiny_model import build_tiny_clip

from fashion_search.ingest import IngestConfig, main
from fashion_search.store import open_store

N_PRODUCTS = 24


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> str:
    return str(build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny"))


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
    return write_catalog(tmp_path_factory.mktemp("catalog") / "shop", N_PRODUCTS)


def has_words(store) -> bool:
    with open_store(str(store)) as opened:
        assert opened.count() == N_PRODUCTS
        return opened.has_words


def test_store_options_name_words_only_when_off(catalog_dir):
    on = IngestConfig(catalog=str(catalog_dir), store=".qdrant", collection="products")
    off = IngestConfig(catalog=str(catalog_dir), store=".qdrant", collection="products", words=False)
    assert on.words and "words" not in on.store_options()
    assert off.store_options() == {"words": False}


def test_no_words_version_then_sync_then_rebuild(tmp_path, catalog_dir, tiny_model_dir, caplog):
    store = tmp_path / "qdrant"
    main(ingest_args(catalog_dir, store, tiny_model_dir, tmp_path / "a.json", "--no-words"))
    assert not has_words(store)
    with open_store(str(store)) as opened:   # named products, but the words rank nothing: image order
        query = np.random.default_rng(0).normal(size=16)
        plain = [h.id for h in opened.search(query, limit=8, exact=True)]
        assert [h.id for h in opened.search(query, limit=8, exact=True, words="Brand Red")] == plain

    with caplog.at_level(logging.WARNING, logger="fashion_search.ingest.runner"):
        main(ingest_args(catalog_dir, store, tiny_model_dir, tmp_path / "b.json"))
    assert not has_words(store) and "ARGS=--rebuild" in caplog.text    # a sync keeps the layout, says so

    rebuilt = main(ingest_args(catalog_dir, store, tiny_model_dir, tmp_path / "c.json", "--rebuild"))
    assert rebuilt["version"]["kind"] == "rebuild" and has_words(store)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fashion_search.ingest.runner"):
        main(ingest_args(catalog_dir, store, tiny_model_dir, tmp_path / "d.json", "--no-words"))
    assert has_words(store) and "--no-words" in caplog.text and "add --rebuild" in caplog.text


def test_a_version_left_building_with_the_other_layout_is_not_resumed(tmp_path, catalog_dir, tiny_model_dir,
                                                                      monkeypatch):
    store = tmp_path / "qdrant"
    killed_at_write(monkeypatch, 2, lambda: main(ingest_args(catalog_dir, store, tiny_model_dir,
                                                             tmp_path / "killed.json", "--no-words")))
    report = main(ingest_args(catalog_dir, store, tiny_model_dir, tmp_path / "rerun.json"))
    # Resuming would have kept the first batch image-only; embedding it all again gives every product words.
    assert (report["already_present"], report["embedded"]) == (0, N_PRODUCTS) and BATCH < N_PRODUCTS
    assert has_words(store)


def test_a_killed_sync_of_an_image_only_version_is_resumed(tmp_path, catalog_dir, tiny_model_dir, monkeypatch):
    """The served version has no words and the rerun has no --no-words flag: the sync's leftover is a copy
    of the served layout, so it is resumed (nothing embedded twice) and the result stays image-only."""
    store = tmp_path / "qdrant"
    small = write_catalog(tmp_path / "small", N_PRODUCTS - 2 * BATCH)
    main(ingest_args(small, store, tiny_model_dir, tmp_path / "first.json", "--no-words"))
    # The sync adds 2 batches of new products; killed in the second.
    killed_at_write(monkeypatch, 2, lambda: main(ingest_args(catalog_dir, store, tiny_model_dir,
                                                             tmp_path / "killed.json")))
    report = main(ingest_args(catalog_dir, store, tiny_model_dir, tmp_path / "rerun.json"))
    assert report["version"]["kind"] == "sync" and report["version"]["resumed"]
    assert report["embedded"] == BATCH           # only the batch the kill lost
    assert not has_words(store)
