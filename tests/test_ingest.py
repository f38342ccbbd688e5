"""Ingest job: idempotent, resumable, bad images skipped and reported, model identity enforced,
payloads complete, sharding correct. Tiny model + a few dozen synthetic products keep it cheap."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_model import build_tiny_clip

from fashion_search.catalog.captions import canonical_caption
from fashion_search.catalog.products import open_catalog
from fashion_search.ingest import ConfigError, IngestConfig, batches_per_process, main, shard_ids
from fashion_search.ingest.fingerprints import image_fingerprint, metadata_fingerprint
from fashion_search.ingest.writer import DirectWriter, needs_single_writer
from fashion_search.model.clip import load_clip, model_identity
from fashion_search.store import Filters, StoreError, open_store

REPO = Path(__file__).resolve().parents[1]
N_PRODUCTS = 40
BATCH = 8
COLOURS = {"Red": (200, 30, 30), "Blue": (30, 30, 200), "Green": (30, 160, 60), "Black": (20, 20, 20)}
ARTICLES = ["Tshirts", "Jeans", "Watches", "Handbags", "Casual Shoes"]


def write_catalog(root: Path, n: int) -> Path:
    """A Kaggle-layout catalog whose image colour follows baseColour; ids start at 1000."""
    (root / "images").mkdir(parents=True)
    with open(root / "styles.csv", "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season",
                      "year", "usage", "productDisplayName"])
        for i in range(n):
            colour = list(COLOURS)[i % len(COLOURS)]
            article = ARTICLES[i % len(ARTICLES)]
            year = "" if i == 3 else str(2010 + i % 5)  # one product without a year: field must be absent
            out.writerow([1000 + i, "Men" if i % 2 else "Women", "Apparel", "Topwear", article, colour,
                          "Summer", year, "Casual", f"Brand {i} {colour} {article}"])
            image = Image.new("RGB", (30, 40), COLOURS[colour])
            image.putpixel((i % 30, i % 40), (255, 255, 255))  # no two images identical
            image.save(root / "images" / f"{1000 + i}.jpg", quality=95)
    return root


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> str:
    return str(build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny"))


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("catalog") / "shop", N_PRODUCTS)


@pytest.fixture(scope="module")
def clean_store(tmp_path_factory, catalog_dir, tiny_model_dir) -> tuple[str, dict]:
    """One uninterrupted ingest of the module catalog: the reference the other runs must reproduce."""
    root = tmp_path_factory.mktemp("clean")
    report = main(ingest_args(catalog_dir, root / "qdrant", tiny_model_dir, root / "report.json"))
    return str(root / "qdrant"), report


def ingest_args(catalog, store, model, report, *extra) -> list[str]:
    return ["--catalog", str(catalog), "--store", str(store), "--model", str(model), "--batch-size", str(BATCH),
            "--num-workers", "0", "--report", str(report), *extra]


def stored_vectors(store_location: str) -> dict[int, np.ndarray]:
    with open_store(store_location) as store:
        return {hit.id: np.asarray(hit.payload["_vector"]) for page in store.scroll(with_vectors=True)
                for hit in page}


def test_shard_ids_is_a_balanced_partition():
    ids = list(range(100, 123))  # 23 ids over 4 processes
    shards = [shard_ids(ids, rank, 4) for rank in range(4)]
    assert sorted(i for shard in shards for i in shard) == ids
    assert sum(len(shard) for shard in shards) == len(ids)  # disjoint
    assert [len(shard) for shard in shards] == [6, 6, 6, 5]
    assert shard_ids(ids, 0, 1) == ids
    assert batches_per_process(23, 4, 4) == 2 and batches_per_process(24, 4, 4) == 2
    assert batches_per_process(25, 4, 4) == 2 and batches_per_process(0, 2, 8) == 0
    with pytest.raises(ValueError):
        shard_ids(ids, 4, 4)


def test_single_writer_only_for_non_server_stores():
    assert needs_single_writer(".qdrant") and needs_single_writer("local:/tmp/x")
    assert not needs_single_writer("http://localhost:6333")


@pytest.mark.parametrize("kwargs, fix", [
    ({}, "--catalog"),
    ({"catalog": "/nonexistent/shop"}, "does not exist"),
    ({"catalog": ".", "split": "test"}, "--splits-file"),
    ({"catalog": ".", "batch_size": 0}, "--batch-size"),
    ({"from_store": ".qdrant"}, "--to"),
    ({"from_store": "a", "to_store": "a"}, "same store"),
    ({"from_store": "a", "to_store": "b", "catalog": "."}, "drop --catalog"),
])
def test_config_errors_name_the_fix(kwargs, fix):
    with pytest.raises(ConfigError, match=fix):
        IngestConfig(store=".qdrant", collection="products", **kwargs)


def test_entry_point_is_the_library_main():
    spec = importlib.util.spec_from_file_location("ingest_entry", REPO / "ingest" / "ingest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main is main


def test_ingest_twice_is_idempotent_with_complete_payloads(tmp_path, catalog_dir, tiny_model_dir, clean_store):
    store, first = clean_store
    assert (first["total"], first["embedded"], first["already_present"], first["skipped"]) == (N_PRODUCTS,) * 2 + (0, 0)
    assert first["images_per_s"] > 0 and {"read_decode_wait", "embed", "write"} <= set(first["stages"])
    assert json.loads((Path(store).parent / "report.json").read_text())["embedded"] == N_PRODUCTS
    vectors_before = stored_vectors(str(store))

    second = main(ingest_args(catalog_dir, store, tiny_model_dir, tmp_path / "r2.json"))
    assert (second["embedded"], second["already_present"]) == (0, N_PRODUCTS)
    vectors_after = stored_vectors(str(store))
    assert sorted(vectors_after) == list(range(1000, 1000 + N_PRODUCTS))
    for pid, vector in vectors_before.items():
        np.testing.assert_allclose(vectors_after[pid], vector, atol=1e-6)
        assert abs(np.linalg.norm(vector) - 1) < 1e-4

    catalog = open_catalog(catalog_dir)
    products = {p.id: p for p in catalog.products()}
    with open_store(str(store)) as opened:
        hits = opened.retrieve(list(products))
        model, _ = load_clip(tiny_model_dir)
        # Absolute model path (the page loads the model from anywhere) and the catalog the page may show.
        assert opened.model_info() == {**model_identity(str(Path(tiny_model_dir).resolve()), model),
                                       "catalog": str(catalog.root)}
    assert len(hits) == N_PRODUCTS
    for hit in hits:
        product = products[hit.id]
        expected = {k: v for k, v in product.metadata().items() if v is not None}
        expected.update(caption=canonical_caption(product), image_ref=product.image_ref,
                        catalog=str(catalog_dir.resolve()))
        # Sync's fingerprints: of the image bytes, and of the rest of the payload.
        expected.update(fingerprint_image=image_fingerprint(catalog.image_bytes(product)),
                        fingerprint_metadata=metadata_fingerprint(expected))
        assert hit.payload == expected
        reopened = open_catalog(hit.payload["catalog"]).load_image(hit.payload["image_ref"])
        assert np.array_equal(np.asarray(reopened), np.asarray(catalog.load_image(product)))
    assert "year" not in products_payload(hits, 1003) and products_payload(hits, 1004)["year"] == 2014


def building_count(store_dir) -> int:
    """Points in the version an interrupted run left building (readers cannot see it)."""
    from fashion_search.store.versions import BUILDING, EdgeVersions

    versions = EdgeVersions(store_dir, "products")
    (building,) = [v for v in versions.versions().values() if v.state == BUILDING]
    with versions.open(building) as store:
        return store.count()


def killed_at_write(monkeypatch, nth: int, run) -> None:
    """run() with the nth DirectWriter.write raising KeyboardInterrupt, as a kill after nth - 1 committed
    batches would; the run must end there, and writes work again afterwards."""
    real_write, calls = DirectWriter.write, []

    def dying_write(self, ids, vectors, extras=None):
        calls.append(len(ids))
        if len(calls) == nth:
            raise KeyboardInterrupt("simulated kill")
        real_write(self, ids, vectors, extras)

    monkeypatch.setattr(DirectWriter, "write", dying_write)
    try:
        with pytest.raises(KeyboardInterrupt):
            run()
    finally:
        monkeypatch.setattr(DirectWriter, "write", real_write)


def products_payload(hits, pid) -> dict:
    return next(hit.payload for hit in hits if hit.id == pid)


def test_killed_ingest_resumes_and_matches_a_clean_run(tmp_path, catalog_dir, tiny_model_dir, clean_store,
                                                       monkeypatch):
    clean, _ = clean_store

    # "Kill" after 2 committed batches: the third upsert blows up, as a crash mid-run would.
    resumed = tmp_path / "resumed"
    killed_at_write(monkeypatch, 3, lambda: main(ingest_args(catalog_dir, resumed, tiny_model_dir,
                                                             tmp_path / "killed.json")))
    # Readers never see the half-built version; its two committed batches wait to be resumed.
    assert building_count(resumed) == 2 * BATCH
    with open_store(str(resumed)) as store, pytest.raises(StoreError, match="does not exist"):
        store.count()

    # A --max-batches stop is the same kind of partial run: one more batch, then finish.
    partial = main(ingest_args(catalog_dir, resumed, tiny_model_dir, tmp_path / "p.json", "--max-batches", "1"))
    assert (partial["embedded"], partial["already_present"], partial["stopped_early"]) == (BATCH, 2 * BATCH, True)
    assert partial["version"] is None and building_count(resumed) == 3 * BATCH     # still not served
    rerun = main(ingest_args(catalog_dir, resumed, tiny_model_dir, tmp_path / "rerun.json"))
    assert rerun["already_present"] == 3 * BATCH
    assert rerun["embedded"] == N_PRODUCTS - 3 * BATCH and not rerun["stopped_early"]

    expected, got = stored_vectors(str(clean)), stored_vectors(str(resumed))
    assert sorted(got) == sorted(expected)
    for pid in expected:
        np.testing.assert_allclose(got[pid], expected[pid], atol=1e-6)


def test_bad_images_are_skipped_counted_and_listed(tmp_path, tiny_model_dir):
    catalog_dir = write_catalog(tmp_path / "bad_shop", 12)
    images = catalog_dir / "images"
    (images / "1001.jpg").unlink()                                            # missing
    (images / "1002.jpg").write_bytes((images / "1002.jpg").read_bytes()[:200])  # truncated JPEG
    (images / "1003.jpg").write_text("this is not an image\n")                # text named .jpg
    store, report_path = tmp_path / "qdrant", tmp_path / "report.json"
    # Two workers: a bad image must come back as a marker, not kill the worker or the loader.
    report = main(ingest_args(catalog_dir, store, tiny_model_dir, report_path, "--num-workers", "2"))

    assert report["embedded"] == 9 and report["skipped"] == 2
    assert [item["id"] for item in report["skipped_items"]] == [1002, 1003]
    assert all(item["reason"].startswith("image:") for item in report["skipped_items"])
    assert report["catalog_dropped"]["missing_image"] == 1
    assert "images/1001.jpg" in json.dumps(report["catalog_dropped"]["examples"])
    assert json.loads(report_path.read_text())["skipped_items"] == report["skipped_items"]
    with open_store(str(store)) as opened:
        assert opened.count() == 9
        assert opened.existing_ids([1001, 1002, 1003, 1004]) == {1004}


def test_other_model_builds_a_new_version_and_rolls_back(tmp_path, catalog_dir, tiny_model_dir, monkeypatch):
    from fashion_search.store.manage import main as manage

    store = tmp_path / "qdrant"
    first = main(ingest_args(catalog_dir, store, tiny_model_dir, tmp_path / "a.json", "--limit", "10"))
    other_dir = build_tiny_clip(tmp_path / "other", captions=["a red shirt", "blue jeans for men"] * 20)
    report = main(ingest_args(catalog_dir, store, other_dir, tmp_path / "c.json", "--limit", "10"))
    assert (report["embedded"], report["already_present"]) == (10, 0)
    assert report["version"]["version"] == "v0002" and report["version"]["kind"] == "rebuild"
    other_model, _ = load_clip(str(other_dir))
    with open_store(str(store)) as opened:
        expected = {**model_identity(str(Path(other_dir).resolve()), other_model), "catalog": str(Path(catalog_dir).resolve())}
        assert opened.model_info() == expected == report["model"]
        assert opened.count() == 10 and opened.serving_version() == "v0002"
        # One command puts the first model's version back; the open reader follows without reopening.
        assert manage(["rollback", "--store", str(store)]) == 0
        assert opened.serving_version() == "v0001" and opened.model_info() == first["model"]


def test_split_file_restricts_the_ingest(tmp_path, catalog_dir, tiny_model_dir):
    from fashion_search.catalog.splits import save_splits

    splits_file = tmp_path / "splits.json"
    save_splits(splits_file, {"train": list(range(1000, 1030)), "val": [1030, 1031],
                              "test": [1032, 1035, 1039, 99999]})
    report = main(ingest_args(catalog_dir, tmp_path / "qdrant", tiny_model_dir, tmp_path / "r.json",
                              "--split", "test", "--splits-file", str(splits_file)))
    assert report["total"] == 3 and report["embedded"] == 3
    with open_store(str(tmp_path / "qdrant")) as opened:
        assert opened.existing_ids(range(1000, 1040)) == {1032, 1035, 1039}


def test_end_to_end_text_search_and_filters(tmp_path, tiny_model_dir):
    from fashion_search.model.embed import Embedder

    synthetic = pytest.importorskip("fashion_search.catalog.synthetic.generate")
    catalog_dir = synthetic.write_synthetic_catalog(tmp_path / "synthetic", n=40, seed=3)
    store = tmp_path / "qdrant"
    report = main(ingest_args(catalog_dir, store, tiny_model_dir, tmp_path / "r.json"))
    assert report["embedded"] == report["total"] > 0

    product = next(open_catalog(catalog_dir).products())
    model, processor = load_clip(tiny_model_dir)
    query = Embedder(model, processor, device="cpu").encode_texts([canonical_caption(product)])[0]
    with open_store(str(store)) as opened:
        hits = opened.search(query, limit=5)
        assert len(hits) == 5 and all(hit.payload["caption"] for hit in hits)
        filters = Filters(values={"gender": [product.gender], "articleType": [product.articleType]})
        filtered = opened.search(query, filters=filters, limit=50)
        assert product.id in {hit.id for hit in filtered}
        assert all(hit.payload["gender"] == product.gender and hit.payload["articleType"] == product.articleType
                   for hit in filtered)
        assert len(filtered) == opened.count(filters) < report["total"]


@pytest.mark.realdata
def test_real_parquet_catalog_first_products(tmp_path, real_parquet_dir, tiny_model_dir):
    """The real layout (parquet rows as image refs) round-trips through the payload."""
    store = tmp_path / "qdrant"
    report = main(ingest_args(real_parquet_dir, store, tiny_model_dir, tmp_path / "r.json", "--limit", "24"))
    assert (report["total"], report["embedded"], report["catalog_dropped"]) == (24, 24, None)
    catalog = open_catalog(real_parquet_dir)
    first = next(catalog.products())
    with open_store(str(store)) as opened:
        (hit,) = opened.retrieve([first.id])
    assert "#" in hit.payload["image_ref"] and hit.payload["name"] == first.name
    reopened = open_catalog(hit.payload["catalog"]).load_image(hit.payload["image_ref"])
    assert np.array_equal(np.asarray(reopened), np.asarray(catalog.load_image(first)))


@pytest.mark.slow
def test_two_process_torchrun_ingest_into_edge(tmp_path, catalog_dir, tiny_model_dir, clean_store):
    """2 CPU processes (gloo): each embeds its shard, rank 0 alone writes the Edge store."""
    store = tmp_path / "qdrant"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(REPO / "ingest" / "ingest.py"),
               *ingest_args(catalog_dir, store, tiny_model_dir, tmp_path / "r.json", "--device", "cpu")]
    finished = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["processes"], report["embedded"], report["total"]) == (2, N_PRODUCTS, N_PRODUCTS)

    expected, got = stored_vectors(clean_store[0]), stored_vectors(str(store))
    assert sorted(got) == sorted(expected)
    for pid in expected:
        np.testing.assert_allclose(got[pid], expected[pid], atol=1e-5)
