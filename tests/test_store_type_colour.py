"""The derived articleType/baseColour keyword (store/type_colour.py): written and indexed only in
collections created with it, applied only there, never visible to callers, and results unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import qdrant_edge as qe

from fashion_search.store import Filters, open_store, type_colour
from fashion_search.store.server import ServerStore
from fashion_search.store.serving import pin

TYPES, COLOURS, GENDERS = ("Tshirts", "Shirts", "Jeans"), ("Red", "Blue", "Black", "White"), ("Men", "Women")


def _payload(i: int) -> dict:
    return {"articleType": TYPES[i % 3], "baseColour": COLOURS[i % 4], "gender": GENDERS[i % 2], "name": f"p{i}"}


def _fill(store, n: int = 96):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, 8)).astype(np.float32)
    store.upsert(list(range(1, n + 1)), vectors, [_payload(i) for i in range(n)])
    return vectors


def _raw_payload(store, pid: int) -> dict:
    if hasattr(store, "client"):
        return dict(store.client.retrieve(store.collection, [pid], with_payload=True)[0].payload)
    return dict(store._require().retrieve([pid], with_payload=True, with_vector=False)[0].payload)


def _set_raw_keyword(store, pid: int, keyword: str) -> None:
    if hasattr(store, "client"):
        store.client.set_payload(store.collection, {type_colour.KEY: keyword}, points=[pid])
    else:
        store._require().update(qe.UpdateOperation.set_payload([pid], {type_colour.KEY: keyword}))


def _new_store(backend: str, tmp_path, monkeypatch):
    """A collection created now. The server path in qdrant-client's local mode, which keeps no payload
    indexes (so never gets the keyword by itself): told the index is there, as a server reports it."""
    if backend == "edge":
        store = open_store(tmp_path / "edge", collection="t")
        store.ensure_collection(8)
        assert store.type_colour_indexed
    else:
        store = open_store(":memory:", collection="t")
        store.ensure_collection(8)
        with pin(store) as (_, backend):
            assert not backend.type_colour_indexed
        monkeypatch.setattr(ServerStore, "_has_type_colour_index", staticmethod(lambda info: True))
    return store


def _expected(vectors, query, keep) -> list[int]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [i + 1 for i in range(len(vectors)) if keep(_payload(i))]
    return sorted(ids, key=lambda pid: -float(unit[pid - 1] @ query))


def test_admitted_values_cover_exactly_what_the_filter_allows():
    assert type_colour.admitted(Filters({"articleType": ["Tshirts"], "baseColour": ["Red"]})) == ["Tshirts/Red"]
    assert type_colour.admitted(Filters({"articleType": ["Tshirts"]})) == []                  # colour free
    assert type_colour.admitted(Filters({"articleType": ["Tshirts"]}), [("baseColour", ["Red", "Blue"])]) == [
        "Tshirts/Blue", "Tshirts/Red"]
    # A boost level requiring a type the filters also constrain: their intersection.
    assert type_colour.admitted(Filters({"articleType": ["Tshirts", "Shirts"], "baseColour": ["Red"]}),
                                [("articleType", ["Shirts", "Jeans"])]) == ["Shirts/Red"]
    # No combination left: a value no point holds, so the filter still matches nothing.
    assert type_colour.admitted(Filters({"articleType": ["Tshirts"], "baseColour": ["Red"]}),
                                [("articleType", ["Jeans"])]) == ["/"]
    many = Filters({"articleType": [f"t{i}" for i in range(9)], "baseColour": [f"c{i}" for i in range(8)]})
    assert type_colour.admitted(many) == []                                                   # 72 > 64
    assert type_colour.with_key({"articleType": "Tshirts"}) == {"articleType": "Tshirts"}
    assert type_colour.with_key({"articleType": "Tshirts", "baseColour": "Red"})[type_colour.KEY] == "Tshirts/Red"


@pytest.mark.parametrize("backend", ["edge", "server"])
def test_a_new_store_writes_and_uses_the_keyword_but_never_shows_it(tmp_path, monkeypatch, backend):
    store = _new_store(backend, tmp_path, monkeypatch)
    try:
        # A catalog column of that name is not the store's keyword: it is replaced by the derived one.
        store.upsert([500], np.ones((1, 8), np.float32), [{**_payload(0), type_colour.KEY: "Jeans/White"}])
        store.delete([500])
        vectors = _fill(store)
        assert _raw_payload(store, 1)[type_colour.KEY] == "Tshirts/Red"
        query = np.random.default_rng(1).standard_normal(8).astype(np.float32)
        query /= np.linalg.norm(query)
        red_tshirts = Filters({"articleType": ["Tshirts"], "baseColour": ["Red"]})
        hits = store.search(query, filters=red_tshirts, limit=50)
        assert [h.id for h in hits] == _expected(vectors, query, lambda p: p["articleType"] == "Tshirts"
                                                 and p["baseColour"] == "Red")
        assert store.count(red_tshirts) == len(hits) == 8
        seen = [h.payload for h in hits] + [h.payload for h in store.retrieve([1, 2], with_vectors=True)]
        seen += [h.payload for batch in store.scroll(batch=40) for h in batch]
        seen += [h.payload for h in store.search(query, boost=[("articleType", "Tshirts"), ("baseColour", "Red")])]
        seen += [h.payload for h in store.more_like_this(1, filters=red_tshirts)]
        assert len(seen) > 120 and not any(type_colour.KEY in p for p in seen)
        # The condition is applied: a point whose keyword says otherwise drops out of the type + colour
        # search (and only of it), which it could not if the search ignored the keyword.
        _set_raw_keyword(store, 1, "Jeans/White")
        assert 1 not in {h.id for h in store.search(query, filters=red_tshirts, limit=50)}
        assert 1 in {h.id for h in store.search(query, filters=Filters({"articleType": ["Tshirts"]}), limit=50)}
        assert store.count(red_tshirts) == 7 and dict(store.facets("gender", red_tshirts)) == {"Men": 7}
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["edge", "server"])
def test_a_payload_overwrite_moves_the_product_to_its_new_colour(tmp_path, monkeypatch, backend):
    store = _new_store(backend, tmp_path, monkeypatch)
    try:
        vectors = _fill(store)
        store.overwrite_payloads([1], [{**_payload(0), "baseColour": "Blue"}])
        query = vectors[0] / np.linalg.norm(vectors[0])
        blue = store.search(query, filters=Filters({"articleType": ["Tshirts"], "baseColour": ["Blue"]}), limit=50)
        red = store.search(query, filters=Filters({"articleType": ["Tshirts"], "baseColour": ["Red"]}), limit=50)
        assert blue[0].id == 1 and 1 not in {h.id for h in red}
        assert _raw_payload(store, 1)[type_colour.KEY] == "Tshirts/Blue"
    finally:
        store.close()


@pytest.mark.parametrize("boosted", [False, True])
def test_a_store_built_without_the_keyword_keeps_finding_its_products(tmp_path, boosted):
    """A collection created before the keyword existed has neither the index nor the keyword in its
    points; a search must not require it there (it would find nothing)."""
    store = open_store(tmp_path / "edge", collection="t")
    store.ensure_collection(8)
    store._require().update(qe.UpdateOperation.delete_field_index(type_colour.KEY))
    store.close()
    store = open_store(tmp_path / "edge", collection="t")
    try:
        store.ensure_collection(8)      # an existing collection: the keyword's index is not added now
        assert not store.type_colour_indexed
        vectors = _fill(store)
        assert type_colour.KEY not in _raw_payload(store, 1)
        query = np.random.default_rng(2).standard_normal(8).astype(np.float32)
        query /= np.linalg.norm(query)
        want = _expected(vectors, query, lambda p: p["articleType"] == "Shirts" and p["baseColour"] == "Black")
        if boosted:
            hits = store.search(query, boost=[("articleType", "Shirts"), ("baseColour", "Black")], limit=len(want))
        else:
            hits = store.search(query, filters=Filters({"articleType": ["Shirts"], "baseColour": ["Black"]}), limit=50)
        assert [h.id for h in hits] == want and len(want) == 8
    finally:
        store.close()


def test_values_whose_keywords_collide_are_still_told_apart(tmp_path):
    store = open_store(tmp_path / "edge", collection="t")
    try:
        store.ensure_collection(8)
        store.upsert([1, 2], np.eye(2, 8, dtype=np.float32), [{"articleType": "Tops/Shirts", "baseColour": "Red"},
                                                             {"articleType": "Tops", "baseColour": "Shirts/Red"}])
        assert _raw_payload(store, 1)[type_colour.KEY] == _raw_payload(store, 2)[type_colour.KEY]
        hits = store.search(np.ones(8), filters=Filters({"articleType": ["Tops"], "baseColour": ["Shirts/Red"]}))
        assert [h.id for h in hits] == [2]
    finally:
        store.close()


def test_an_old_store_is_synced_without_the_keyword_and_rebuilt_with_it(tmp_path):
    """The path docs/operations.md gives: a store built before the keyword keeps working through syncs,
    and `--rebuild` writes a version that has it; the same products answer a type + colour filter throughout."""
    from test_ingest import ingest_args, write_catalog
    from tiny_model import build_tiny_clip

    from fashion_search.ingest import main

    model, catalog, store = build_tiny_clip(tmp_path / "clip"), write_catalog(tmp_path / "shop", 44), tmp_path / "q"
    main(ingest_args(catalog, store, model, tmp_path / "a.json"))
    with open_store(str(store)) as opened, pin(opened) as (_, backend):   # as a store built before would be
        ids = [h.id for page in backend.scroll(with_vectors=False) for h in page]
        backend._require().update(qe.UpdateOperation.delete_payload(ids, [type_colour.KEY]))
        backend._require().update(qe.UpdateOperation.delete_field_index(type_colour.KEY))
    query, flt = np.ones(16), Filters({"articleType": ["Tshirts"], "baseColour": ["Red"]})

    def state() -> tuple[bool, list[int]]:
        with open_store(str(store)) as opened, pin(opened) as (_, backend):
            return backend.type_colour_indexed, sorted(h.id for h in opened.search(query, filters=flt, limit=20))

    want = [1000, 1020, 1040]       # i % 5 == 0 (Tshirts) and i % 4 == 0 (Red), ids from 1000
    assert state() == (False, want)
    styles = catalog / "styles.csv"                 # one name changed, so the sync writes a new version
    styles.write_text(styles.read_text().replace("Brand 1 ", "Brand One "))
    assert main(ingest_args(catalog, store, model, tmp_path / "b.json"))["version"]["kind"] == "sync"
    assert state() == (False, want)
    main(ingest_args(catalog, store, model, tmp_path / "c.json", "--rebuild"))
    assert state() == (True, want)
