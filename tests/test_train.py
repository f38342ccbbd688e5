"""The trainer: config errors up front, data pieces, a CPU smoke run, exact resume, 2 processes == 1.

Runs use a ~200-product synthetic catalog and a ~100k-parameter CLIP, so each takes seconds.
"""

import importlib.util
import json
import os
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from tiny_model import TINY_OVERRIDES, build_tiny_clip
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from fashion_search.catalog.captions import canonical_caption
from fashion_search.catalog.products import ImageError, open_catalog
from fashion_search.catalog.synthetic.generate import write_synthetic_catalog
from fashion_search.model.clip import ModelLoadError, load_clip, small_image_processor
from fashion_search.model.embed import Embedder, ImagePreprocessor
from fashion_search.model.loss import UNCONSTRAINED, positive_mask
from fashion_search.training.attributes import ATTR_FIELDS, MISSING, NAME_WORD_SLOTS, attr_code, product_attr_codes
from fashion_search.training.checkpoints import list_checkpoints
from fashion_search.training.config import ConfigError, check_resume_compatible, parse_config
from fashion_search.training.data import EpochShuffleSampler, PairCollator, PairDataset, augment
from fashion_search.training.image_cache import ImageCache, use_cache
from fashion_search.training.report import REPORT_FILES

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("train_entry", REPO / "train" / "train.py")
train_entry = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train_entry)

SMALL_TINY_FLAGS = [arg for key, value in TINY_OVERRIDES.items() for arg in (f"--small-{key.replace('_', '-')}", str(value))]


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory) -> Path:
    return write_synthetic_catalog(tmp_path_factory.mktemp("catalog") / "cat", n=200, seed=0, progress=False)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("model") / "tiny")


def base_args(catalog_dir, out, *extra) -> list[str]:
    return ["--catalog", str(catalog_dir), "--output-dir", str(out), "--val-frac", "0.1", "--test-frac", "0.1",
            "--lr", "1e-3", "--warmup-ratio", "0.1", "--num-workers", "0", "--eval-batch-size", "64",
            "--log-every", "1000", *map(str, extra)]


# ---------------------------------------------------------------- configuration errors, before any work
@pytest.mark.parametrize("flags, message", [
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--model", "./no/such/model"], "does not exist"),
    (["--freeze-vision", "--freeze-text"], "nothing to train"),
    (["--small-image-size", "32"], "only apply with --model small"),
    (["--warmup-ratio", "1.5"], "--warmup-ratio"),
    (["--resume", "/no/such/checkpoint"], "not a directory"),
])
def test_bad_configuration_fails_before_any_work(catalog_dir, tmp_path, flags, message):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=message):
        train_entry.main(base_args(catalog_dir, out, *flags))
    assert not out.exists()


def test_unavailable_hub_model_fails_before_data_work(catalog_dir, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ModelLoadError, match="--model /path/to/clip"):  # HF_HUB_OFFLINE=1 in tests
        train_entry.main(base_args(catalog_dir, out, "--model", "nobody/no-such-clip"))
    assert not (out / "splits.json").exists()


def test_missing_catalog_is_named(tmp_path):
    with pytest.raises(ConfigError, match="--catalog .*does not exist"):
        train_entry.main(["--catalog", str(tmp_path / "nope"), "--output-dir", str(tmp_path / "run")])


def test_mixed_precision_auto_is_bf16_on_gpu_unless_configured(catalog_dir, tmp_path, monkeypatch):
    auto = parse_config(base_args(catalog_dir, tmp_path / "run"))
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    assert (auto.resolved_mixed_precision(cuda_bf16=True), auto.resolved_mixed_precision(cuda_bf16=False)) == ("bf16", "no")
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")  # what `accelerate launch` exports by default
    assert auto.resolved_mixed_precision(cuda_bf16=True) == "bf16"
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")  # a configured choice is kept
    assert auto.resolved_mixed_precision(cuda_bf16=True) == "fp16"
    explicit = parse_config(base_args(catalog_dir, tmp_path / "run", "--mixed-precision", "no"))
    assert explicit.resolved_mixed_precision(cuda_bf16=True) == "no"


# ---------------------------------------------------------------- data pieces
def test_augment_is_mild_seeded_and_keeps_colour():
    image = Image.new("RGB", (60, 80), (200, 30, 30))
    a = augment(image, random.Random(1))
    assert a.tobytes() == augment(image, random.Random(1)).tobytes()
    sizes = [augment(image, random.Random(seed)).size for seed in range(50)]
    # area kept between 85% and 100% (up to rounding and the aspect jitter clipped by the frame)
    assert all(0.8 * 60 * 80 <= w * h <= 60 * 80 and w <= 60 and h <= 80 for w, h in sizes)
    assert len(set(sizes)) > 5
    assert np.all(np.asarray(a) == (200, 30, 30))  # no colour jitter: colour is a label


def test_sampler_depends_on_seed_and_epoch_only():
    sampler = EpochShuffleSampler(20, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(20)) and list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    assert list(EpochShuffleSampler(20, seed=4)) != first


def test_dataset_captions_vary_by_epoch_and_collator_counts_failed_images(catalog_dir, tiny_model_dir):
    catalog = open_catalog(catalog_dir)
    products = list(catalog.products())[:8]
    model, processor = load_clip(str(tiny_model_dir))
    embedder = Embedder(model, processor, device="cpu")
    dataset = PairDataset(catalog, products, embedder.image_preprocessor, seed=0, train=True)
    epoch0 = [dataset[i]["caption"] for i in range(8)]
    assert epoch0 == [dataset[i]["caption"] for i in range(8)]  # seeded per (seed, epoch, product)
    dataset.set_epoch(1)
    assert epoch0 != [dataset[i]["caption"] for i in range(8)]
    assert dataset[0]["pixel_values"].shape == (3, 32, 32)

    class BrokenCatalog:
        def load_image(self, product):
            if product.id == products[1].id:
                raise ImageError("truncated")
            return catalog.load_image(product)

    broken = PairDataset(BrokenCatalog(), products[:4], embedder.image_preprocessor, seed=0, train=False)
    batch = PairCollator(processor.tokenizer, 32)([broken[i] for i in range(4)])
    assert batch["n_failed"].item() == 1 and batch["index"].tolist() == [0, 2, 3]
    assert batch["pixel_values"].shape == (3, 3, 32, 32) and batch["input_ids"].shape[0] == 3
    # Attribute codes follow the kept rows; eval captions (canonical, with the name) constrain the id, so
    # each describes its own image only.
    kept = [products[i] for i in (0, 2, 3)]
    assert batch["image_attrs"].tolist() == [product_attr_codes(p) for p in kept]
    assert batch["caption_constraints"].dtype == torch.long
    assert batch["caption_constraints"].shape == (3, len(ATTR_FIELDS) + NAME_WORD_SLOTS)
    assert all(canonical_caption(p) == broken[i]["caption"] for i, p in zip((0, 2, 3), kept))
    assert torch.equal(batch["caption_constraints"][:, 0], batch["image_attrs"][:, 0])
    assert torch.equal(positive_mask(batch["caption_constraints"], batch["image_attrs"]), torch.eye(3, dtype=torch.bool))


def test_attribute_codes_are_stable_and_missing_never_matches(catalog_dir):
    product = next(iter(open_catalog(catalog_dir).products()))
    codes = product_attr_codes(product)
    assert codes[0] == attr_code(product.id) and all(c >= 0 for c in codes[:len(ATTR_FIELDS)])
    assert all(c >= 0 or c == MISSING for c in codes[len(ATTR_FIELDS):])  # name words, MISSING-padded
    assert attr_code("Tshirts") == 8000198511893728733  # a hash of the value: equal in every process and run
    no_colour = product_attr_codes(replace(product, baseColour=None))
    assert no_colour[ATTR_FIELDS.index("baseColour")] == MISSING


def test_training_batches_carry_category_positives_beyond_the_diagonal(catalog_dir):
    """Cached and decoded paths give the same codes; a 64-pair synthetic batch has shared-category captions."""
    catalog = open_catalog(catalog_dir)
    products = list(catalog.products())[:64]
    processor = small_image_processor(32)
    preprocess = ImagePreprocessor(processor)
    cache = ImageCache(catalog, products, processor, num_workers=0, progress=False)
    decoded = PairDataset(catalog, products, preprocess, seed=0, train=True)
    cached = PairDataset(None, products, preprocess, seed=0, train=True, cache=cache)
    items = [decoded[i] for i in range(64)]
    for i, item in enumerate(items):
        other = cached[i]
        assert item["caption"] == other["caption"]
        assert torch.equal(item["image_attrs"], other["image_attrs"])
        assert torch.equal(item["caption_constraints"], other["caption_constraints"])
    attrs = torch.stack([item["image_attrs"] for item in items])
    constraints = torch.stack([item["caption_constraints"] for item in items])
    mask = positive_mask(constraints, attrs, set_columns=NAME_WORD_SLOTS)
    assert mask.diagonal().all()  # every caption describes its own image
    assert mask.sum() > 64  # and some describe other images of the batch (category captions)
    named = constraints[:, 0] != UNCONSTRAINED
    assert named.any() and (mask[named].sum(dim=1) == 1).all()  # a caption with the name: its own image only


@pytest.mark.parametrize("processor", [small_image_processor(48),
                                       CLIPImageProcessorPil(size={"shortest_edge": 40}, crop_size={"height": 40, "width": 40})],
                         ids=["small-squash", "clip-crop"])
def test_image_cache_equals_the_processor_and_counts_bad_images(catalog_dir, processor):
    catalog = open_catalog(catalog_dir)
    products = list(catalog.products())[:12]
    preprocess = ImagePreprocessor(processor)

    class BrokenCatalog:
        def load_image(self, product):
            if product.id == products[3].id:
                raise ImageError("truncated")
            return catalog.load_image(product)

    cache = ImageCache(BrokenCatalog(), products, processor, num_workers=0, progress=False)
    assert cache.failed == 1 and products[3].id not in cache and len(cache.row) == 11
    for p in products[:3] + products[4:]:
        want = preprocess([catalog.load_image(p)])[0]
        torch.testing.assert_close(cache.normalise(cache.get(p.id)), want, rtol=0, atol=1e-5)
    # The eval path reads the same unaugmented pixels; the train path crops/flips on the tensor.
    val = PairDataset(None, products, preprocess, seed=0, train=False, cache=cache)
    torch.testing.assert_close(val[0]["pixel_values"], preprocess([catalog.load_image(products[0])])[0],
                               rtol=0, atol=1e-5)
    assert val[3]["pixel_values"] is None
    train = PairDataset(None, products, preprocess, seed=0, train=True, cache=cache)
    first = [train[i]["pixel_values"] for i in (0, 1, 2)]
    assert all(torch.equal(a, train[i]["pixel_values"]) for i, a in zip((0, 1, 2), first))  # seeded
    assert first[0].shape == val[0]["pixel_values"].shape
    train.set_epoch(1)
    assert any(not torch.equal(a, train[i]["pixel_values"]) for i, a in zip((0, 1, 2), first))


def test_image_cache_auto_only_for_small_images_within_budget():
    assert use_cache("auto", 41_000, 48)[0] and not use_cache("auto", 41_000, 224)[0]
    assert not use_cache("auto", 100_000, 96)[0] and use_cache("on", 10, 224)[0] and not use_cache("off", 10, 32)[0]


def test_multi_positive_flag_defaults_on_and_old_checkpoints_count_as_plain(catalog_dir, tmp_path):
    assert parse_config(["--catalog", str(catalog_dir)]).multi_positive
    off = parse_config(["--catalog", str(catalog_dir), "--no-multi-positive"])
    assert not off.multi_positive
    # The snake-case spellings of older runs still work (with a deprecation message).
    for legacy in (["--multi_positive", "false"], ["--no_multi_positive"], ["--multi_positive=no"]):
        assert not parse_config(["--catalog", str(catalog_dir), *legacy]).multi_positive
    saved = {**off.to_dict()}
    del saved["multi_positive"]  # a checkpoint from before the flag: trained one-hot
    check_resume_compatible(off, saved, tmp_path, 1, 1)
    with pytest.raises(ConfigError, match="multi_positive: checkpoint False vs now True"):
        check_resume_compatible(parse_config(["--catalog", str(catalog_dir)]), saved, tmp_path, 1, 1)


def test_recipe_defaults_follow_the_model_kind_and_flags_win(catalog_dir, tmp_path, tiny_model_dir):
    small = parse_config(["--catalog", str(catalog_dir), "--model", "small"])
    assert (small.lr, small.batch_size, small.warmup_ratio, small.max_grad_norm) == (1e-3, 256, 0.05, 1.0)
    pretrained = parse_config(["--catalog", str(catalog_dir), "--model", str(tiny_model_dir)])
    assert (pretrained.lr, pretrained.batch_size, pretrained.epochs) == (5e-5, 32, 3)
    explicit = parse_config(["--catalog", str(catalog_dir), "--model", "small", "--lr", "3e-4", "--epochs", "2"])
    assert (explicit.lr, explicit.epochs, explicit.batch_size) == (3e-4, 2, 256)
    assert "lr=0.0003 (flag)" in explicit.recipe_summary() and "batch_size=256 (small)" in explicit.recipe_summary()


# ---------------------------------------------------------------- end to end on CPU
def test_smoke_run_small_preset_learns_and_exports(catalog_dir, tmp_path):
    out = tmp_path / "run"
    result = train_entry.main(base_args(catalog_dir, out, "--model", "small", *SMALL_TINY_FLAGS, "--epochs", "2",
                                        "--batch-size", "16", "--num-workers", "2"))
    history = result["history"]
    assert [row["epoch"] for row in history] == [0, 1, 2] and not result["stopped"]
    assert history[0]["train_loss"] is None  # zero-shot baseline
    assert history[2]["train_loss"] < history[1]["train_loss"]
    assert history[2]["val_loss"] < history[0]["val_loss"]
    for row in history:
        assert 0 <= row["t2i/R@1"] <= row["t2i/R@5"] <= row["t2i/R@10"] <= 1
        assert 0 <= row["P@10/articleType"] <= 1 and 0 <= row["P@10/baseColour"] <= 1
    for name in REPORT_FILES:
        assert (out / name).stat().st_size > 0
    assert json.loads((out / "report.json").read_text()) == history
    assert (out / "report.md").read_text().count("\n") == 2 + len(history)
    assert [p.name for p in list_checkpoints(out)][-1] == f"step_{result['step']}"

    model, processor = load_clip(str(out / "final"))
    embedder = Embedder(model, processor, device="cpu")
    texts = embedder.encode_texts(["red tshirt for men", "black watch"])
    catalog = open_catalog(catalog_dir)
    images = embedder.encode_images([catalog.load_image(p) for p in list(catalog.products())[:3]])
    assert texts.shape == (2, TINY_OVERRIDES["projection_dim"]) and images.shape == (3, TINY_OVERRIDES["projection_dim"])
    assert np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    assert (out / "final" / "splits.json").is_file() and (out / "best" / "config.json").is_file()


def _weights(model_dir: Path) -> dict:
    return load_file(str(model_dir / "model.safetensors"))


def test_interrupted_and_resumed_run_equals_uninterrupted(catalog_dir, tiny_model_dir, tmp_path):
    common = ["--model", tiny_model_dir, "--epochs", "2", "--batch-size", "16", "--no-eval-before-training"]
    straight = train_entry.main(base_args(catalog_dir, tmp_path / "straight", *common))
    steps_per_epoch = straight["step"] // 2

    out = tmp_path / "interrupted"
    stop_at = steps_per_epoch + 3  # mid-way through the second epoch
    first = train_entry.main(base_args(catalog_dir, out, *common, "--stop-after-steps", stop_at,
                                       "--checkpoint-every", 4, "--keep-last", 2))
    assert first["stopped"] and first["step"] == stop_at and not (out / "final").exists()
    # Saved every 4 steps, at the epoch end and at the stop; only the last 2 are kept.
    saved = sorted(set(range(4, stop_at + 1, 4)) | {steps_per_epoch, stop_at})
    assert [p.name for p in list_checkpoints(out)] == [f"step_{s}" for s in saved[-2:]]

    with pytest.raises(ConfigError, match="--resume latest"):  # never silently restart over a run
        train_entry.main(base_args(catalog_dir, out, *common))
    with pytest.raises(ConfigError, match="incompatible run .*lr"):
        train_entry.main(base_args(catalog_dir, out, *common, "--resume", "latest", "--lr", "2e-3"))

    resumed = train_entry.main(base_args(catalog_dir, out, *common, "--resume", "latest"))
    assert resumed["step"] == straight["step"]
    want, got = _weights(tmp_path / "straight" / "final"), _weights(out / "final")
    assert want.keys() == got.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-6, msg=lambda m: f"{name}: {m}")
    assert [r["train_loss"] for r in resumed["history"]] == pytest.approx([r["train_loss"] for r in straight["history"]],
                                                                          rel=1e-6)
    # The weights moved: equality is not the trivial "nothing trained" kind.
    start = _weights(tiny_model_dir)
    assert any(not torch.allclose(start[n], want[n]) for n in want)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_processes_train_like_one_process_with_the_global_batch(catalog_dir, tiny_model_dir, tmp_path):
    """Gathered negatives + DDP averaging == one process on the concatenated batch, through the real trainer,
    attribute-prompt loss included (its per-rank sums are normalised by the global label count, or the global
    sum of class weights when rare values are weighted up)."""
    common = ["--model", tiny_model_dir, "--epochs", "1", "--no-eval-before-training", "--max-grad-norm", "0.5",
              "--attribute-loss-weight", "0.5", "--attribute-loss-fields", "baseColour:2,articleType",
              "--attribute-loss-balance", "0.5"]
    single = train_entry.main(base_args(catalog_dir, tmp_path / "one", *common, "--batch-size", "16"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "train" / "train.py"), *base_args(catalog_dir, tmp_path / "two", *common, "--batch-size", "8")]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads((tmp_path / "two" / "report.json").read_text())
    assert report[-1]["step"] == single["step"]
    assert report[-1]["train_loss"] == pytest.approx(single["history"][-1]["train_loss"], rel=1e-4)
    want, got = _weights(tmp_path / "one" / "final"), _weights(tmp_path / "two" / "final")
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")
