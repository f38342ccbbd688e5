"""Catalog reader: both layouts, dirty input repair, drop counts, image safety."""

import csv
import io
import multiprocessing
import pickle
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from fashion_search.catalog.products import (
    METADATA_FIELDS,
    CatalogError,
    ImageError,
    Product,
    main,
    open_catalog,
)

HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"


def jpeg_bytes(color=(200, 30, 30), size=(6, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


def all_strings(product: Product) -> list[str]:
    return [v for v in product.metadata().values() if isinstance(v, str)] + [product.image_ref]


@pytest.fixture()
def tiny_kaggle(tmp_path) -> Path:
    root = tmp_path / "kaggle"
    (root / "images").mkdir(parents=True)
    rows = [
        "1,Men,Apparel,Topwear,Tshirts,Navy Blue,Summer,2012,Casual,Roadster Men Navy Blue Tshirt",
        "2,Women,Footwear,Shoes,Heels,,Winter,,Party,Catwalk Women Heels",  # empty colour + year
        "3,Men,Apparel,Topwear,Shirts,White,Fall,2011,Formal,No Image Shirt",  # image missing
        "4,Men,Apparel,Topwear,Shirts,Red,Fall,2011,Formal,Corrupt Image Shirt",  # image is garbage
        "5,Men,Apparel,Topwear,Shirts,Red,Fall,2011,Formal,Truncated Image Shirt",
        "1,Men,Apparel,Topwear,Tshirts,Black,Summer,2012,Casual,Duplicate Of One",
        "x7,Men,Apparel,Topwear,Shirts,Red,Fall,2011,Formal,Bad Id",  # unrepairable
        "8,Men,Apparel",  # too few fields
        "9,Unisex,Footwear,Flip Flops,Flip Flops,Green,Summer,2012,Casual,Converse Live, Life, Laugh Flip Flops",
        "10,Girls,Apparel,Topwear,Tops,nan,Summer,2012.0,Casual,Gini Girls Top",
    ]
    (root / "styles.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n\n", encoding="utf-8")
    for product_id in (1, 2, 9, 10):
        (root / "images" / f"{product_id}.jpg").write_bytes(jpeg_bytes())
    (root / "images" / "4.jpg").write_bytes(b"this is not a jpeg")
    (root / "images" / "5.jpg").write_bytes(jpeg_bytes(size=(64, 64))[:200])
    return root


def test_tiny_kaggle_repairs_drops_and_counts(tiny_kaggle):
    catalog = open_catalog(tiny_kaggle)
    products = {p.id: p for p in catalog.products()}
    report = catalog.report
    assert catalog.layout == "kaggle"
    assert sorted(products) == [1, 2, 4, 5, 9, 10]  # corrupt images only caught with verify_images
    assert products[1].name == "Roadster Men Navy Blue Tshirt"  # the first of the duplicate ids wins
    assert products[2].baseColour is None and products[2].year is None
    assert products[9].name == "Converse Live, Life, Laugh Flip Flops"
    assert products[10].baseColour is None and products[10].year == 2012
    assert products[1].image_ref == "images/1.jpg"
    assert (report.rows_read, report.repaired_rows, report.repaired_ids) == (10, 1, [9])
    assert (report.dropped_missing_image, report.dropped_duplicate_id, report.dropped_malformed) == (1, 1, 2)
    assert report.dropped_bad_image == 0 and report.products == 6
    assert report.missing_values["baseColour"] == 2 and report.missing_values["year"] == 1
    assert "malformed=2" in report.summary()
    for broken in (products[4], products[5]):
        with pytest.raises(ImageError):
            catalog.load_image(broken)


def test_verify_images_drops_undecodable(tiny_kaggle):
    catalog = open_catalog(tiny_kaggle, verify_images=True)
    assert sorted(p.id for p in catalog.products()) == [1, 2, 9, 10]
    assert catalog.report.dropped_bad_image == 2
    image = catalog.load_image("images/1.jpg")
    assert image.mode == "RGB" and image.size == (6, 8)
    assert catalog.image_bytes("images/1.jpg") == (tiny_kaggle / "images" / "1.jpg").read_bytes()


def test_report_runs_a_pass_when_none_has_finished(tiny_kaggle):
    assert open_catalog(tiny_kaggle).report.products == 6


@pytest.mark.parametrize("ref", [
    "../outside.jpg", "images/../../outside.jpg", "/etc/hostname", "images/../../../etc/hostname", "", "a\x00b",
    "styles.csv", "images", "images\\..\\..\\outside.jpg", "/work/../etc/hostname", "data.parquet#0",
])
def test_load_image_refuses_refs_that_escape_the_root(tiny_kaggle, ref):
    (tiny_kaggle.parent / "outside.jpg").write_bytes(jpeg_bytes())
    catalog = open_catalog(tiny_kaggle)
    with pytest.raises(ImageError):
        catalog.image_bytes(ref)
    with pytest.raises(ImageError):
        catalog.load_image(ref)


def test_unknown_layout_error_names_what_was_expected(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    for path in (tmp_path, tmp_path / "notes.txt", tmp_path / "absent"):
        with pytest.raises(CatalogError, match=r"styles\.csv.*parquet"):
            open_catalog(path)
    (tmp_path / "styles.csv").write_text(HEADER + "\n")
    with pytest.raises(CatalogError, match="images/"):
        open_catalog(tmp_path)


def write_parquet(path: Path, ids, images, years=None):
    n = len(ids)
    columns = {
        "id": pa.array(ids, pa.int64()),
        "gender": ["Men"] * n, "masterCategory": ["Apparel"] * n, "subCategory": ["Topwear"] * n,
        "articleType": ["Tshirts"] * n, "baseColour": ["Blue"] * n, "season": ["Summer"] * n,
        "year": pa.array(years or [2012.0] * n, pa.float64()), "usage": [None] + ["Casual"] * (n - 1),
        "productDisplayName": [f"Brand Men Blue Tshirt {i}" for i in ids],
        "image": pa.array([{"bytes": b, "path": f"{i}.jpg"} for i, b in zip(ids, images)],
                          pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path, row_group_size=2)  # several row groups per file


@pytest.fixture()
def tiny_parquet(tmp_path) -> Path:
    root = tmp_path / "hf"
    good = jpeg_bytes()
    write_parquet(root / "data" / "train-0.parquet", [11, 12, 13, 14], [good, b"\xff\xd8garbage", None, good],
                  years=[2012.0, 2011.0, 2013.0, None])
    write_parquet(root / "data" / "train-1.parquet", [21, 11], [jpeg_bytes((0, 0, 255)), good])
    return root


def test_parquet_layout_accepts_dir_data_dir_and_file(tiny_parquet):
    data = tiny_parquet / "data"
    for path, expected_ids in ((tiny_parquet, [11, 12, 14, 21]), (data, [11, 12, 14, 21]),
                               (data / "train-0.parquet", [11, 12, 14])):
        catalog = open_catalog(path)
        products = list(catalog.products())
        assert catalog.layout == "parquet"
        assert [p.id for p in products] == expected_ids
        assert catalog.report.dropped_missing_image == 1  # the null bytes of id 13
    catalog = open_catalog(tiny_parquet)
    products = {p.id: p for p in catalog.products()}
    assert catalog.report.dropped_duplicate_id == 1
    assert products[11].image_ref == "data/train-0.parquet#0" and products[21].image_ref == "data/train-1.parquet#0"
    assert products[11].year == 2012 and isinstance(products[11].year, int) and products[14].year is None
    assert products[11].usage is None and catalog.report.missing_values["usage"] == 2
    assert catalog.load_image(products[21]).getpixel((3, 3))[2] > 200  # the blue one, from the second file
    with pytest.raises(ImageError):
        catalog.load_image(products[12])
    for bad_ref in ("data/train-0.parquet#99", "../x.parquet#0", "data/train-0.parquet#-1", "images/11.jpg"):
        with pytest.raises(ImageError):
            catalog.image_bytes(bad_ref)


def test_parquet_verify_images_drops_undecodable(tiny_parquet):
    catalog = open_catalog(tiny_parquet, verify_images=True)
    assert [p.id for p in catalog.products()] == [11, 14, 21]
    assert catalog.report.dropped_bad_image == 1


def _size_of(args):
    catalog, ref = args
    return catalog.load_image(ref).size


def test_catalog_works_in_forked_and_spawned_workers(tiny_parquet):
    catalog = open_catalog(tiny_parquet)
    catalog.load_image("data/train-0.parquet#0")  # parent has the bytes cached before the fork
    clone = pickle.loads(pickle.dumps(catalog))
    assert clone.image_bytes("data/train-1.parquet#0") == catalog.image_bytes("data/train-1.parquet#0")
    with multiprocessing.get_context("fork").Pool(2) as pool:
        sizes = pool.map(_size_of, [(catalog, "data/train-0.parquet#0"), (catalog, "data/train-1.parquet#0")])
    assert sizes == [(6, 8), (6, 8)]


def test_stats_cli_prints_counts_and_report(tiny_kaggle, capsys):
    assert main(["stats", str(tiny_kaggle), "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "gender: 4 distinct, 0 missing" in out and "Men (3)" in out
    assert "6 products kept" in out and "1 rows repaired" in out


@pytest.mark.realdata
def test_real_styles_csv_loads_repairs_and_counts(real_styles_csv, tmp_path):
    with open(real_styles_csv, newline="", encoding="utf-8") as handle:
        raw_rows = list(csv.reader(handle))[1:]
    long_rows = {int(r[0]): r for r in raw_rows if len(r) > 10}
    assert len(raw_rows) == 44446 and len(long_rows) == 22
    root = tmp_path / "kaggle"
    (root / "images").mkdir(parents=True)
    shutil.copy(real_styles_csv, root / "styles.csv")
    with_images = sorted(long_rows) + [int(r[0]) for r in raw_rows[:50]]
    for product_id in with_images:
        (root / "images" / f"{product_id}.jpg").write_bytes(jpeg_bytes())

    catalog = open_catalog(root)
    products = {p.id: p for p in catalog.products()}
    report = catalog.report
    assert report.rows_read == 44446 and report.dropped_malformed == 0 and report.dropped_duplicate_id == 0
    assert report.repaired_rows == 22 and sorted(report.repaired_ids) == sorted(long_rows)
    assert report.dropped_missing_image == 44446 - len(set(with_images)) and len(products) == len(set(with_images))
    assert {f: n for f, n in report.missing_values.items() if n} == {"season": 21, "usage": 1, "year": 1}
    for product_id, row in long_rows.items():
        name = products[product_id].name
        assert "," in name and all(" ".join(part.split()) in name for part in row[9:])
    assert products[3418].name == "Myntra Men's Take my advice, I don't use it anyway Black T-shirt"
    for product in products.values():
        assert not any(s.lower() in ("nan", "none", "") for s in all_strings(product))
        assert product.year is None or isinstance(product.year, int)
    assert set(products[15970].metadata()) == set(METADATA_FIELDS)


@pytest.mark.realdata
def test_real_parquet_loads_every_product(real_parquet_dir):
    catalog = open_catalog(real_parquet_dir)
    products = list(catalog.products())
    shirt = next(p for p in products if p.id == 15970)
    assert (shirt.name, shirt.baseColour, shirt.year) == ("Turtle Check Men Navy Blue Shirt", "Navy Blue", 2011)
    assert len(products) == 41154 == catalog.report.products and catalog.report.dropped == 0
    assert all(isinstance(p.year, int) for p in products)
    image = catalog.load_image(products[-1])
    assert image.mode == "RGB" and min(image.size) > 10
