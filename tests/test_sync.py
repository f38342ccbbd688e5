"""Catalog sync: a mutated catalog synced into a store equals a clean ingest of it (ids, payloads,
vectors), the five counts are exact, the deletion guard writes nothing, versions roll back.
Tiny model + a few dozen synthetic products; both backends (Edge, qdrant-client local mode)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_model import build_tiny_clip

from fashion_search.ingest import main
from fashion_search.ingest.sync import DeletionGuardError
from fashion_search.store import open_store
from fashion_search.store.manage import main as manage
from fashion_search.store.versions import EdgeVersions

HEADER = ["id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year", "usage",
          "productDisplayName"]
COLOURS = {"Red": (200, 30, 30), "Blue": (30, 30, 200), "Green": (30, 160, 60), "Black": (20, 20, 20)}
N = 40


class Shop:
    """A Kaggle-layout catalog that tests can mutate row by row and image by image."""

    def __init__(self, root: Path, n: int):
        self.root = root
        (root / "images").mkdir(parents=True)
        self.rows = {}
        for i in range(n):
            self.add(1000 + i)

    def add(self, pid: int, colour: str | None = None) -> None:
        i = pid - 1000
        colour = colour or list(COLOURS)[i % len(COLOURS)]
        self.rows[pid] = [pid, "Men" if i % 2 else "Women", "Apparel", "Topwear", "Tshirts", colour, "Summer",
                          2010 + i % 5, "Casual", f"Brand {i} {colour} tee"]
        self.draw(pid, COLOURS[colour], marker=i)
        self.save()

    def draw(self, pid: int, rgb, marker: int) -> None:
        image = Image.new("RGB", (30, 40), rgb)
        image.putpixel((marker % 30, marker % 40), (255, 255, 255))
        image.save(self.root / "images" / f"{pid}.jpg", quality=95)

    def save(self) -> None:
        with open(self.root / "styles.csv", "w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(HEADER)
            out.writerows(self.rows.values())


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> str:
    return str(build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny"))


def location(backend: str, path: Path) -> str:
    return str(path) if backend == "edge" else f"local:{path}"


def ingest(shop: Shop | Path, store: str, model: str, report: Path, *extra) -> dict:
    root = shop.root if isinstance(shop, Shop) else shop
    return main(["--catalog", str(root), "--store", store, "--model", model, "--batch-size", "8",
                 "--num-workers", "0", "--report", str(report), *extra])


def contents(store: str) -> dict[int, tuple[dict, np.ndarray]]:
    with open_store(store) as opened:
        return {hit.id: ({k: v for k, v in hit.payload.items() if k != "_vector"}, np.asarray(hit.payload["_vector"]))
                for page in opened.scroll(with_vectors=True) for hit in page}


def assert_same_contents(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for pid, (payload, vector) in expected.items():
        assert got[pid][0] == payload, pid
        np.testing.assert_allclose(got[pid][1], vector, atol=1e-5)


def mutate(shop: Shop) -> None:
    """3 added, 2 removed, 3 re-labelled, 2 images replaced, 1 image made unreadable."""
    for pid in (1040, 1041, 1042):
        shop.add(pid)
    for pid in (1005, 1006):
        del shop.rows[pid]
    for pid in (1010, 1011, 1012):
        shop.rows[pid][5] = "Navy Blue"            # a colour correction: payload only
        shop.rows[pid][9] += " (navy)"
    shop.draw(1020, (250, 250, 0), marker=3)      # re-shot photos: new vectors
    shop.draw(1021, (0, 250, 250), marker=4)
    (shop.root / "images" / "1030.jpg").write_bytes(b"not a jpeg any more")
    shop.save()


@pytest.mark.parametrize("backend", ["edge", "local"])
def test_sync_of_a_mutated_catalog_equals_a_clean_ingest(tmp_path, tiny_model_dir, backend):
    shop = Shop(tmp_path / "shop", N)
    store = location(backend, tmp_path / "store")
    first = ingest(shop, store, tiny_model_dir, tmp_path / "r1.json")
    assert first["sync"] == {"added": N, "re_embedded": 0, "payload_updated": 0, "deleted": 0, "unchanged": 0}

    mutate(shop)
    report = ingest(shop, store, tiny_model_dir, tmp_path / "r2.json")
    assert report["sync"] == {"added": 3, "re_embedded": 2, "payload_updated": 3, "deleted": 2, "unchanged": 32}
    assert (report["embedded"], report["skipped"], report["points"]) == (5, 1, 40)
    assert [item["id"] for item in report["skipped_items"]] == [1030]     # counted and named, no vector made up
    assert json.loads((tmp_path / "r2.json").read_text())["sync"] == report["sync"]
    # every catalog product is accounted for exactly once
    assert sum(report["sync"].values()) - report["sync"]["deleted"] + report["skipped"] == len(shop.rows)

    clean = location(backend, tmp_path / "clean")
    ingest(shop, clean, tiny_model_dir, tmp_path / "r3.json")
    assert_same_contents(contents(store), contents(clean))
    # The renamed products' words were rewritten with their payload: "navy" is in exactly those names now.
    query = contents(clean)[1000][1]
    with open_store(store) as synced, open_store(clean) as fresh:
        assert synced.has_words and fresh.has_words
        found, expected = (s.search(query, limit=5, words="navy") for s in (synced, fresh))
        assert [(h.id, round(h.score, 4)) for h in found] == [(h.id, round(h.score, 4)) for h in expected]
        assert {h.id for h in found[:3]} == {1010, 1011, 1012}

    again = ingest(shop, store, tiny_model_dir, tmp_path / "r4.json")
    assert again["sync"] == {"added": 0, "re_embedded": 0, "payload_updated": 0, "deleted": 0, "unchanged": 40}
    assert again["skipped"] == 1 and not again["version"]["switched"]


def test_deletion_guard_fires_before_anything_is_written(tmp_path, tiny_model_dir):
    shop = Shop(tmp_path / "shop", 20)
    store = tmp_path / "store"
    ingest(shop, str(store), tiny_model_dir, tmp_path / "r1.json")
    versions = EdgeVersions(store, "products")
    before = {p.relative_to(store): (p.stat().st_size, p.stat().st_mtime_ns) for p in store.rglob("*") if p.is_file()}
    manifest = json.loads(versions.manifest_path.read_text())

    shop.rows.clear()
    shop.save()                                     # an emptied catalog
    with pytest.raises(DeletionGuardError, match=r"delete 20 of the 20 .*--max-delete-share 1\.00"):
        ingest(shop, str(store), tiny_model_dir, tmp_path / "r2.json")
    after = {p.relative_to(store): (p.stat().st_size, p.stat().st_mtime_ns) for p in store.rglob("*") if p.is_file()}
    assert json.loads(versions.manifest_path.read_text()) == manifest
    assert {k: v for k, v in after.items() if k.name != "manifest.json"} == \
           {k: v for k, v in before.items() if k.name != "manifest.json"}
    assert len(contents(str(store))) == 20

    # 2 of 20 removed is 10%: allowed by default; 3 is not, until the flag says so
    shop2 = Shop(tmp_path / "shop2", 20)
    ingest(shop2, str(tmp_path / "s2"), tiny_model_dir, tmp_path / "r3.json")
    for pid in (1000, 1001, 1002):
        del shop2.rows[pid]
    shop2.save()
    with pytest.raises(DeletionGuardError, match="15%"):
        ingest(shop2, str(tmp_path / "s2"), tiny_model_dir, tmp_path / "r4.json")
    report = ingest(shop2, str(tmp_path / "s2"), tiny_model_dir, tmp_path / "r5.json", "--max-delete-share", "0.2")
    assert report["sync"]["deleted"] == 3 and report["points"] == 17


def test_guard_on_the_server_path_leaves_the_collection_alone(tmp_path, tiny_model_dir):
    shop = Shop(tmp_path / "shop", 20)
    store = f"local:{tmp_path / 'store'}"
    ingest(shop, store, tiny_model_dir, tmp_path / "r1.json")
    before = contents(store)
    for pid in list(shop.rows)[:5]:
        del shop.rows[pid]
    shop.rows[1019][5] = "Navy Blue"                # a payload change that must not be applied either
    shop.save()
    with pytest.raises(DeletionGuardError, match="25%"):
        ingest(shop, store, tiny_model_dir, tmp_path / "r2.json")
    assert_same_contents(contents(store), before)


def test_versions_cleanup_keep_and_rollback_follow(tmp_path, tiny_model_dir):
    shop = Shop(tmp_path / "shop", 12)
    store = str(tmp_path / "store")
    ingest(shop, store, tiny_model_dir, tmp_path / "r.json")
    reader = open_store(store)
    assert reader.serving_version() == "v0001" and reader.count() == 12
    shop.add(1012)
    ingest(shop, store, tiny_model_dir, tmp_path / "r.json")
    assert reader.serving_version() == "v0002" and reader.count() == 13      # followed, no reopen
    report = ingest(shop, store, tiny_model_dir, tmp_path / "r.json", "--rebuild", "--keep", "2")
    assert report["version"]["version"] == "v0003" and report["version"]["removed"] == ["v0001"]
    assert reader.serving_version() == "v0003" and not (tmp_path / "store" / "products.versions" / "v0001").exists()
    assert manage(["rollback", "--store", store]) == 0
    assert reader.serving_version() == "v0002" and reader.count() == 13
    assert manage(["rollback", "--store", store]) == 2                      # nothing older is kept
    assert manage(["rollback", "--store", store, "--to", "v0003"]) == 0
    assert reader.serving_version() == "v0003"
    reader.close()


def test_an_unversioned_store_is_served_as_is_and_adopted_as_version_1(tmp_path, tiny_model_dir):
    """A store written before versions existed: an Edge shard at <root>/<collection>/."""
    shop = Shop(tmp_path / "shop", 10)
    store = tmp_path / "store"
    ingest(shop, str(store), tiny_model_dir, tmp_path / "r.json")
    versions = EdgeVersions(store, "products")
    # turn it into the old layout: the shard directory at <root>/products, no manifest
    (store / "products.versions" / "v0001").rename(store / "products")
    import shutil

    shutil.rmtree(store / "products.versions")
    reader = open_store(str(store))
    assert reader.serving_version() == "v0001" and reader.count() == 10      # read as-is
    shop.add(1010)
    report = ingest(shop, str(store), tiny_model_dir, tmp_path / "r.json")
    assert report["sync"]["added"] == 1 and report["version"]["version"] == "v0002"
    assert reader.count() == 11
    assert versions.versions()["v0001"].location == "products"            # adopted where it lies
    assert manage(["rollback", "--store", str(store)]) == 0 and reader.count() == 10
    reader.close()


@pytest.mark.parametrize("backend", ["edge", "local"])
def test_snapshot_restores_into_an_empty_store_with_the_same_answers(tmp_path, tiny_model_dir, backend):
    shop = Shop(tmp_path / "shop", 16)
    store, empty = location(backend, tmp_path / "store"), location(backend, tmp_path / "empty")
    ingest(shop, store, tiny_model_dir, tmp_path / "r.json")
    assert manage(["snapshot", "--store", store, "--out", str(tmp_path / "snaps")]) == 0
    (snapshot,) = [p for p in (tmp_path / "snaps").iterdir() if not p.name.endswith(".json")]
    assert manage(["restore", "--store", empty, "--snapshot", str(snapshot)]) == 0
    assert manage(["restore", "--store", empty, "--snapshot", str(tmp_path / "nope")]) == 2

    queries = np.random.default_rng(0).normal(size=(5, 16)).astype(np.float32)
    with open_store(store) as original, open_store(empty) as restored:
        assert restored.model_info() == original.model_info()
        for query in queries:
            got, want = restored.search(query, limit=8), original.search(query, limit=8)
            assert [(h.id, h.payload) for h in got] == [(h.id, h.payload) for h in want]
            np.testing.assert_allclose([h.score for h in got], [h.score for h in want], atol=1e-6)
    assert_same_contents(contents(empty), contents(store))


def test_a_reader_refuses_another_models_version_and_names_the_fix(tmp_path, tiny_model_dir):
    from fashion_search.model.clip import load_clip, model_identity
    from fashion_search.store import StoreError

    shop = Shop(tmp_path / "shop", 10)
    store = str(tmp_path / "store")
    ingest(shop, store, tiny_model_dir, tmp_path / "r.json")
    model, _ = load_clip(tiny_model_dir)
    reader = open_store(store).for_model(model_identity(tiny_model_dir, model))
    query = np.ones(16, dtype=np.float32)
    assert len(reader.search(query, limit=3)) == 3 and reader.count() == 10

    other = build_tiny_clip(tmp_path / "other", captions=["a red shirt", "blue jeans for men"] * 20)
    ingest(shop, store, str(other), tmp_path / "r.json")                # a new model: v0002 served
    with pytest.raises(StoreError, match=r"(?s)v0002 .*built with model .*other.*--model .*manage rollback"):
        reader.search(query, limit=3)
    with pytest.raises(StoreError, match="manage rollback"):
        reader.more_like_this(1001, limit=3)
    assert manage(["rollback", "--store", store]) == 0
    assert len(reader.search(query, limit=3)) == 3                      # its own model's version again
    version = EdgeVersions(tmp_path / "store", "products").versions()["v0002"]
    assert version.model["weights_hash"] and version.info["catalog"] == str(shop.root.resolve())
    assert version.info["fingerprints"].startswith("blake2b")
    reader.serving.close()


def test_points_stored_before_fingerprints_are_adopted_without_re_embedding(tmp_path, tiny_model_dir):
    shop = Shop(tmp_path / "shop", 12)
    store = str(tmp_path / "store")
    ingest(shop, store, tiny_model_dir, tmp_path / "r.json")
    reference = contents(store)
    with open_store(store) as opened:                 # strip the fingerprints, as an older ingest wrote
        plain = {pid: {k: v for k, v in payload.items() if not k.startswith("fingerprint_")}
                 for pid, (payload, _) in reference.items()}
        opened.overwrite_payloads(list(plain), list(plain.values()))
    shop.rows[1003][5] = "Navy Blue"
    shop.save()
    report = ingest(shop, store, tiny_model_dir, tmp_path / "r.json")
    assert report["sync"]["payload_updated"] == 12 and report["embedded"] == 0
    assert report["plan"]["adopted_without_fingerprints"] == 12
    clean = str(tmp_path / "clean")
    ingest(shop, clean, tiny_model_dir, tmp_path / "r.json")
    assert_same_contents(contents(store), contents(clean))


def test_manage_list_and_errors_name_the_fix(tmp_path, tiny_model_dir, capsys):
    shop = Shop(tmp_path / "shop", 6)
    store = str(tmp_path / "store")
    assert manage(["rollback", "--store", store]) == 2                     # nothing served yet
    assert "nothing to roll back" in capsys.readouterr().err
    ingest(shop, store, tiny_model_dir, tmp_path / "r.json")
    assert manage(["list", "--store", store]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["serving"] == "v0001" and listed["versions"][0]["points"] == 6
    assert manage(["cleanup", "--store", store]) == 2 and "--keep" in capsys.readouterr().err
    assert manage(["cleanup", "--store", store, "--keep", "0"]) == 2
    assert manage(["restore", "--store", store]) == 2 and "--snapshot" in capsys.readouterr().err


def test_an_unversioned_server_collection_is_adopted_and_kept_for_rollback(tmp_path, tiny_model_dir):
    """qdrant-client local mode stands in for the server: a real collection named `products` (as
    written before versions) becomes products__v0001 when the first rebuild takes the alias."""
    from types import SimpleNamespace

    from fashion_search.ingest.config import parse_config
    from fashion_search.ingest.runner import run_ingest
    from fashion_search.store import open_backend
    from fashion_search.store.manage import run as manage_run

    shop = Shop(tmp_path / "shop", 8)
    ingest(shop, f"local:{tmp_path / 'a'}", tiny_model_dir, tmp_path / "r.json")
    reference = contents(f"local:{tmp_path / 'a'}")
    with open_store(f"local:{tmp_path / 'a'}") as versioned:
        model = versioned.model_info()
    legacy = open_backend(f"local:{tmp_path / 'b'}", "products")
    legacy.ensure_collection(16, model=model)
    legacy.upsert(list(reference), np.stack([v for _, v in reference.values()]), [p for p, _ in reference.values()])
    legacy.close()

    reader = open_store(f"local:{tmp_path / 'b'}")
    assert reader.serving_version() == "v0001" and reader.count() == 8          # read as-is
    base = reader.versions.base
    cfg = parse_config(["--catalog", str(shop.root), "--store", f"local:{tmp_path / 'b'}", "--model", tiny_model_dir,
                        "--num-workers", "0", "--report", str(tmp_path / "r.json"), "--rebuild"])
    report = run_ingest(cfg, base_store=base)
    assert report["version"]["version"] == "v0002" and report["version"]["switched"]
    assert reader.serving_version() == "v0002" and reader.count() == 8
    names = {c.name for c in base.client.get_collections().collections}
    assert names == {"products__v0001", "products__v0002"}                      # the alias holds the name
    args = SimpleNamespace(command="rollback", store=f"local:{tmp_path / 'b'}", collection="products", to=None)
    assert manage_run(args, base_store=base)["serving"] == "v0001"
    assert reader.serving_version() == "v0001"
    with reader.pinned() as (_, backend):
        restored = {h.id: ({k: v for k, v in h.payload.items() if k != "_vector"}, np.asarray(h.payload["_vector"]))
                    for page in backend.scroll(with_vectors=True) for h in page}
    assert_same_contents(restored, reference)                                  # the adopted copy is whole
    reader.close()


@pytest.mark.parametrize("backend", ["edge", "local"])
def test_a_removed_version_number_is_never_used_again(tmp_path, tiny_model_dir, backend):
    """v0002 served, rolled back, cleaned up: the next build is v0003. Readers key caches by the name
    (the page's facets), so a name must mean one build only."""
    shop = Shop(tmp_path / "shop", 8)
    store = location(backend, tmp_path / "store")
    assert ingest(shop, store, tiny_model_dir, tmp_path / "r1.json")["version"]["version"] == "v0001"
    shop.add(1008)
    shop.save()
    assert ingest(shop, store, tiny_model_dir, tmp_path / "r2.json")["version"]["version"] == "v0002"
    assert manage(["rollback", "--store", store]) == 0
    assert manage(["cleanup", "--store", store, "--keep", "1"]) == 0
    shop.add(1009)
    shop.save()
    report = ingest(shop, store, tiny_model_dir, tmp_path / "r3.json")
    assert report["version"]["version"] == "v0003" and report["version"]["switched"]
    with open_store(store) as reader:
        assert reader.serving_version() == "v0003" and reader.count() == 10
