"""`ingest --from SRC --to DST`: copy vectors, payloads and the model identity to another store without
re-embedding; resumable and idempotent. Edge -> qdrant-client local mode (the server code path)."""

from __future__ import annotations

import numpy as np
import pytest
from test_ingest import BATCH, ingest_args, write_catalog
from tiny_model import build_tiny_clip

from fashion_search.ingest import ConfigError, main
from fashion_search.ingest import migrate as migrate_module
from fashion_search.store import StoreError, open_store
from fashion_search.store.base import VECTOR_KEY
from fashion_search.store.server import ServerStore

N_PRODUCTS = 30


@pytest.fixture(scope="module")
def edge_source(tmp_path_factory) -> str:
    """An Edge store ingested once with the tiny model (no model is needed after this)."""
    root = tmp_path_factory.mktemp("migrate_src")
    catalog = write_catalog(root / "shop", N_PRODUCTS)
    model_dir = build_tiny_clip(root / "clip")
    main(ingest_args(catalog, root / "edge", model_dir, root / "ingest.json"))
    return str(root / "edge")


def snapshot(location: str) -> tuple[dict, dict, dict | None]:
    """(vectors by id, payloads by id, model identity) of a store's 'products' collection."""
    with open_store(location) as store:
        hits = [hit for page in store.scroll(batch=64, with_vectors=True) for hit in page]
        vectors = {hit.id: np.asarray(hit.payload.pop(VECTOR_KEY)) for hit in hits}
        return vectors, {hit.id: hit.payload for hit in hits}, store.model_info()


def test_migration_copies_vectors_payloads_and_model_then_is_idempotent(tmp_path, edge_source):
    destination = f"local:{tmp_path / 'server'}"
    report = main(["--from", edge_source, "--to", destination, "--report", str(tmp_path / "m1.json")])
    assert (report["total"], report["copied"], report["already_present"]) == (N_PRODUCTS, N_PRODUCTS, 0)
    assert report["destination_count"] == N_PRODUCTS

    src_vectors, src_payloads, src_model = snapshot(edge_source)
    dst_vectors, dst_payloads, dst_model = snapshot(destination)
    assert src_model is not None and dst_model == src_model == report["model"]
    assert dst_payloads == src_payloads and len(dst_payloads) == N_PRODUCTS
    assert all("caption" in payload and "image_ref" in payload for payload in dst_payloads.values())
    assert sorted(dst_vectors) == sorted(src_vectors)
    for pid, vector in src_vectors.items():
        np.testing.assert_allclose(dst_vectors[pid], vector, atol=1e-6)

    again = main(["--from", edge_source, "--to", destination, "--report", str(tmp_path / "m2.json")])
    assert (again["copied"], again["already_present"], again["destination_count"]) == (0, N_PRODUCTS, N_PRODUCTS)


def test_interrupted_migration_resumes_with_only_the_rest(tmp_path, edge_source, monkeypatch):
    monkeypatch.setattr(migrate_module, "MIGRATE_BATCH", BATCH)
    destination = f"local:{tmp_path / 'server'}"
    calls = []
    real_upsert = ServerStore.upsert

    def dying_upsert(self, ids, vectors, payloads):
        calls.append(len(ids))
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated kill")
        real_upsert(self, ids, vectors, payloads)

    monkeypatch.setattr(ServerStore, "upsert", dying_upsert)
    with pytest.raises(KeyboardInterrupt):
        main(["--from", edge_source, "--to", destination, "--report", str(tmp_path / "killed.json")])
    monkeypatch.setattr(ServerStore, "upsert", real_upsert)
    with open_store(destination) as store:
        assert store.count() == BATCH

    rerun = main(["--from", edge_source, "--to", destination, "--report", str(tmp_path / "rerun.json")])
    assert (rerun["copied"], rerun["already_present"]) == (N_PRODUCTS - BATCH, BATCH)
    src_vectors, _, _ = snapshot(edge_source)
    dst_vectors, _, _ = snapshot(destination)
    assert sorted(dst_vectors) == sorted(src_vectors)
    for pid, vector in src_vectors.items():
        np.testing.assert_allclose(dst_vectors[pid], vector, atol=1e-6)


def test_migration_refuses_a_destination_built_with_another_model(tmp_path, edge_source):
    destination = f"local:{tmp_path / 'server'}"
    with open_store(destination) as store:
        store.ensure_collection(16, model={"name": "other", "weights_hash": "0" * 64})
    with pytest.raises(StoreError, match="--recreate"):
        main(["--from", edge_source, "--to", destination, "--report", str(tmp_path / "m.json")])
    report = main(["--from", edge_source, "--to", destination, "--recreate", "--report", str(tmp_path / "m.json")])
    assert report["copied"] == N_PRODUCTS


def test_migration_errors_name_the_fix(tmp_path, edge_source):
    empty = str(tmp_path / "empty_edge")
    with open_store(empty) as store:
        store.ensure_collection(16, model={"name": "m", "weights_hash": "1" * 64})
    with pytest.raises(StoreError, match="empty"):
        main(["--from", empty, "--to", f"local:{tmp_path / 'dst'}", "--report", str(tmp_path / "r.json")])
    with pytest.raises(ConfigError, match="same store"):
        main(["--from", edge_source, "--to", edge_source])
