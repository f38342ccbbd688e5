"""ONNX text encoder: same vectors as torch (float32 and int8), hostile queries, the manifest's refusals."""

import json
import shutil

import numpy as np
import pytest
import torch
from tiny_model import TINY_OVERRIDES, build_tiny_clip

from fashion_search.model.clip import ModelLoadError, load_clip, model_identity
from fashion_search.model.embed import Embedder
from fashion_search.model.onnx_export import export_text_encoder
from fashion_search.model.onnx_export import main as export_main
from fashion_search.model.onnx_text import (
    MANIFEST_NAME,
    OnnxExportError,
    OnnxTextEmbedder,
    onnx_dir,
)
from fashion_search.model.query_encoder import TEXT_ENCODERS, build_embedder

MAX_LENGTH = TINY_OVERRIDES["max_position_embeddings"]
QUERIES = [
    "red summer dress", "men black casual shoes", "", "   ", "Watches", "women's blue jeans, slim fit!",
    "robe d'été rouge", "красное летнее платье", "赤いサマードレス", "فستان صيفي أحمر", "👗 dress 👠", "\t\n",
    "striped t-shirt " * 60,
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model_dir = build_tiny_clip(tmp_path_factory.mktemp("onnx") / "clip")
    manifest = export_text_encoder(model_dir)
    return model_dir, manifest


@pytest.fixture(scope="module")
def torch_embedder(exported):
    return build_embedder(str(exported[0]), "torch", device="cpu")[0]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


@pytest.mark.parametrize("text_encoder,floor", [("onnx", 0.999), ("onnx-int8", 0.99)])
def test_onnx_vectors_match_torch_alone_and_batched(exported, torch_embedder, text_encoder, floor):
    embedder, _ = build_embedder(str(exported[0]), text_encoder, device="cpu")
    assert isinstance(embedder, OnnxTextEmbedder)
    reference = torch_embedder.encode_texts(QUERIES)
    batched = embedder.encode_texts(QUERIES)
    single = np.concatenate([embedder.encode_texts([q]) for q in QUERIES])
    assert batched.shape == single.shape == (len(QUERIES), TINY_OVERRIDES["projection_dim"])
    assert batched.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert cosines(batched, reference).min() >= floor
    assert cosines(single, reference).min() >= floor
    # Batch composition (padding to another text's length) must not change a float32 vector. int8
    # activations are quantized with the range of the whole batch, so there it moves a little.
    embedder.batch_size = 3  # several batches; rows must come back in input order
    if text_encoder == "onnx":
        np.testing.assert_allclose(batched, single, atol=1e-4)
        np.testing.assert_allclose(embedder.encode_texts(QUERIES), batched, atol=1e-4)
    else:
        assert cosines(batched, single).min() >= floor
        assert cosines(embedder.encode_texts(QUERIES), reference).min() >= floor


def test_onnx_session_encodes_not_the_torch_tower(exported, monkeypatch):
    embedder, _ = build_embedder(str(exported[0]), "onnx", device="cpu")
    vectors = embedder.encode_texts(QUERIES[:2])
    assert float(vectors[0] @ vectors[1]) < 0.999  # different queries, different vectors
    calls = []
    monkeypatch.setattr(Embedder, "_encode_text_batch", lambda self, texts: calls.append(texts))
    monkeypatch.setattr(embedder.model, "get_text_features", lambda **kw: calls.append(kw))
    np.testing.assert_allclose(embedder.encode_texts(QUERIES[:1]), vectors[:1], atol=1e-6)
    assert calls == []


def test_long_text_is_truncated_exactly_as_torch(exported, torch_embedder):
    embedder, _ = build_embedder(str(exported[0]), "onnx", device="cpu")
    long_text = " ".join(f"word{i}" for i in range(500))
    assert len(torch_embedder.tokenizer(long_text)["input_ids"]) > MAX_LENGTH
    tok = embedder.tokenizer([long_text], truncation=True, max_length=embedder.max_length, return_tensors="np")
    assert tok["input_ids"].shape[1] == MAX_LENGTH == embedder.max_length
    # The ONNX graph takes any sequence length its position table holds: exactly MAX_LENGTH works.
    assert float(embedder.encode_texts([long_text])[0] @ torch_embedder.encode_texts([long_text])[0]) >= 0.999
    # Everything past the limit is ignored, as torch ignores it.
    np.testing.assert_allclose(embedder.encode_texts([long_text + " extra words"]),
                               embedder.encode_texts([long_text]), atol=1e-6)


def test_images_still_go_through_torch(exported, torch_embedder):
    from PIL import Image

    embedder, _ = build_embedder(str(exported[0]), "onnx-int8", device="cpu")
    image = Image.new("RGB", (60, 80), (200, 30, 30))
    np.testing.assert_allclose(embedder.encode_images([image]), torch_embedder.encode_images([image]), atol=1e-6)
    assert embedder.encode_texts([]).shape == (0, TINY_OVERRIDES["projection_dim"])
    with pytest.raises(TypeError):
        embedder.encode_texts("a bare string")


def test_threads_follow_torch_unless_given(exported):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert build_embedder(str(exported[0]), "onnx")[0].threads == 1
        assert build_embedder(str(exported[0]), "onnx", threads=2)[0].threads == 2
    finally:
        torch.set_num_threads(before)


def test_manifest_records_weights_and_checks(exported):
    model_dir, manifest = exported
    model, _ = load_clip(str(model_dir))
    assert manifest["model"]["weights_hash"] == model_identity(str(model_dir), model)["weights_hash"]
    assert manifest["max_length"] == MAX_LENGTH and manifest["opset"] >= 14
    assert manifest["files"]["fp32"]["min_cosine_to_torch"] >= 0.999
    assert manifest["files"]["int8"]["min_cosine_to_torch"] >= 0.99
    assert json.loads((onnx_dir(model_dir) / MANIFEST_NAME).read_text()) == manifest
    assert not list(onnx_dir(model_dir).glob(".partial-*"))  # the staging dir is gone


def copy_model(exported, tmp_path):
    return shutil.copytree(exported[0], tmp_path / "clip")


def test_missing_export_names_make_target(exported, tmp_path):
    model_dir = copy_model(exported, tmp_path)
    shutil.rmtree(onnx_dir(model_dir))
    with pytest.raises(OnnxExportError, match="make export-onnx MODEL_DIR="):
        build_embedder(str(model_dir), "onnx")
    assert build_embedder(str(model_dir), "torch")[0].dim == TINY_OVERRIDES["projection_dim"]  # torch needs none


def test_export_for_other_weights_is_refused(exported, tmp_path):
    model_dir = copy_model(exported, tmp_path)
    model, _ = load_clip(str(model_dir))
    with torch.no_grad():
        model.text_projection.weight.mul_(1.01)  # a fine-tuning step later
    model.save_pretrained(model_dir)
    with pytest.raises(OnnxExportError, match="other weights.*make export-onnx"):
        build_embedder(str(model_dir), "onnx-int8")
    assert isinstance(OnnxExportError("x"), ModelLoadError)  # the page shows ModelLoadError's message


def test_tampered_or_incomplete_exports_are_refused(exported, tmp_path):
    model_dir = copy_model(exported, tmp_path)
    path = onnx_dir(model_dir) / "text.onnx"
    path.write_bytes(path.read_bytes()[:1000])  # truncated file
    with pytest.raises(OnnxExportError, match="changed since it was exported"):
        build_embedder(str(model_dir), "onnx")
    manifest_path = onnx_dir(model_dir) / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    del manifest["files"]["int8"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(OnnxExportError, match="no int8 model"):
        build_embedder(str(model_dir), "onnx-int8")
    manifest["files"]["fp32"]["rejected"] = "min cosine 0.5"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(OnnxExportError, match="rejected at export"):
        build_embedder(str(model_dir), "onnx")
    manifest_path.write_text("{not json")
    with pytest.raises(OnnxExportError, match="cannot read"):
        build_embedder(str(model_dir), "onnx")


def test_unknown_text_encoder_and_hub_id(exported):
    with pytest.raises(ValueError, match="torch, onnx, onnx-int8"):
        build_embedder(str(exported[0]), "tensorrt")
    assert TEXT_ENCODERS == ("torch", "onnx", "onnx-int8")
    from fashion_search.model.onnx_text import check_export

    with pytest.raises(OnnxExportError, match="local model directory"):
        check_export("openai/clip-vit-base-patch32", {"weights_hash": "x"}, "fp32")


def test_export_cli_refuses_bad_model_dir(tmp_path, capsys):
    with pytest.raises(SystemExit):
        export_main(["--model", str(tmp_path / "nowhere")])
    assert "no config.json" in capsys.readouterr().err


def test_export_failures_are_messages(exported, tmp_path, monkeypatch, capsys):
    from fashion_search.model import onnx_export

    model_dir = copy_model(exported, tmp_path)
    shutil.rmtree(onnx_dir(model_dir))

    def broken_export(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(onnx_export.torch.onnx, "export", broken_export)
    assert export_main(["--model", str(model_dir)]) == 1
    err = capsys.readouterr().err
    assert "could not export" in err and "unsupported operator" in err and "--text-encoder torch" in err
    assert not (onnx_dir(model_dir) / MANIFEST_NAME).exists() and not list(onnx_dir(model_dir).iterdir())
    with pytest.raises(OnnxExportError, match="make export-onnx"):  # nothing half-made is ever used
        build_embedder(str(model_dir), "onnx")
