"""Synthetic catalog: layout, determinism, consistency of metadata with pictures, and learnability."""

import colorsys
import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashion_search.catalog.synthetic import generate as synthetic
from fashion_search.catalog.synthetic.generate import (
    COLOUR_RGB,
    encode_jpeg,
    iter_synthetic_products,
    render_product_image,
    write_synthetic_catalog,
)

KAGGLE_HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"
# Written out by hand from the real Kaggle styles.csv (independent of the module's own table).
REQUIRED_TYPES = {
    "Tshirts": ("Apparel", "Topwear", "T-shirt"), "Shirts": ("Apparel", "Topwear", "Shirt"),
    "Jeans": ("Apparel", "Bottomwear", "Jeans"), "Dresses": ("Apparel", "Dress", "Dress"),
    "Skirts": ("Apparel", "Bottomwear", "Skirt"), "Casual Shoes": ("Footwear", "Shoes", "Shoes"),
    "Sandals": ("Footwear", "Sandal", "Sandals"), "Watches": ("Accessories", "Watches", "Watch"),
    "Handbags": ("Accessories", "Bags", "Handbag"), "Caps": ("Accessories", "Headwear", "Cap"),
}
# Expected hue (degrees) of the chromatic colour names, and value bounds of the achromatic ones.
EXPECTED_HUE = {"Red": 358, "Maroon": 345, "Orange": 27, "Yellow": 48, "Green": 135, "Blue": 222,
                "Navy Blue": 230, "Purple": 280, "Pink": 335, "Brown": 25, "Beige": 38, "Olive": 62}
N = 300


def read_rows(root: Path) -> list[dict]:
    with open(root / "styles.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def pixels(root: Path, row: dict) -> np.ndarray:
    return np.asarray(Image.open(root / "images" / f"{row['id']}.jpg").convert("RGB"), dtype=np.int32)


def foreground(arr: np.ndarray) -> np.ndarray:
    """Pixels that differ from the background, estimated from the four corners."""
    corners = np.concatenate([arr[:3, :3], arr[:3, -3:], arr[-3:, :3], arr[-3:, -3:]]).reshape(-1, 3)
    return np.abs(arr - np.median(corners, axis=0)).sum(axis=-1) > 30


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    return write_synthetic_catalog(tmp_path_factory.mktemp("syn") / "cat", N, seed=0, progress=False)


@pytest.fixture(scope="module")
def rows(catalog) -> list[dict]:
    return read_rows(catalog)


def test_styles_csv_has_the_kaggle_header_and_unique_positive_ids(catalog, rows):
    assert (catalog / "styles.csv").read_text().splitlines()[0] == KAGGLE_HEADER
    assert len(rows) == N and all(len(r) == 10 and None not in r.values() for r in rows)
    ids = [int(r["id"]) for r in rows]
    assert ids == list(range(1, N + 1))
    assert {r["season"] for r in rows} <= {"Summer", "Fall", "Winter", "Spring"}
    assert all(2007 <= int(r["year"]) <= 2019 for r in rows)


def test_required_types_present_with_the_real_categories(rows):
    counts = Counter(r["articleType"] for r in rows)
    assert set(REQUIRED_TYPES) <= set(counts) and min(counts[t] for t in REQUIRED_TYPES) >= 5
    for r in rows:
        if r["articleType"] in REQUIRED_TYPES:
            master, sub, _ = REQUIRED_TYPES[r["articleType"]]
            assert (r["masterCategory"], r["subCategory"]) == (master, sub), r


def test_at_least_twelve_colours_each_used_several_times(rows):
    counts = Counter(r["baseColour"] for r in rows)
    assert sum(1 for c in counts.values() if c >= 3) >= 12, counts


def test_names_carry_gender_colour_and_the_type_word(rows):
    type_words = {t: word for t, (_, _, word) in REQUIRED_TYPES.items()}
    type_words.update({t: s.word for t, s in synthetic.ARTICLE_TYPES.items() if t not in type_words})
    for r in rows:
        name = r["productDisplayName"]
        assert f" {r['gender']} {r['baseColour']} " in name, r
        assert name.split()[-1] == type_words[r["articleType"]], r
        other_words = set(type_words.values()) - {type_words[r["articleType"]]}
        assert not other_words & set(name.split()), r


def test_gender_follows_article_type():
    products = list(iter_synthetic_products(3000, seed=5))
    for article_type in ("Dresses", "Skirts", "Handbags"):
        genders = Counter(p["gender"] for p in products if p["articleType"] == article_type)
        assert not {"Men", "Boys"} & set(genders), (article_type, genders)
        assert genders["Women"] / sum(genders.values()) >= 0.7, (article_type, genders)
    tshirts = Counter(p["gender"] for p in products if p["articleType"] == "Tshirts")
    assert tshirts.most_common(1)[0][0] == "Men"


def test_every_image_decodes_at_the_requested_size(catalog, rows, tmp_path):
    assert sorted(p.name for p in (catalog / "images").iterdir()) == sorted(f"{r['id']}.jpg" for r in rows)
    for r in rows:
        with Image.open(catalog / "images" / f"{r['id']}.jpg") as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (60, 80))
    big = write_synthetic_catalog(tmp_path / "big", 3, seed=0, image_size=(90, 120), progress=False)
    assert {Image.open(p).size for p in (big / "images").iterdir()} == {(90, 120)}


def test_render_from_a_csv_row_reproduces_the_written_bytes(catalog, rows):
    for r in rows[:15]:
        assert encode_jpeg(render_product_image(r, seed=0)) == (catalog / "images" / f"{r['id']}.jpg").read_bytes()
    assert encode_jpeg(render_product_image(rows[0], seed=1)) != encode_jpeg(render_product_image(rows[0], seed=0))


def test_same_seed_is_byte_identical_and_another_seed_differs(tmp_path):
    first = files_of(write_synthetic_catalog(tmp_path / "a", 30, seed=7, progress=False))
    again = files_of(write_synthetic_catalog(tmp_path / "b", 30, seed=7, progress=False))
    other = files_of(write_synthetic_catalog(tmp_path / "c", 30, seed=8, progress=False))
    assert first == again and len(first) == 32  # styles.csv + synthetic.json + 30 images
    assert first["styles.csv"] != other["styles.csv"]
    assert sum(first[k] != other[k] for k in first if k.startswith("images")) >= 25


def test_a_small_catalog_is_a_prefix_of_a_bigger_one(catalog, tmp_path):
    small = write_synthetic_catalog(tmp_path / "small", 20, seed=0, progress=False)
    big_lines = (catalog / "styles.csv").read_text().splitlines()
    assert (small / "styles.csv").read_text().splitlines() == big_lines[:21]
    for i in range(1, 21):
        assert (small / "images" / f"{i}.jpg").read_bytes() == (catalog / "images" / f"{i}.jpg").read_bytes()


def test_workers_write_the_same_bytes(tmp_path):
    one = files_of(write_synthetic_catalog(tmp_path / "one", 30, seed=3, progress=False))
    two = files_of(write_synthetic_catalog(tmp_path / "two", 30, seed=3, workers=2, progress=False))
    assert one == two


@pytest.mark.parametrize("n", [0, -3, 1_000_001, 2.5])
def test_n_out_of_range_is_refused(tmp_path, n):
    with pytest.raises(ValueError, match="1 to 1,000,000"):
        write_synthetic_catalog(tmp_path / "x", n, progress=False)
    assert not (tmp_path / "x").exists()


def test_cli_refuses_bad_n_and_writes_a_good_catalog(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        synthetic.main([str(tmp_path / "bad"), "--n", "0"])
    assert exit_info.value.code == 2 and "1 to 1,000,000" in capsys.readouterr().err
    assert synthetic.main([str(tmp_path / "cli"), "--n", "5", "--seed", "3", "--no-progress"]) == 0
    reference = write_synthetic_catalog(tmp_path / "ref", 5, seed=3, progress=False)
    assert files_of(tmp_path / "cli") == files_of(reference)


def test_refuses_a_foreign_non_empty_dir_but_rewrites_its_own(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a synthetic catalog"):
        write_synthetic_catalog(foreign, 5, progress=False)
    assert synthetic.main([str(foreign), "--n", "5", "--no-progress"]) == 1
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]

    own = write_synthetic_catalog(tmp_path / "own", 30, seed=0, progress=False)
    write_synthetic_catalog(own, 10, seed=0, progress=False)
    assert len(read_rows(own)) == 10 and len(list((own / "images").iterdir())) == 10
    assert json.loads((own / "synthetic.json").read_text())["complete"] is True


def test_metadata_only_writes_the_rows_without_images(tmp_path):
    root = write_synthetic_catalog(tmp_path / "meta", 50, seed=2, metadata_only=True, progress=False)
    expected = [{k: str(v) for k, v in p.items()} for p in iter_synthetic_products(50, seed=2)]
    assert read_rows(root) == expected
    assert (root / "images").is_dir() and not any((root / "images").iterdir())


def test_render_refuses_unknown_types_and_colours():
    meta = {"id": 1, "articleType": "Kurtas", "baseColour": "Red", "productDisplayName": "x"}
    with pytest.raises(ValueError, match="Kurtas"):
        render_product_image(meta)
    with pytest.raises(ValueError, match="Fluorescent"):
        render_product_image({**meta, "articleType": "Shirts", "baseColour": "Fluorescent"})


def test_colour_probe_median_foreground_colour_names_the_base_colour(catalog, rows):
    palette_names = list(COLOUR_RGB)
    palette = np.array([COLOUR_RGB[c] for c in palette_names], dtype=float)
    correct, hues = 0, {}
    for r in rows:
        arr = pixels(catalog, r)
        median = np.median(arr[foreground(arr)], axis=0)
        correct += palette_names[int(np.argmin(((palette - median) ** 2).sum(axis=1)))] == r["baseColour"]
        hues.setdefault(r["baseColour"], []).append(colorsys.rgb_to_hsv(*(median / 255)))
    assert correct / len(rows) >= 0.9, correct
    # The palette itself must match the names: hue for colours, brightness for black/grey/white.
    for colour, hsv in hues.items():
        h, s, v = np.median(np.array(hsv), axis=0)
        if colour in EXPECTED_HUE:
            assert abs((h * 360 - EXPECTED_HUE[colour] + 180) % 360 - 180) <= 20, (colour, h * 360)
        else:
            assert s * v < 0.1 and {"Black": v < 0.2, "Grey": 0.35 < v < 0.65, "White": v > 0.9}[colour], colour


def test_silhouette_probe_nearest_centroid_recognises_article_type(catalog, rows):
    def silhouette(r):  # 15x20 grid of foreground fractions: shape only, colour removed
        return foreground(pixels(catalog, r)).reshape(20, 4, 15, 4).mean(axis=(1, 3)).ravel()

    features = np.array([silhouette(r) for r in rows])
    labels = np.array([r["articleType"] for r in rows])
    train, test = slice(0, 200), slice(200, 300)
    classes = sorted(set(labels[train]))
    centroids = np.array([features[train][labels[train] == c].mean(axis=0) for c in classes])
    distances = ((features[test][:, None, :] - centroids[None]) ** 2).sum(axis=-1)
    predicted = np.array(classes)[distances.argmin(axis=1)]
    assert (predicted == labels[test]).mean() >= 0.8


def test_categories_and_colours_exist_in_the_real_dataset(real_styles_csv):
    pairs, colours = {}, set()
    with open(real_styles_csv, newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            if len(row) == 10:  # the 22 rows with a stray comma are irrelevant here
                pairs.setdefault(row[4], Counter())[(row[2], row[3])] += 1
                colours.add(row[5])
    for article_type, spec in synthetic.ARTICLE_TYPES.items():
        assert pairs[article_type].most_common(1)[0][0] == (spec.master, spec.sub), article_type
    assert set(COLOUR_RGB) <= colours


def test_catalog_reader_reads_the_synthetic_catalog(catalog, rows):
    catalog_module = pytest.importorskip("fashion_search.catalog.products")
    opened = catalog_module.open_catalog(catalog)
    products = list(opened.products())
    assert opened.layout == "kaggle" and len(products) == N and opened.report.dropped == 0
    for product, row in zip(products[:20], rows):
        assert product.id == int(row["id"]) and product.year == int(row["year"])
        assert (product.articleType, product.baseColour, product.name) == (
            row["articleType"], row["baseColour"], row["productDisplayName"])
        assert opened.load_image(product).size == (60, 80)
