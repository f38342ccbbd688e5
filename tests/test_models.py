"""model/clip.py: loading (local / offline hub / missing), the `small` preset, tokenizer, EOS pooling, identity."""

import json

import numpy as np
import pytest
import torch
from tiny_model import TINY_OVERRIDES, build_tiny_clip, default_captions

from fashion_search.model.clip import (
    DEFAULT_MODEL,
    EOS_ID,
    PAD_ID,
    SMALL_PRESET,
    ModelLoadError,
    build_small,
    count_parameters,
    load_clip,
    model_identity,
)
from fashion_search.model.embed import Embedder, text_features

CAPTIONS = [
    "men navy blue shirt for casual wear in summer 2012",
    "women red handbag for party wear in winter 2016",
    "boys white sports shoes for sports wear in fall 2011",
] * 40 + default_captions()
PROBE_TEXTS = ["men navy blue shirt", "women red handbag", "white sports shoes"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny_clip(tmp_path_factory.mktemp("tiny") / "clip")


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return load_clip(str(tiny_dir))


def probe_images():
    from PIL import Image

    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (80, 60, 3), dtype=np.uint8)) for _ in range(3)]


def test_local_dir_loads_and_save_load_preserves_outputs(tiny, tmp_path):
    model, processor = tiny
    before = Embedder(model, processor, device="cpu")
    texts_before, images_before = before.encode_texts(PROBE_TEXTS), before.encode_images(probe_images())

    model.save_pretrained(tmp_path / "copy")
    processor.save_pretrained(tmp_path / "copy")
    after = Embedder(*load_clip(str(tmp_path / "copy")), device="cpu")

    np.testing.assert_array_equal(after.encode_texts(PROBE_TEXTS), texts_before)
    np.testing.assert_array_equal(after.encode_images(probe_images()), images_before)
    # Different inputs really do give different vectors (a constant encoder would pass the above).
    assert not np.allclose(texts_before[0], texts_before[1], atol=1e-3)


def test_offline_hub_id_fails_fast_naming_the_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as err:
        load_clip(DEFAULT_MODEL)
    message = str(err.value)
    assert "--model /path/to/clip" in message
    assert f"huggingface-cli download {DEFAULT_MODEL} --local-dir" in message
    assert "HF_HUB_OFFLINE" in message
    # A one-slash relative path is indistinguishable from a hub id: the error covers both readings.
    with pytest.raises(ModelLoadError, match="no local directory 'runs/missing'"):
        load_clip("runs/missing")


def test_unreachable_hub_fails_fast_when_online_mode_is_on(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(ModelLoadError, match="cannot reach the Hugging Face hub") as err:
        load_clip("someorg/never-cached-clip")
    assert "--model /path/to/clip" in str(err.value)


def test_missing_directory_is_a_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_clip(str(tmp_path / "no-such-model"))
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_clip("runs/not/there")


def test_directory_without_config_is_a_model_load_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_clip(str(tmp_path / "empty"))


def test_small_name_alone_is_rejected_with_how_to_build_it():
    with pytest.raises(ModelLoadError, match="build_small"):
        load_clip("small")


def test_small_preset_builds_with_preset_sizes_and_loads_like_any_clip(tmp_path):
    out = build_small(CAPTIONS, tmp_path / "small", seed=0)
    model, processor = load_clip(str(out))
    vision, text = model.config.vision_config, model.config.text_config
    assert (vision.image_size, vision.patch_size) == (SMALL_PRESET["image_size"], SMALL_PRESET["patch_size"])
    assert (vision.hidden_size, vision.num_hidden_layers) == (SMALL_PRESET["vision_hidden"], SMALL_PRESET["vision_layers"])
    assert (text.hidden_size, text.num_hidden_layers) == (SMALL_PRESET["text_hidden"], SMALL_PRESET["text_layers"])
    assert model.config.projection_dim == SMALL_PRESET["projection_dim"]
    assert text.max_position_embeddings == processor.tokenizer.model_max_length == 32
    assert text.vocab_size == len(processor.tokenizer)
    # EOS pooling must not take the legacy argmax(input_ids) path (taken when eos_token_id == 2).
    assert text.eos_token_id == processor.tokenizer.eos_token_id == EOS_ID != 2
    assert processor.tokenizer.pad_token_id == PAD_ID != EOS_ID
    image_processor = processor.image_processor
    side = SMALL_PRESET["image_size"]
    assert image_processor.size == {"height": side, "width": side} and not image_processor.do_center_crop
    np.testing.assert_allclose(image_processor.image_mean, [0.48145466, 0.4578275, 0.40821073])
    pixels = processor(images=probe_images(), return_tensors="pt")["pixel_values"]
    assert tuple(pixels.shape) == (3, 3, side, side)
    assert 1_000_000 < count_parameters(model) < 10_000_000


def test_overrides_change_the_config_and_unknown_keys_are_refused(tmp_path):
    out = build_small(CAPTIONS, tmp_path / "m", vision_hidden=64, text_layers=1, projection_dim=32, heads=2)
    model, _ = load_clip(str(out))
    assert model.config.vision_config.hidden_size == 64
    assert model.config.text_config.num_hidden_layers == 1
    assert model.config.projection_dim == 32
    with pytest.raises(ValueError, match="unknown small-preset overrides"):
        build_small(CAPTIONS, tmp_path / "bad", hidden=64)
    with pytest.raises(ValueError, match="multiple of patch_size"):
        build_small(CAPTIONS, tmp_path / "bad", image_size=50)  # not a multiple of patch 12
    with pytest.raises(ValueError, match="at least one caption"):
        build_small([], tmp_path / "bad")


def test_build_is_deterministic_for_a_seed(tmp_path):
    a = build_tiny_clip(tmp_path / "a")
    b = build_tiny_clip(tmp_path / "b")
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
    ids = [model_identity("m", load_clip(str(d))[0])["weights_hash"] for d in (a, b)]
    assert ids[0] == ids[1]
    c = build_small(default_captions(), tmp_path / "c", seed=1, **TINY_OVERRIDES)
    assert model_identity("m", load_clip(str(c))[0])["weights_hash"] != ids[0]


def test_tokenizer_round_trips_a_caption_between_bos_and_eos(tiny):
    tokenizer = tiny[1].tokenizer
    caption = "Men Navy Blue Shirts for Casual wear"
    ids = tokenizer(caption)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id not in ids
    # Known words are single tokens (the vocabulary holds whole frequent words).
    assert len(ids) == 2 + len(caption.split())
    assert tokenizer.decode(ids, skip_special_tokens=True) == caption.lower()
    # An unseen word still encodes, through character pieces, and decodes back.
    ids = tokenizer("navy theodore")["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == "navy theodore"


def test_tokenizer_saved_config_names_the_special_tokens(tiny_dir):
    config = json.loads((tiny_dir / "tokenizer_config.json").read_text())
    assert config["eos_token"] == "<|endoftext|>" and config["pad_token"] == "<|pad|>"
    assert config["model_max_length"] == 32


def test_eos_pooling_reads_the_true_end_token(tiny):
    model, processor = tiny
    tok = processor.tokenizer(["men navy blue shirts"], padding="max_length", max_length=12, return_tensors="pt")
    ids = tok["input_ids"]
    eos_at = int((ids[0] == EOS_ID).nonzero()[0])
    assert eos_at == 5 and ids[0, eos_at + 1] == PAD_ID

    def embed(input_ids):
        with torch.inference_mode():
            return text_features(model, input_ids=input_ids, attention_mask=tok["attention_mask"])[0]

    reference = embed(ids)
    after_eos = ids.clone()
    after_eos[0, eos_at + 1 :] = processor.tokenizer.convert_tokens_to_ids("shirts")
    torch.testing.assert_close(embed(after_eos), reference, rtol=0, atol=0)

    last_word = ids.clone()
    last_word[0, eos_at - 1] = processor.tokenizer.convert_tokens_to_ids("handbags")
    assert (embed(last_word) - reference).abs().max() > 1e-4


def test_model_identity_is_stable_across_save_load_and_changes_with_weights(tiny, tmp_path):
    model, processor = tiny
    first = model_identity("tiny", model)
    assert first["name"] == "tiny" and len(first["weights_hash"]) == 64
    assert model_identity("tiny", model) == first

    model.save_pretrained(tmp_path / "copy")
    processor.save_pretrained(tmp_path / "copy")
    reloaded, _ = load_clip(str(tmp_path / "copy"))
    assert model_identity("tiny", reloaded)["weights_hash"] == first["weights_hash"]

    with torch.no_grad():
        reloaded.text_projection.weight[3, 5] += 1e-3  # one element in one tensor
    assert model_identity("tiny", reloaded)["weights_hash"] != first["weights_hash"]
