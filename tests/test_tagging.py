"""The photo tagger: its vocabulary, input, artefact and training job (tagging/), and ingest with
--tagger: tags stored and matched as words, kept through a metadata sync, renewed with a new photo, a
new version when the tagger changes, and clear errors for a bad tagger directory."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from test_sync import COLOURS, Shop, assert_same_contents, contents, ingest, location
from tiny_model import build_tiny_clip

from fashion_search.catalog.products import Product
from fashion_search.cli import ConfigError
from fashion_search.ingest import IngestConfig
from fashion_search.store import open_store
from fashion_search.store.lexical import PHOTO_TAGS_KEY, document_text
from fashion_search.tagging import PhotoTagger, TaggerLoadError
from fashion_search.tagging.network import TagNetwork, photo_pixels
from fashion_search.tagging.tagger import MAX_TAGS
from fashion_search.tagging.training import TaggerTrainConfig, average_precision, best_threshold, train_tagger
from fashion_search.tagging.vocabulary import tag_targets, tag_vocabulary


def product(pid: int, name: str, article: str = "Tshirts") -> Product:
    return Product(id=pid, name=name, articleType=article, subCategory="Topwear", masterCategory="Apparel",
                   gender="Men", baseColour="Navy Blue", season="Summer", usage="Casual", year=2012,
                   image_ref=f"{pid}.jpg")


def red_detector(tags=("glossy", "matte")) -> PhotoTagger:
    """A hand-set network: its first tag fires on photos with a strong red channel, the second never."""
    net = TagNetwork(len(tags), widths=(4,))
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.zero_()
        conv, norm = net.features[0], net.features[1]
        conv.weight[0, 0, 1, 1] = 1.0                 # feature 0 = the red channel, centred on 0
        norm.weight.fill_(1.0)
        norm.running_mean.zero_()
        norm.running_var.fill_(1.0)
        net.head.weight[0, 0] = 20.0                  # red 200/255 -> logit ~3.7; red 30/255 -> -2
        net.head.bias[0] = -2.0
        net.head.bias[1:] = -10.0
    return PhotoTagger(net, list(tags), threshold=0.5, widths=(4,))


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> str:
    return str(build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny"))


@pytest.fixture(scope="module")
def tagger_dir(tmp_path_factory) -> str:
    return str(red_detector().save(tmp_path_factory.mktemp("tagger") / "red"))


# --- vocabulary, input, artefact ------------------------------------------------------------------
def test_vocabulary_is_one_tag_per_term_in_the_commonest_spelling():
    names = ["Roadster Men Striped Tshirt", "Nike Men Stripes Polo Tshirt", "Puma Women Striped Tshirt",
             "Adidas Men Polo Tshirt", "Wrogn Men Solid Tshirt"]
    products = [product(i, name) for i, name in enumerate(names)]
    assert tag_vocabulary(products, min_products=2, max_tags=10) == ["striped", "polo"]
    assert tag_vocabulary(products, min_products=2, max_tags=1) == ["striped"]
    assert tag_vocabulary(products, min_products=4, max_tags=10) == []
    targets = tag_targets(products, ["striped", "polo"])
    np.testing.assert_array_equal(targets, [[1, 0], [1, 1], [1, 0], [0, 1], [0, 0]])  # "Stripes" is "striped"


def test_photo_pixels_fit_the_photo_on_white_keeping_its_shape():
    wide = Image.new("RGB", (120, 80), (200, 0, 0))          # 3:2, scaled to 60x40 and centred
    pixels = photo_pixels(wide)
    assert pixels.shape == (3, 80, 60) and pixels.dtype == np.uint8
    assert (pixels[:, :19] == 255).all() and (pixels[:, 61:] == 255).all()
    assert abs(int(pixels[0, 40, 30]) - 200) <= 2 and pixels[1, 40, 30] <= 2
    native = np.random.default_rng(0).integers(0, 255, (80, 60, 3), dtype=np.uint8)
    np.testing.assert_array_equal(photo_pixels(Image.fromarray(native)), native.transpose(2, 0, 1))
    assert photo_pixels(Image.new("L", (60, 80), 7)).shape == (3, 80, 60)   # grey photos too


def test_tagger_round_trip_and_tag_order(tmp_path):
    tagger = red_detector(("glossy", "matte", "shiny"))
    loaded = PhotoTagger.load(tagger.save(tmp_path / "t"))
    red, blue = (photo_pixels(Image.new("RGB", (60, 80), c)) for c in ((200, 30, 30), (30, 30, 200)))
    batch = np.stack([red, blue])
    np.testing.assert_allclose(loaded.probabilities(batch), tagger.probabilities(batch), atol=1e-6)
    assert loaded.identity()["sha256"] == tagger.identity()["sha256"]
    assert loaded.tags([Image.new("RGB", (60, 80), (200, 30, 30)), Image.new("RGB", (60, 80), (30, 30, 200))]) == \
        [["glossy"], []]
    probabilities = np.array([[0.6, 0.9, 0.2] + [0.0] * 7, [0.99] * 10])
    loaded.vocabulary = [f"w{k}" for k in range(10)]
    assert loaded.tags_of(probabilities)[0] == ["w1", "w0"]               # surest first, threshold 0.5
    assert len(loaded.tags_of(probabilities)[1]) == MAX_TAGS
    assert red_detector().identity()["sha256"] != red_detector(("glossy", "shiny")).identity()["sha256"]


def test_a_bad_tagger_directory_is_refused_with_the_fix(tmp_path):
    with pytest.raises(TaggerLoadError, match="make tagger"):
        PhotoTagger.load(tmp_path / "nothing")
    good = red_detector().save(tmp_path / "good")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tagger.json").write_text("{not json")
    (broken / "model.safetensors").write_bytes((good / "model.safetensors").read_bytes())
    with pytest.raises(TaggerLoadError, match="cannot load"):
        PhotoTagger.load(broken)
    config = json.loads((good / "tagger.json").read_text())
    (broken / "tagger.json").write_text(json.dumps({**config, "vocabulary": ["a", "b", "c"]}))  # 3 tags, 2 weights
    with pytest.raises(TaggerLoadError, match="cannot load"):
        PhotoTagger.load(broken)
    (broken / "tagger.json").write_text(json.dumps({**config, "format": 99}))
    with pytest.raises(TaggerLoadError, match="format 99"):
        PhotoTagger.load(broken)
    (good / "model.safetensors").unlink()
    with pytest.raises(TaggerLoadError, match="model.safetensors"):
        PhotoTagger.load(good)


def test_metrics_of_the_training_job():
    targets = np.array([[1, 0], [0, 1], [1, 0], [0, 0]], np.float32)
    perfect = np.array([[0.9, 0.1], [0.2, 0.8], [0.8, 0.3], [0.1, 0.2]])
    assert average_precision(perfect, targets) == 1.0
    assert average_precision(-perfect, targets) == pytest.approx(np.mean([(1 / 3 + 2 / 4) / 2, 1 / 4]))
    threshold, at = best_threshold(perfect, targets)
    assert at == {"precision": 1.0, "recall": 1.0, "f1": 1.0} and 0.3 < threshold <= 0.8


def test_training_config_is_checked_up_front(tmp_path):
    with pytest.raises(ConfigError, match="--catalog"):
        TaggerTrainConfig()
    for bad in ({"epochs": 0}, {"batch_size": 0}, {"min_products": 0}, {"learning_rate": 0.0}, {"limit": 1}):
        with pytest.raises(ConfigError):
            TaggerTrainConfig(catalog=str(tmp_path), **bad)


def test_training_job_learns_the_synthetic_patterns(tmp_path):
    from fashion_search.catalog.products import open_catalog
    from fashion_search.catalog.synthetic.generate import write_synthetic_catalog

    catalog = write_synthetic_catalog(tmp_path / "shop", 500, seed=3)
    report = train_tagger(TaggerTrainConfig(catalog=str(catalog), output_dir=str(tmp_path / "tagger"), epochs=3,
                                            batch_size=32, min_products=10))
    assert {"striped", "printed"} <= set(report["tags"])          # patterns the synthetic pictures draw
    assert [r["epoch"] for r in report["history"]] == [1, 2, 3]
    tagger = PhotoTagger.load(tmp_path / "tagger")
    assert tagger.vocabulary == report["tags"] and tagger.threshold == report["best"]["threshold"]
    assert json.loads((tmp_path / "tagger" / "report.json").read_text())["best"] == report["best"]
    # What it learnt: a photo drawn striped is far likelier to be tagged "striped" than another one.
    shop = open_catalog(catalog)
    products = list(shop.products())
    probabilities = tagger.probabilities(np.stack([photo_pixels(shop.load_image(p)) for p in products]))
    striped = tag_targets(products, ["striped"])[:, 0] > 0
    p_striped = probabilities[:, tagger.vocabulary.index("striped")]
    assert p_striped[striped].mean() > 2 * p_striped[~striped].mean()
    with pytest.raises(ConfigError, match="min-products"):
        train_tagger(TaggerTrainConfig(catalog=str(catalog), output_dir=str(tmp_path / "t2"), min_products=10_000))


# --- ingest --tagger ------------------------------------------------------------------------------
def expected_tags(shop: Shop) -> dict[int, str | None]:
    """The red detector's answer per product: tagged when its photo is red (or yellow)."""
    return {pid: "glossy" if row[5] == "Red" else None for pid, row in shop.rows.items()}


def stored_tags(store: str) -> dict[int, str | None]:
    return {pid: payload.get(PHOTO_TAGS_KEY) for pid, (payload, _) in contents(store).items()}


@pytest.mark.parametrize("backend", ["edge", "local"])
def test_ingest_stores_photo_tags_and_a_search_matches_them(tmp_path, tiny_model_dir, tagger_dir, backend):
    shop = Shop(tmp_path / "shop", 16)
    store = location(backend, tmp_path / "store")
    report = ingest(shop, store, tiny_model_dir, tmp_path / "r.json", "--tagger", tagger_dir)
    assert report["model"]["tagger"]["sha256"] == PhotoTagger.load(tagger_dir).identity()["sha256"]
    assert "tag" in report["stages"]
    assert stored_tags(store) == expected_tags(shop) and list(expected_tags(shop).values()).count("glossy") == 4
    red = {pid for pid, tag in expected_tags(shop).items() if tag}
    query = contents(store)[1001][1]                       # a blue product's image: red ones are not nearest
    with open_store(store) as opened:
        hits = opened.search(query, limit=16, exact=True, words="glossy tee")
        assert {h.id for h in hits[:4]} == red             # the photo's word ranks them first
        plain = opened.search(query, limit=16, exact=True)
        assert {h.id for h in plain[:4]} != red


@pytest.mark.parametrize("backend", ["edge", "local"])
def test_a_sync_keeps_tags_of_relabelled_products_and_retags_new_photos(tmp_path, tiny_model_dir, tagger_dir,
                                                                         backend):
    shop = Shop(tmp_path / "shop", 16)
    store = location(backend, tmp_path / "store")
    ingest(shop, store, tiny_model_dir, tmp_path / "r1.json", "--tagger", tagger_dir)
    shop.rows[1000][9] = "Brand 0 Red tee, relabelled"     # metadata only: no re-embedding, tag kept
    shop.rows[1001][5] = "Red"                             # re-shot in red: re-embedded and tagged
    shop.draw(1001, COLOURS["Red"], marker=1)
    shop.rows[1004][5] = "Blue"                            # re-shot in blue: its tag goes
    shop.draw(1004, COLOURS["Blue"], marker=4)
    shop.save()
    report = ingest(shop, store, tiny_model_dir, tmp_path / "r2.json", "--tagger", tagger_dir)
    assert (report["sync"]["payload_updated"], report["sync"]["re_embedded"]) == (1, 2)
    tags = stored_tags(store)
    assert (tags[1000], tags[1001], tags[1004]) == ("glossy", "glossy", None)
    assert tags == expected_tags(shop)
    clean = location(backend, tmp_path / "clean")
    ingest(shop, clean, tiny_model_dir, tmp_path / "r3.json", "--tagger", tagger_dir)
    assert_same_contents(contents(store), contents(clean))
    assert "relabelled" in document_text(contents(store)[1000][0]) and "glossy" in document_text(contents(store)[1000][0])


def test_adding_changing_or_dropping_the_tagger_builds_a_new_version(tmp_path, tiny_model_dir, tagger_dir):
    shop = Shop(tmp_path / "shop", 8)
    store = str(tmp_path / "store")
    assert ingest(shop, store, tiny_model_dir, tmp_path / "a.json")["version"]["kind"] == "rebuild"
    assert set(stored_tags(store).values()) == {None}
    tagged = ingest(shop, store, tiny_model_dir, tmp_path / "b.json", "--tagger", tagger_dir)
    assert tagged["version"]["kind"] == "rebuild" and tagged["embedded"] == 8
    assert stored_tags(store) == expected_tags(shop)
    same = ingest(shop, store, tiny_model_dir, tmp_path / "c.json", "--tagger", tagger_dir)
    assert same["embedded"] == 0 and not same["version"]["switched"]
    other = str(red_detector(("lacquered", "matte")).save(tmp_path / "other"))
    assert ingest(shop, store, tiny_model_dir, tmp_path / "d.json", "--tagger", other)["embedded"] == 8
    assert set(stored_tags(store).values()) == {"lacquered", None}
    dropped = ingest(shop, store, tiny_model_dir, tmp_path / "e.json")
    assert dropped["version"]["kind"] == "rebuild" and set(stored_tags(store).values()) == {None}


def test_bad_tagger_flags_fail_before_any_work(tmp_path, tiny_model_dir):
    shop = Shop(tmp_path / "shop", 4)
    with pytest.raises(ConfigError, match="make tagger"):
        IngestConfig(catalog=str(shop.root), store=str(tmp_path / "s"), tagger=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="--tagger"):
        IngestConfig(from_store=str(tmp_path / "a"), to_store=str(tmp_path / "b"), tagger=str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="not a photo tagger.*make tagger"):
        ingest(shop, str(tmp_path / "store"), tiny_model_dir, tmp_path / "r.json", "--tagger", str(empty))
    assert not (tmp_path / "store").exists()
