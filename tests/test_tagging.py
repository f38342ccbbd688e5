"""The photo tagger: its vocabulary, input, artefact and training job (tagging/), and ingest with
--tagger: tags stored and matched as words, kept through a metadata sync, renewed with a new photo, a
new version when the tagger changes, and clear errors for a bad tagger directory."""

from __future__ import annotations

import json
from pathlib import Path

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
from fashion_search.tagging.network import TagNetwork, as_input, photo_pixels
from fashion_search.tagging.tagger import MAX_TAGS
from fashion_search.tagging.training import (
    TaggerTrainConfig,
    average_precision,
    best_threshold,
    resolved_precision,
    train_tagger,
)
from fashion_search.tagging.vocabulary import tag_targets, tag_vocabulary


def product(pid: int, name: str, article: str = "Tshirts") -> Product:
    return Product(id=pid, name=name, articleType=article, subCategory="Topwear", masterCategory="Apparel",
                   gender="Men", baseColour="Navy Blue", season="Summer", usage="Casual", year=2012,
                   image_ref=f"{pid}.jpg")


def red_detector(tags=("glossy", "matte")) -> PhotoTagger:
    """A hand-set network: its first tag fires on photos with a strong red channel, the second never."""
    net = TagNetwork(len(tags), widths=(4,), pooling="avg")
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.zero_()
        conv = net.features[0]
        norm = next(layer for layer in net.features if isinstance(layer, torch.nn.BatchNorm2d))
        conv.weight[0, 0, 1, 1] = 1.0                 # feature 0 = the red channel, centred on 0
        norm.weight.fill_(1.0)
        norm.running_mean.zero_()
        norm.running_var.fill_(1.0)
        net.head.weight[0, 0] = 20.0                  # red 200/255 -> logit ~3.7; red 30/255 -> -2
        net.head.bias[0] = -2.0
        net.head.bias[1:] = -10.0
    return PhotoTagger(net, list(tags), min_probability=0.5)


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
    red_tags, blue_tags = loaded.tags([Image.new("RGB", (60, 80), (200, 30, 30)), Image.new("RGB", (60, 80), (30, 30, 200))])
    assert list(red_tags) == ["glossy"] and red_tags["glossy"] > 0.95 and blue_tags == {}
    probabilities = np.array([[0.6, 0.9, 0.2] + [0.0] * 7, [0.99] * 10])
    loaded.vocabulary = [f"w{k}" for k in range(10)]
    assert list(loaded.tags_of(probabilities)[0].items()) == [("w1", 0.9), ("w0", 0.6)]   # surest first, >= 0.5
    assert len(loaded.tags_of(probabilities)[1]) == MAX_TAGS
    assert red_detector().identity()["sha256"] != red_detector(("glossy", "shiny")).identity()["sha256"]


def test_the_pooling_is_saved_and_a_tagger_from_before_it_still_loads(tmp_path):
    torch.manual_seed(0)
    tagger = PhotoTagger(TagNetwork(3, widths=(4, 8)), ["a", "b", "c"])
    assert tagger.network.pooling == "avg+max" and tagger.network.head.in_features == 16   # mean and max of 8
    saved = tagger.save(tmp_path / "now")
    assert json.loads((saved / "tagger.json").read_text())["pooling"] == "avg+max"
    pixels = np.random.default_rng(0).integers(0, 255, (4, 3, 80, 60), dtype=np.uint8)
    np.testing.assert_allclose(PhotoTagger.load(saved).probabilities(pixels), tagger.probabilities(pixels), atol=1e-6)
    # Format 1 had no pooling field: the average alone.
    before = red_detector().save(tmp_path / "before")
    config = json.loads((before / "tagger.json").read_text())
    del config["pooling"]
    (before / "tagger.json").write_text(json.dumps({**config, "format": 1}))
    old = PhotoTagger.load(before)
    assert old.network.pooling == "avg" and old.tags([Image.new("RGB", (60, 80), (200, 30, 30))])[0].keys() == {"glossy"}
    (before / "tagger.json").write_text(json.dumps({**config, "format": 2, "pooling": "median"}))
    with pytest.raises(TaggerLoadError, match="pooling"):
        PhotoTagger.load(before)


def test_the_block_order_is_saved_and_a_tagger_from_before_it_still_loads(tmp_path):
    torch.manual_seed(0)
    network = TagNetwork(3, widths=(4, 8))
    assert network.block == "conv-pool-bn-relu"
    assert [type(layer).__name__ for layer in network.features][:4] == ["Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU"]
    saved = PhotoTagger(network, ["a", "b", "c"]).save(tmp_path / "now")
    assert json.loads((saved / "tagger.json").read_text())["block"] == "conv-pool-bn-relu"
    assert PhotoTagger.load(saved).network.block == "conv-pool-bn-relu"
    # Formats 1 and 2 recorded no block: conv, batch norm, ReLU, pool; their weights load into that order.
    old_network = TagNetwork(3, widths=(4, 8), block="conv-bn-relu-pool")
    old = PhotoTagger(old_network, ["a", "b", "c"]).save(tmp_path / "before")
    config = json.loads((old / "tagger.json").read_text())
    del config["block"]
    (old / "tagger.json").write_text(json.dumps({**config, "format": 2}))
    pixels = np.random.default_rng(0).integers(0, 255, (4, 3, 80, 60), dtype=np.uint8)
    loaded = PhotoTagger.load(old)
    assert loaded.network.block == "conv-bn-relu-pool"
    np.testing.assert_allclose(loaded.probabilities(pixels), PhotoTagger(old_network, ["a", "b", "c"]).probabilities(pixels),
                               atol=1e-6)
    (old / "tagger.json").write_text(json.dumps({**config, "format": 3, "block": "pool-first"}))
    with pytest.raises(TaggerLoadError, match="block"):
        PhotoTagger.load(old)
    (old / "tagger.json").write_text(json.dumps({**config, "format": 4}))
    with pytest.raises(TaggerLoadError, match="reads 1 to 3"):
        PhotoTagger.load(old)


@pytest.mark.parametrize(("pooling", "block"), [("avg+max", "conv-pool-bn-relu"), ("avg", "conv-pool-bn-relu"),
                                               ("avg+max", "conv-bn-relu-pool")])
def test_the_inference_network_computes_what_the_trained_one_does(pooling, block):
    torch.manual_seed(0)
    network = TagNetwork(7, pooling=pooling, block=block)
    with torch.no_grad():                              # batch norm statistics as training leaves them
        for layer in network.features:
            if isinstance(layer, torch.nn.BatchNorm2d):
                layer.running_mean.uniform_(-0.5, 0.5)
                layer.running_var.uniform_(0.5, 2.0)
                layer.weight.uniform_(0.5, 1.5)
                layer.bias.uniform_(-0.2, 0.2)
    tagger = PhotoTagger(network, [f"w{k}" for k in range(7)])
    pixels = np.random.default_rng(1).integers(0, 255, (300, 3, 80, 60), dtype=np.uint8)  # more than one batch
    with torch.no_grad():
        expected = torch.sigmoid(network.eval()(as_input(pixels))).numpy()
    np.testing.assert_allclose(tagger.probabilities(pixels), expected, atol=1e-5)
    assert tagger.probabilities(pixels[:0]).shape == (0, 7)


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
    (broken / "tagger.json").write_text(json.dumps(config))
    (broken / "model.safetensors").write_bytes(b"\x00" * 12)                  # a truncated weights file
    with pytest.raises(TaggerLoadError, match="cannot load"):
        PhotoTagger.load(broken)
    (broken / "tagger.json").write_text(json.dumps({**config, "format": 99}))
    with pytest.raises(TaggerLoadError, match="format 99"):
        PhotoTagger.load(broken)
    (good / "model.safetensors").unlink()
    with pytest.raises(TaggerLoadError, match="model.safetensors"):
        PhotoTagger.load(good)


def test_tags_weigh_in_the_words_vector_by_their_probability():
    from fashion_search.store.lexical import TAG_WEIGHT_BESIDE_NAME, document_vector, word_terms

    def weights(payload):
        vector = document_vector(payload)
        return dict(zip(*vector)) if vector else {}

    (striped,) = word_terms("striped")
    name = {"name": "Roadster Men Tshirt"}
    plain = weights(name)
    assert TAG_WEIGHT_BESIDE_NAME == 0.0                  # beside a name the catalog's words rank alone
    assert weights({**name, PHOTO_TAGS_KEY: {"striped": 0.8}}) == plain
    assert weights({"description": "cotton tee", PHOTO_TAGS_KEY: {"striped": 0.8}}) == \
        weights({"description": "cotton tee"})
    assert weights({PHOTO_TAGS_KEY: {"striped": 0.7, "polo": 0.5}}) == \
        {striped: pytest.approx(0.7), **{t: pytest.approx(0.5) for t in word_terms("polo")}}   # no name: fully
    for hostile in ("striped", ["striped"], {"striped": "high"}, {"striped": 1.5}, {"striped": True}, {3: 0.5}):
        assert weights({**name, PHOTO_TAGS_KEY: hostile}) == plain, hostile
    assert document_vector({PHOTO_TAGS_KEY: {"striped": 0}}) is None
    assert document_text({**name, PHOTO_TAGS_KEY: {"striped": 0.8}}) == "Roadster Men Tshirt striped"
    assert document_text({**name, PHOTO_TAGS_KEY: {"striped": 0.8}}, with_tags=False) == "Roadster Men Tshirt"


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
    for bad in ({"epochs": 0}, {"batch_size": 0}, {"min_products": 0}, {"learning_rate": 0.0}, {"limit": 1},
                {"min_probability": 1.0}, {"min_probability": 0.0}, {"mixed_precision": "fp16"}):
        with pytest.raises(ConfigError):
            TaggerTrainConfig(catalog=str(tmp_path), **bad)


def test_mixed_precision_auto_takes_bf16_only_where_the_machine_computes_it(monkeypatch):
    from fashion_search.tagging import training

    for native, want in ((True, "bf16"), (False, "no")):
        monkeypatch.setattr(training, "native_bf16", lambda native=native: native)
        assert training.resolved_precision("auto") == want
        assert training.resolved_precision("no") == "no" and training.resolved_precision("bf16") == "bf16"


def test_a_checkpoint_from_before_mixed_precision_resumes_only_in_float32(tmp_path):
    from fashion_search.tagging import checkpoint

    saved = tmp_path / "checkpoint_epoch_1"
    saved.mkdir()
    cfg = TaggerTrainConfig(catalog=str(tmp_path), output_dir=str(tmp_path), mixed_precision="no")
    older = {k: v for k, v in checkpoint._computing_fields(cfg).items() if k != "mixed_precision"}
    (saved / checkpoint.RUN_CONFIG_FILE).write_text(json.dumps({**older, "num_processes": 1}))
    (saved / checkpoint.STATE_FILE).write_text(json.dumps({"epoch": 1, "best_ap": 0.2, "history": []}))
    assert checkpoint.load(saved, cfg, 1).epoch == 1                       # it was trained in float32
    with pytest.raises(ConfigError, match="mixed_precision: checkpoint 'no' vs now 'bf16'"):
        checkpoint.load(saved, TaggerTrainConfig(catalog=str(tmp_path), mixed_precision="bf16"), 1)


def test_training_job_learns_the_synthetic_patterns(tmp_path):
    from fashion_search.catalog.products import open_catalog
    from fashion_search.catalog.synthetic.generate import write_synthetic_catalog

    catalog = write_synthetic_catalog(tmp_path / "shop", 500, seed=3)
    # An Accelerator of the other precision already in this process (another job, another test): the job
    # builds its own anew instead of failing on accelerate's process-wide state.
    from fashion_search.training.setup import fresh_accelerator

    fresh_accelerator(mixed_precision="no" if resolved_precision("auto") == "bf16" else "bf16")
    report = train_tagger(TaggerTrainConfig(catalog=str(catalog), output_dir=str(tmp_path / "tagger"), epochs=3,
                                            batch_size=16, min_products=10))
    assert {"striped", "printed"} <= set(report["tags"])          # patterns the synthetic pictures draw
    assert [r["epoch"] for r in report["history"]] == [1, 2, 3]
    assert report["config"]["mixed_precision"] == resolved_precision("auto")    # what ran, not "auto"
    tagger = PhotoTagger.load(tmp_path / "tagger")
    assert tagger.vocabulary == report["tags"] and tagger.min_probability == 0.5
    assert (tagger.network.block, tagger.network.widths) == ("conv-pool-bn-relu", (16, 32, 64, 192))  # the default
    assert json.loads((tmp_path / "tagger" / "report.json").read_text())["best"] == report["best"]
    assert Image.open(tmp_path / "tagger" / "curves.png").size[0] > 500
    # What it learnt: a photo drawn striped is far likelier to be tagged "striped" than another one.
    shop = open_catalog(catalog)
    products = list(shop.products())
    probabilities = tagger.probabilities(np.stack([photo_pixels(shop.load_image(p)) for p in products]))
    striped = tag_targets(products, ["striped"])[:, 0] > 0
    p_striped = probabilities[:, tagger.vocabulary.index("striped")]
    assert p_striped[striped].mean() > 2 * p_striped[~striped].mean()
    with pytest.raises(ConfigError, match="min-products"):
        train_tagger(TaggerTrainConfig(catalog=str(catalog), output_dir=str(tmp_path / "t2"), min_products=10_000))
    assert not list((tmp_path / "tagger").glob("*checkpoint*"))                 # a finished run keeps none


def _tensors(directory: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(directory / "model.safetensors"))


def test_a_killed_tagger_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    from fashion_search.catalog.synthetic.generate import write_synthetic_catalog
    from fashion_search.tagging import checkpoint

    catalog = str(write_synthetic_catalog(tmp_path / "shop", 160, seed=5))
    common = {"catalog": catalog, "epochs": 3, "batch_size": 32, "min_products": 10}
    straight = train_tagger(TaggerTrainConfig(output_dir=str(tmp_path / "straight"), **common))
    out = tmp_path / "killed"
    first = train_tagger(TaggerTrainConfig(output_dir=str(out), stop_after_epochs=2, **common))
    assert not first["finished"] and [r["epoch"] for r in first["history"]] == [1, 2]
    assert [p.name for p in checkpoint.checkpoints(out)] == ["checkpoint_epoch_2"]      # the older one pruned
    (out / "checkpoint_epoch_3").mkdir()                       # a save killed before its state file: ignored
    assert checkpoint.checkpoints(out)[-1].name == "checkpoint_epoch_2"

    with pytest.raises(ConfigError, match="--resume latest"):          # never silently starts over a run
        train_tagger(TaggerTrainConfig(output_dir=str(out), **common))
    with pytest.raises(ConfigError, match="another run .*learning_rate"):
        train_tagger(TaggerTrainConfig(output_dir=str(out), resume="latest", **{**common, "learning_rate": 1e-3}))
    with pytest.raises(ConfigError, match="no tagger checkpoint"):
        train_tagger(TaggerTrainConfig(output_dir=str(tmp_path / "empty"), resume="latest", **common))
    with pytest.raises(ConfigError, match="'latest'"):
        TaggerTrainConfig(output_dir=str(out), resume="step_2", **common)
    # A damaged checkpoint (its weights or its state gone bad) is named, with the fix, never a traceback.
    import shutil

    for damage in ("weights", "state"):
        broken = tmp_path / f"broken_{damage}"
        shutil.copytree(out, broken)
        saved = broken / "checkpoint_epoch_2"
        if damage == "weights":
            for weights in saved.glob("*.safetensors"):
                weights.unlink()
        else:
            (saved / checkpoint.STATE_FILE).write_text("{not json")
        with pytest.raises(ConfigError, match="checkpoint_epoch_2 is damaged .*delete it"):
            train_tagger(TaggerTrainConfig(output_dir=str(broken), resume="latest", **common))

    resumed = train_tagger(TaggerTrainConfig(output_dir=str(out), resume="latest", **common))
    assert resumed["finished"] and [r["epoch"] for r in resumed["history"]] == [1, 2, 3]
    assert [r["train_loss"] for r in resumed["history"]] == [r["train_loss"] for r in straight["history"]]
    assert [r["val_mAP"] for r in resumed["history"]] == [r["val_mAP"] for r in straight["history"]]
    want, got = _tensors(tmp_path / "straight"), _tensors(out)
    assert want.keys() == got.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-6)
    # Training moved the weights, so the equality is not the "nothing trained" kind.
    fresh = TagNetwork(len(straight["tags"])).state_dict()
    assert any(not torch.allclose(fresh[n], want[n]) for n in want if n in fresh and fresh[n].shape == want[n].shape)
    assert not list(out.glob("*checkpoint*"))


# --- ingest --tagger ------------------------------------------------------------------------------
def expected_tags(shop: Shop, word: str = "glossy") -> dict[int, str | None]:
    """The red detector's answer per product: tagged when its photo is red."""
    return {pid: word if row[5] == "Red" else None for pid, row in shop.rows.items()}


def stored_tags(store: str) -> dict[int, str | None]:
    """The stored tag words per product (the detector is sure: probability > 0.95)."""
    out = {}
    for pid, (payload, _) in contents(store).items():
        tags = payload.get(PHOTO_TAGS_KEY)
        assert tags is None or (len(tags) == 1 and min(tags.values()) > 0.95), tags
        out[pid] = next(iter(tags)) if tags else None
    return out


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

    def ranked(words=None):
        with open_store(store) as opened:
            return [(h.id, round(h.score, 5)) for h in opened.search(query, limit=16, exact=True, words=words)]

    plain = ranked()
    assert {i for i, _ in plain[:4]} != red
    assert ranked("glossy") == plain                       # beside a name, the catalog's words rank alone
    for row in shop.rows.values():                         # the red ones lose their names: a payload-only sync
        if row[5] == "Red":
            row[9] = ""
    shop.save()
    synced = ingest(shop, store, tiny_model_dir, tmp_path / "r2.json", "--tagger", tagger_dir)
    assert (synced["embedded"], synced["sync"]["payload_updated"]) == (0, 4)
    assert stored_tags(store) == expected_tags(shop)       # kept: the photos did not change
    assert {i for i, _ in ranked("glossy")[:4]} == red     # now the photo's word ranks them first


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
    assert stored_tags(store) == expected_tags(shop, "lacquered")
    dropped = ingest(shop, store, tiny_model_dir, tmp_path / "e.json")
    assert dropped["version"]["kind"] == "rebuild" and set(stored_tags(store).values()) == {None}


@pytest.mark.slow
def test_two_processes_gather_the_photo_tags_to_the_one_writer(tmp_path, tiny_model_dir, tagger_dir):
    """torchrun, 2 CPU processes: each tags its shard, rank 0 alone writes the Edge store, tags included."""
    import os
    import subprocess
    import sys

    shop = Shop(tmp_path / "shop", 20)
    store = tmp_path / "store"
    repo = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(repo / "ingest" / "ingest.py"), "--catalog", str(shop.root), "--store", str(store),
               "--model", tiny_model_dir, "--batch-size", "4", "--num-workers", "0", "--device", "cpu",
               "--report", str(tmp_path / "r.json"), "--tagger", tagger_dir]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    finished = subprocess.run(command, env=env, cwd=repo, capture_output=True, text=True, timeout=180)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert json.loads((tmp_path / "r.json").read_text())["processes"] == 2
    assert stored_tags(str(store)) == expected_tags(shop)


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


# --- what a shopper sees, and the eval's stores --------------------------------------------------
def test_cards_tell_name_words_from_photo_words():
    from fashion_search.query.search import ProductHit
    from fashion_search.store.base import Hit
    from fashion_search.ui.components import card_html

    payload = {"name": "Roadster Men Striped Tshirt", PHOTO_TAGS_KEY: {"striped": 0.9, "polo": 0.6},
               "articleType": "Tshirts"}
    product = ProductHit.from_hit(Hit(1, 0.5, payload), words="polo stripes tee")
    assert (product.matched_words, product.photo_words) == (("stripes",), ("polo",))
    html = card_html(product, None)
    assert 'fs-word-match" title="in the product name">stripes<' in html
    assert 'fs-word-photo" title="seen in the photo (photo tags)">polo<' in html
    untagged = ProductHit.from_hit(Hit(2, 0.5, {"name": "Roadster Men Striped Tshirt"}), words="polo stripes")
    assert (untagged.matched_words, untagged.photo_words) == (("stripes",), ())


def test_the_ranking_caption_says_when_photo_tags_matched(monkeypatch):
    from fashion_search.ui import components

    captions = []
    monkeypatch.setattr(components.st, "caption", captions.append)
    components.boost_caption_ui([("articleType", "Tshirts")], words=True, photo_tags=True)
    components.boost_caption_ui([], words=True)
    components.boost_caption_ui([], words=False)
    assert "then by the photo and the words in product names and photo tags" in captions[0]
    assert captions[1].startswith("Ranked by the photo and the words in product names (") and len(captions) == 2


def test_the_eval_stores_hold_the_photo_tags_also_with_names_hidden(tmp_path):
    from fashion_search.evaluation.run import _fill_store
    from fashion_search.store import open_store

    products = [product(1, "Roadster Men Solid Tshirt"), product(2, "Nike Men Plain Tshirt"),
                product(3, "Puma Men Basic Tshirt")]
    vectors = np.eye(3, 4, dtype=np.float32)
    vectors[2] = vectors[0]                        # 3 looks like 1 to the image vector; its tag is less sure
    tags = [{PHOTO_TAGS_KEY: {"striped": 0.9}}, {}, {PHOTO_TAGS_KEY: {"striped": 0.6}}]
    with open_store(str(tmp_path / "s"), collection="hidden") as store:
        store.ensure_collection(4)
        _fill_store(store, products, vectors, hide_names=True, photo_tags=tags)
        stored = {hit.id: hit.payload for hit in store.retrieve([1, 2])}
        assert stored[1][PHOTO_TAGS_KEY] == {"striped": 0.9} and "name" not in stored[1]
        assert PHOTO_TAGS_KEY not in stored[2] and "name" not in stored[2]
        query = np.array([1.0, 1.05, 0, 0], np.float32) / np.hypot(1.0, 1.05)   # a little nearer to 2
        plain = {h.id: h.score for h in store.search(query, limit=3, exact=True)}
        assert max(plain, key=plain.get) == 2 and plain[1] == pytest.approx(plain[3])
        hits = {h.id: h.score for h in store.search(query, limit=3, exact=True, words="striped")}
        assert max(hits, key=hits.get) == 1 and hits[2] == pytest.approx(plain[2])
        # each tag adds in proportion to its probability: 0.6 adds two thirds of what 0.9 adds
        assert hits[3] - plain[3] == pytest.approx((hits[1] - plain[1]) * 0.6 / 0.9, rel=1e-3)


@pytest.mark.skipif(__import__("shutil").which("make") is None, reason="make is not installed")
def test_make_ingest_and_eval_use_a_trained_tagger_unless_told_not_to(tmp_path):
    import os
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "TAGGER", "TAGGER_DIR", "ARGS")}

    def commands(target: str, *variables: str) -> str:
        done = subprocess.run(["make", "-n", "-s", target, *variables], cwd=repo, env=env, capture_output=True,
                              text=True, check=True)
        return done.stdout

    trained = red_detector().save(tmp_path / "trained")
    for target in ("ingest", "eval"):
        assert f"--tagger {trained}" in commands(target, f"TAGGER_DIR={trained}")        # trained: used
        assert "--tagger" not in commands(target, f"TAGGER_DIR={trained}", "TAGGER=")    # told not to
        assert "--tagger" not in commands(target, f"TAGGER_DIR={tmp_path / 'none'}")     # none trained
        assert f"--tagger {tmp_path}/other" in commands(target, f"TAGGER={tmp_path}/other")
