"""A sync on the server path (qdrant-client local mode stands in for the server): the served collection
is copied into a new version collection, the copy is synced, and the alias moves only when it is
complete. The old collection stays as it was (rollback, and readers pinned on it); a no-op sync
publishes nothing; a run stopped anywhere (mid-copy, after the copy, mid-sync, before the switch)
leaves the old catalog served and a rerun converges to a clean ingest."""

from __future__ import annotations

import numpy as np
import pytest
from test_sync import Shop, assert_same_contents, contents, ingest, mutate
from tiny_model import build_tiny_clip

from fashion_search.ingest.config import parse_config
from fashion_search.ingest.runner import run_ingest
from fashion_search.store import StoreError, open_store, server_copy
from fashion_search.store.server_versions import ServerVersions, SharedClientStore
from fashion_search.store.versions import BUILDING, READY

MUTATED = {"added": 3, "re_embedded": 2, "payload_updated": 3, "deleted": 2, "unchanged": 32}
NOTHING = {"added": 0, "re_embedded": 0, "payload_updated": 0, "deleted": 0}


class Killed(Exception):
    """Stands in for a kill at a chosen step: nothing after it runs."""


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> str:
    return str(build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny"))


@pytest.fixture
def served(tmp_path, tiny_model_dir):
    """(shop, location, reader, base): 40 products ingested as v0001, then the catalog mutated. The
    reader is the ServingStore the page would hold; local mode allows one client per directory, so
    the ingest runs write through the reader's client."""
    shop = Shop(tmp_path / "shop", 40)
    location = f"local:{tmp_path / 'store'}"
    reader = open_store(location)
    base = reader.versions.base
    first = run(shop, location, tiny_model_dir, tmp_path, base)
    assert first["version"]["version"] == "v0001" and first["version"]["switched"]
    mutate(shop)
    yield shop, location, reader, base
    reader.close()


def run(shop: Shop, location: str, model: str, tmp_path, base, *extra) -> dict:
    cfg = parse_config(["--catalog", str(shop.root), "--store", location, "--model", model, "--batch-size", "8",
                        "--num-workers", "0", "--report", str(tmp_path / "r.json"), *extra])
    return run_ingest(cfg, base_store=base)


def read(backend) -> dict:
    return {hit.id: ({k: v for k, v in hit.payload.items() if k != "_vector"}, np.asarray(hit.payload["_vector"]))
            for page in backend.scroll(with_vectors=True) for hit in page}


def collection(base, name: str) -> dict:
    return read(SharedClientStore.borrow(base, name))


def collections(base) -> set[str]:
    return {c.name for c in base.client.get_collections().collections}


def alias(base) -> str:
    return {a.alias_name: a.collection_name for a in base.client.get_aliases().aliases}["products"]


@pytest.fixture
def clean(tmp_path, tiny_model_dir):
    """What the mutated catalog gives when ingested from scratch (computed on demand)."""
    def build(shop: Shop) -> dict:
        location = f"local:{tmp_path / 'clean'}"
        ingest(shop, location, tiny_model_dir, tmp_path / "clean.json")
        return contents(location)
    return build


def test_a_sync_copies_the_served_collection_and_switches_when_complete(served, tmp_path, tiny_model_dir, clean,
                                                                        monkeypatch):
    shop, location, reader, base = served
    old = collection(base, "products__v0001")
    assert len(old) == 40
    seen_before_switch = {}
    real_switch = ServerVersions.switch

    def switch_after_looking(self, version, info=None):
        # the sync is complete in its copy, the alias not moved yet: readers still get the old catalog
        seen_before_switch["served"] = read(reader)
        seen_before_switch["copy"] = collection(base, version.location)
        return real_switch(self, version, info)

    monkeypatch.setattr(ServerVersions, "switch", switch_after_looking)
    with reader.pinned() as (pinned_version, pinned):
        report = run(shop, location, tiny_model_dir, tmp_path, base)
        assert pinned_version == "v0001"
        assert_same_contents(read(pinned), old)     # pinned on the old version: only old products, also now
    monkeypatch.setattr(ServerVersions, "switch", real_switch)

    assert report["sync"] == MUTATED and (report["embedded"], report["points"]) == (5, 40)
    assert report["version"] == {**report["version"], "version": "v0002", "kind": "sync", "served_before": "v0001",
                                 "switched": True, "resumed": False}
    assert_same_contents(seen_before_switch["served"], old)
    expected = clean(shop)
    assert_same_contents(seen_before_switch["copy"], expected)
    assert alias(base) == "products__v0002" and reader.serving_version() == "v0002"
    assert collections(base) == {"products__v0001", "products__v0002"}
    assert_same_contents(read(reader), expected)
    assert_same_contents(collection(base, "products__v0001"), old)          # the old version is untouched
    with reader.pinned() as (_, backend):                                   # words were copied as stored
        assert backend.has_words
        assert {h.id for h in backend.search(expected[1000][1], limit=3, words="navy")} == {1010, 1011, 1012}

    # The copy has the served collection's configuration and records what it is.
    source, copy = (base.client.get_collection(n).config for n in ("products__v0001", "products__v0002"))
    assert (copy.params, copy.hnsw_config, copy.optimizer_config) == (source.params, source.hnsw_config,
                                                                       source.optimizer_config)
    versions = reader.versions.versions()
    assert {n: v.state for n, v in versions.items()} == {"v0001": READY, "v0002": READY}
    record = versions["v0002"]
    assert record.model == versions["v0001"].model
    assert (record.info["kind"], record.info["base"], record.info["copy"]) == ("sync", "v0001", "complete")

    # Nothing changed: no new version, the alias stays, the copy made for the check is gone.
    again = run(shop, location, tiny_model_dir, tmp_path, base)
    assert again["sync"] == {**NOTHING, "unchanged": 40} and not again["version"]["switched"]
    assert again["version"]["version"] == "v0002"
    assert collections(base) == {"products__v0001", "products__v0002"} and alias(base) == "products__v0002"

    # Old versions follow --keep like Edge's: v0001 goes, the served one and the one before stay.
    shop.add(1043)
    kept = run(shop, location, tiny_model_dir, tmp_path, base, "--keep", "2")
    assert kept["sync"] == {**NOTHING, "added": 1, "unchanged": 40} and kept["version"]["version"] == "v0003"
    assert kept["version"]["removed"] == ["v0001"]
    assert collections(base) == {"products__v0002", "products__v0003"} and alias(base) == "products__v0003"


def _stop_mid_copy(monkeypatch):
    monkeypatch.setattr(server_copy, "COPY_PAGE", 8)
    real, pages = server_copy.write_page, []

    def write_two_pages(*args):
        if len(pages) == 2:
            raise Killed("mid-copy")
        pages.append(1)
        real(*args)
    monkeypatch.setattr(server_copy, "write_page", write_two_pages)


def _stop_after_copy(monkeypatch):
    real = server_copy.copy_points

    def copy_then_stop(*args, **kwargs):
        real(*args, **kwargs)
        raise Killed("copied, completeness not recorded")
    monkeypatch.setattr(server_copy, "copy_points", copy_then_stop)


def _stop_mid_sync(monkeypatch):
    import fashion_search.ingest.runner as runner

    def stop(*args, **kwargs):
        raise Killed("deletes and payload updates done, nothing embedded")
    monkeypatch.setattr(runner, "_embed_and_write", stop)


def _stop_before_switch(monkeypatch):
    def stop(self, version, info=None):
        raise Killed("synced, not switched")
    monkeypatch.setattr(ServerVersions, "switch", stop)


# point: (how to stop, the copy's record after the stop, points in it, the rerun resumes it, the rerun's counts)
KILLS = {
    "mid-copy": (_stop_mid_copy, "partial", 16, False, MUTATED),
    "after-copy": (_stop_after_copy, "partial", 40, False, MUTATED),
    "mid-sync": (_stop_mid_sync, "complete", 38, True, {**NOTHING, "added": 3, "re_embedded": 2, "unchanged": 35}),
    "before-switch": (_stop_before_switch, "complete", 40, True, {**NOTHING, "unchanged": 40}),
}


@pytest.mark.parametrize("point", list(KILLS))
def test_a_sync_stopped_anywhere_keeps_the_old_catalog_served_and_a_rerun_converges(served, tmp_path, tiny_model_dir,
                                                                                  clean, monkeypatch, point):
    stop, copy_state, points, resumes, counts = KILLS[point]
    shop, location, reader, base = served
    old = collection(base, "products__v0001")
    with monkeypatch.context() as patched:
        stop(patched)
        with pytest.raises(Killed):
            run(shop, location, tiny_model_dir, tmp_path, base)

    # Readers are still served the whole old catalog; the unfinished version waits unserved.
    assert alias(base) == "products__v0001" and reader.serving_version() == "v0001"
    assert_same_contents(read(reader), old)
    leftover = reader.versions.versions()["v0002"]
    assert (leftover.state, leftover.info["copy"]) == (BUILDING, copy_state)
    assert len(collection(base, "products__v0002")) == points
    if copy_state == "partial":                       # an unfinished copy is never switched to
        with pytest.raises(StoreError, match="unfinished copy"):
            reader.versions.switch(leftover)
        assert alias(base) == "products__v0001"

    report = run(shop, location, tiny_model_dir, tmp_path, base)
    assert report["sync"] == counts
    assert report["version"]["version"] == "v0002" and report["version"]["switched"]
    assert report["version"]["resumed"] is resumes     # a partial copy is discarded and made again
    assert_same_contents(read(reader), clean(shop))
    assert_same_contents(collection(base, "products__v0001"), old)
    assert collections(base) == {"products__v0001", "products__v0002"} and alias(base) == "products__v0002"
    assert reader.versions.versions()["v0002"].info["copy"] == "complete"


def test_the_copy_keeps_the_served_collections_index_settings_and_payload_indexes():
    """What a real server reports is turned back into creation arguments (local mode reports defaults
    and keeps no payload indexes, so the translation is checked on a server-like answer)."""
    from qdrant_client import models as qm

    store = open_store(":memory:")
    try:
        store.ensure_collection(4, model={"name": "m", "weights_hash": "h"})
        info = store.versions.base.client.get_collection("products")
    finally:
        store.close()
    config = info.config.model_copy(update={
        "hnsw_config": info.config.hnsw_config.model_copy(update={"m": 32, "ef_construct": 256}),
        "quantization_config": qm.ScalarQuantization(scalar=qm.ScalarQuantizationConfig(type=qm.ScalarType.INT8,
                                                                                         quantile=0.99)),
        "params": info.config.params.model_copy(update={"shard_number": 3, "on_disk_payload": True})})
    kwargs = server_copy.creation_kwargs(config)
    assert kwargs["vectors_config"] == qm.VectorParams(size=4, distance=qm.Distance.COSINE)
    assert set(kwargs["sparse_vectors_config"]) == {"name_bm25"}
    assert kwargs["sparse_vectors_config"]["name_bm25"].modifier == qm.Modifier.IDF
    assert (kwargs["hnsw_config"].m, kwargs["hnsw_config"].ef_construct) == (32, 256)
    assert kwargs["optimizers_config"].indexing_threshold == info.config.optimizer_config.indexing_threshold
    assert kwargs["quantization_config"].scalar.type == qm.ScalarType.INT8
    assert (kwargs["shard_number"], kwargs["on_disk_payload"]) == (3, True)

    tenant = qm.KeywordIndexParams(type=qm.KeywordIndexType.KEYWORD, is_tenant=True)
    served = info.model_copy(update={"payload_schema": {
        "gender": qm.PayloadIndexInfo(data_type=qm.PayloadSchemaType.KEYWORD, params=tenant, points=40),
        "year": qm.PayloadIndexInfo(data_type=qm.PayloadSchemaType.INTEGER, points=40)}})
    assert server_copy.payload_indexes(served) == {"gender": tenant, "year": qm.PayloadSchemaType.INTEGER}
