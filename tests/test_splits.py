"""Quality subsample (definition, stratification, determinism) and id-hashed train/val/test splits."""

import json
import logging
import random
from collections import Counter
from dataclasses import replace

import pytest

from fashion_search.catalog.products import Product, open_catalog
from fashion_search.catalog.splits import (
    SplitsError,
    assign_split,
    is_high_quality,
    load_splits,
    quality_subsample,
    save_splits,
    split_ids,
)

GOOD = Product(id=1, gender="Men", masterCategory="Apparel", subCategory="Topwear", articleType="Tshirts",
               baseColour="Blue", season="Summer", usage="Casual", year=2012, name="Roadster Men Blue Tshirt",
               image_ref="images/1.jpg")
TYPE_SIZES = {"Tshirts": 300, "Shirts": 120, "Jeans": 60, "Watches": 15, "Ties": 4, "Shoe Laces": 1}


def make_catalog() -> list[Product]:
    """500 high-quality products over six article types, interleaved with 60 that must never be picked."""
    rng = random.Random(3)
    products, next_id = [], 100
    for article_type, size in TYPE_SIZES.items():
        for k in range(size):
            products.append(replace(GOOD, id=next_id, articleType=article_type, name=f"Brand{k} Men {article_type}"))
            next_id += 1
    rejects = [replace(GOOD, id=9000 + k, baseColour=None, name=f"No Colour {k}") for k in range(20)]
    rejects += [replace(GOOD, id=9100 + k, name="Tshirts") for k in range(20)]
    rejects += [replace(GOOD, id=9200 + k, name=f"Brand{k} Men Tshirts") for k in range(20)]  # repeat names
    products += rejects
    rng.shuffle(products)
    # the first occurrence of a repeated name must be the original, so move originals first
    return sorted(products, key=lambda p: p.id >= 9000)


@pytest.mark.parametrize("change", [
    {"gender": None}, {"masterCategory": None}, {"subCategory": None}, {"articleType": None},
    {"baseColour": None}, {"name": None}, {"name": "Roadster"}, {"name": "Tshirts"}, {"name": " tshirt "},
    {"image_ref": ""},
])
def test_is_high_quality_rejects_each_defect(change):
    assert is_high_quality(GOOD)
    assert not is_high_quality(replace(GOOD, **change))


def test_missing_optional_fields_do_not_lower_quality():
    assert is_high_quality(replace(GOOD, season=None, usage=None, year=None))


def test_subsample_is_stratified_and_proportional():
    catalog = make_catalog()
    picked = quality_subsample(catalog, n=100, seed=0)
    assert len(picked) == 100 and all(is_high_quality(p) and p.id < 9000 for p in picked)
    # shares 60/24/12/3/0.8/0.2; the two small types get their guaranteed one, paid for by the largest
    assert Counter(p.articleType for p in picked) == {
        "Tshirts": 59, "Shirts": 24, "Jeans": 12, "Watches": 3, "Ties": 1, "Shoe Laces": 1}
    assert len({p.name for p in picked}) == 100
    positions = {p.id: i for i, p in enumerate(catalog)}
    assert [positions[p.id] for p in picked] == sorted(positions[p.id] for p in picked)  # catalog order


def test_subsample_is_deterministic_by_seed_not_input_order():
    catalog = make_catalog()
    first = [p.id for p in quality_subsample(catalog, n=50, seed=1)]
    assert first == [p.id for p in quality_subsample(catalog, n=50, seed=1)]
    originals, rejects = catalog[:500], catalog[500:]
    shuffled = random.Random(9).sample(originals, len(originals)) + rejects
    assert sorted(first) == sorted(p.id for p in quality_subsample(shuffled, n=50, seed=1))
    assert set(first) != {p.id for p in quality_subsample(catalog, n=50, seed=2)}


def test_subsample_with_fewer_products_than_asked_takes_all_and_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="fashion_search.catalog.splits"):
        picked = quality_subsample(make_catalog(), n=10_000, seed=0)
    assert len(picked) == 500 and "only 500 qualify" in caplog.text
    assert len(quality_subsample(make_catalog(), n=3, seed=0)) == 3  # fewer slots than types
    with pytest.raises(ValueError, match="n must be"):
        quality_subsample(make_catalog(), n=0, seed=0)


def test_split_ids_is_disjoint_complete_and_deterministic():
    ids = list(range(5000, 7000))
    splits = split_ids(ids, seed=0, val_frac=0.1, test_frac=0.2)
    assert sorted(splits["train"] + splits["val"] + splits["test"]) == ids
    assert not set(splits["train"]) & set(splits["val"]) and not set(splits["val"]) & set(splits["test"])
    assert 140 <= len(splits["val"]) <= 260 and 320 <= len(splits["test"]) <= 480
    assert splits == split_ids(list(reversed(ids)), seed=0, val_frac=0.1, test_frac=0.2)
    assert splits["test"] != split_ids(ids, seed=1, val_frac=0.1, test_frac=0.2)["test"]
    assert all(assign_split(i, 0, 0.1, 0.2) == "val" for i in splits["val"])


def test_adding_products_never_moves_existing_ones():
    before = split_ids(range(1000), seed=5, val_frac=0.1, test_frac=0.1)
    after = split_ids(range(1500), seed=5, val_frac=0.1, test_frac=0.1)
    for name in ("train", "val", "test"):
        assert [i for i in after[name] if i < 1000] == before[name]


def test_split_ids_rejects_bad_input():
    with pytest.raises(ValueError, match="val_frac"):
        split_ids([1, 2], seed=0, val_frac=0.6, test_frac=0.5)
    with pytest.raises(ValueError, match="duplicate"):
        split_ids([1, 2, 2], seed=0, val_frac=0.1, test_frac=0.1)


def test_save_load_round_trip_keeps_seed_and_fractions(tmp_path):
    splits = split_ids(range(300), seed=4, val_frac=0.15, test_frac=0.05)
    path = tmp_path / "run" / "splits.json"
    save_splits(path, splits)
    document = json.loads(path.read_text())
    assert (document["seed"], document["val_frac"], document["test_frac"]) == (4, 0.15, 0.05)
    loaded = load_splits(path)
    assert loaded == splits and (loaded.seed, loaded.val_frac, loaded.test_frac) == (4, 0.15, 0.05)
    with pytest.raises(ValueError, match="none of them"):
        save_splits(tmp_path / "plain.json", dict(splits), seed=4)
    save_splits(tmp_path / "plain.json", dict(splits), seed=4, val_frac=0.15, test_frac=0.05)
    assert load_splits(tmp_path / "plain.json") == splits
    hand_made = {"train": [5, 1], "val": [2], "test": [3, 99]}  # no seed: structure is still checked
    save_splits(tmp_path / "hand.json", hand_made)
    assert load_splits(tmp_path / "hand.json") == {"train": [1, 5], "val": [2], "test": [3, 99]}
    assert load_splits(tmp_path / "hand.json").seed is None
    with pytest.raises(SplitsError, match="repeats ids"):
        save_splits(tmp_path / "bad.json", {"train": [1], "val": [1], "test": []})


def test_load_rejects_missing_tampered_and_malformed_files(tmp_path):
    with pytest.raises(SplitsError, match="split_ids"):
        load_splits(tmp_path / "absent.json")
    path = tmp_path / "splits.json"
    save_splits(path, split_ids(range(300), seed=4, val_frac=0.2, test_frac=0.2))
    document = json.loads(path.read_text())
    edits = {
        "moved": lambda d: d["test"].append(d["train"].pop()),
        "overlap": lambda d: d["val"].append(d["val"][0]),
        "seed": lambda d: d.update(seed=5),
        "format": lambda d: d.update(format="other"),
        "not ints": lambda d: d["train"].append("12"),
        "missing": lambda d: d.pop("val"),
    }
    for edit in edits.values():
        broken = json.loads(json.dumps(document))
        edit(broken)
        path.write_text(json.dumps(broken))
        with pytest.raises(SplitsError):
            load_splits(path)
    path.write_text("{not json")
    with pytest.raises(SplitsError, match="JSON"):
        load_splits(path)


@pytest.mark.realdata
def test_real_catalog_subsample_of_10000(real_parquet_dir):
    products = list(open_catalog(real_parquet_dir).products())
    picked = quality_subsample(products, n=10_000, seed=0)
    first_of_name = {}
    for p in products:
        if is_high_quality(p):
            first_of_name.setdefault(" ".join(p.name.lower().split()), p)
    pool_types = {p.articleType for p in first_of_name.values()}  # e.g. "Ties and Cufflinks" has only repeats
    assert len(pool_types) > 120
    assert len(picked) == 10_000 and {p.articleType for p in picked} == pool_types
    tshirts = sum(p.articleType == "Tshirts" for p in picked) / 10_000
    assert 0.10 < tshirts < 0.22  # about the catalog's share (6653/41154 = 0.16) after quality filtering
