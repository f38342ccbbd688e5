"""The CLIP text tower run by ONNX Runtime: a drop-in text backend for `Embedder`.

`make export-onnx` (model/onnx_export.py) writes MODEL_DIR/onnx/{text.onnx, text-int8.onnx,
manifest.json}. `OnnxTextEmbedder` encodes texts with one of those files and everything else
(validation, batching, ordering, images) exactly as the torch `Embedder` it extends, so the tokens
fed to both are the same. The manifest ties an export to the weights it was made from (the hash of
model_identity), so an export made for other weights is refused with the fix, never silently used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from fashion_search.model.clip import ModelLoadError
from fashion_search.model.embed import Embedder

log = logging.getLogger(__name__)

ONNX_DIR_NAME = "onnx"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
# variant -> file name inside MODEL_DIR/onnx
VARIANT_FILES = {"fp32": "text.onnx", "int8": "text-int8.onnx"}
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "text_embeds"


class OnnxExportError(ModelLoadError):
    """An ONNX export is missing, stale or unusable; the message names the command that fixes it."""


def onnx_dir(model_dir) -> Path:
    return Path(model_dir) / ONNX_DIR_NAME


def export_command(model_dir) -> str:
    return (f"`make export-onnx MODEL_DIR={model_dir}` "
            f"(or `python -m fashion_search.model.onnx_export --model {model_dir}`)")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(model_dir, export_dir=None) -> dict:
    """The export's manifest (in export_dir, default MODEL_DIR/onnx), or OnnxExportError saying how to make one."""
    local = Path(str(model_dir)).expanduser()
    if export_dir is None and not (local / "config.json").is_file():
        raise OnnxExportError(
            f"the ONNX text encoder needs a local model directory, and '{model_dir}' is not one. Download or "
            "train the model into a directory, pass that as the model, and export it with "
            + export_command("DIR") + "; or use --text-encoder torch.")
    path = Path(export_dir or onnx_dir(local)) / MANIFEST_NAME
    if not path.is_file():
        raise OnnxExportError(f"no ONNX export of the text encoder for {local} (no {path}). Export it with "
                              f"{export_command(local)}, or use --text-encoder torch.")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise OnnxExportError(f"cannot read {path} ({err}); re-export with {export_command(local)}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise OnnxExportError(f"{path} is not a format-{MANIFEST_FORMAT} export manifest; re-export with "
                              f"{export_command(local)}")
    return manifest


def check_export(model_dir, identity: dict, variant: str, export_dir=None) -> Path:
    """The verified ONNX file of `variant` ("fp32" | "int8") exported from exactly these weights."""
    if variant not in VARIANT_FILES:
        raise ValueError(f"unknown ONNX variant {variant!r}; choose from {sorted(VARIANT_FILES)}")
    local = Path(str(model_dir)).expanduser()
    manifest = read_manifest(local, export_dir)
    where = Path(export_dir or onnx_dir(local))
    fix = f"Re-export with {export_command(local)}, or use --text-encoder torch."
    exported_hash = (manifest.get("model") or {}).get("weights_hash")
    if exported_hash != identity["weights_hash"]:
        raise OnnxExportError(
            f"the ONNX export in {where} was made from other weights (weights hash "
            f"{str(exported_hash)[:12]}…, this model's is {identity['weights_hash'][:12]}…): it would encode "
            f"queries unlike the catalog. {fix}")
    entry = (manifest.get("files") or {}).get(variant)
    if not entry:
        raise OnnxExportError(f"the ONNX export in {where} has no {variant} model "
                              f"(exported with --no-int8?). {fix}")
    if entry.get("rejected"):
        raise OnnxExportError(f"the {variant} ONNX model in {where} was rejected at export: "
                              f"{entry['rejected']}. Use --text-encoder onnx (float32) or torch.")
    path = where / entry["file"]
    if not path.is_file():
        raise OnnxExportError(f"{path} is missing although the manifest lists it. {fix}")
    if file_sha256(path) != entry.get("sha256"):
        raise OnnxExportError(f"{path} changed since it was exported (sha256 differs from the manifest). {fix}")
    return path


def create_session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1  # the graph is one chain of ops; parallel branches buy nothing
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types (InvalidProtobuf, Fail, ...)
        raise OnnxExportError(f"ONNX Runtime cannot load {path}: {err}. Re-export with "
                              f"{export_command(path.parent.parent)}") from err


class OnnxTextEmbedder(Embedder):
    """`Embedder` whose texts go through an ONNX export of the same model's text tower.

    Images stay on torch (the page's image search, ingest), so the whole Embedder interface works.
    threads: ONNX Runtime intra-op threads; default torch's current setting, so a process that pins
    torch to one thread for single queries (the page) pins this encoder too. export_dir: where the
    export is (default MODEL_DIR/onnx; the benchmark exports elsewhere to leave the model dir alone).
    """

    def __init__(self, model, processor, model_dir, identity: dict, variant: str = "fp32", device=None,
                 batch_size: int = 64, threads: int | None = None, export_dir=None):
        super().__init__(model, processor, device=device, batch_size=batch_size)
        self.onnx_path = check_export(model_dir, identity, variant, export_dir)
        self.variant = variant
        self.threads = int(threads or torch.get_num_threads())
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.session = create_session(self.onnx_path, self.threads)
        log.info("text encoder: ONNX Runtime %s (%s, %d thread(s))", self.onnx_path, variant, self.threads)

    def _text_inference(self):
        # The torch context (eval mode over every module, then back) costs ~0.5 ms a call, as much as
        # the small model's int8 run itself, and the ONNX session needs none of it.
        return contextlib.nullcontext()

    def _encode_text_batch(self, texts: list[str]) -> np.ndarray:
        tok = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np")
        feeds = {name: np.asarray(tok[name], dtype=np.int64) for name in INPUT_NAMES}
        (features,) = self.session.run([OUTPUT_NAME], feeds)  # (B, D), L2-normalised inside the graph
        return np.asarray(features, dtype=np.float32)
