"""The one function that builds the encoder a search process uses: `build_embedder`.

The page, the HTTP API, evaluation and the benchmarks call it with a `--text-encoder` choice:
  torch      the CLIP text tower in PyTorch (the reference; what ingest encodes the catalog with)
  onnx       the same tower exported to ONNX (float32), run by ONNX Runtime on the CPU
  onnx-int8  that export with int8 dynamic quantization of its weights
Images are always encoded by torch. The ONNX variants need `make export-onnx MODEL_DIR=...` first.
"""

from __future__ import annotations

from fashion_search.model.clip import load_clip, model_identity
from fashion_search.model.embed import Embedder

TEXT_ENCODERS = ("torch", "onnx", "onnx-int8")
TEXT_ENCODER_HELP = ("Query text encoder: torch, onnx (ONNX Runtime, float32) or onnx-int8 (int8 weights); "
                     "the onnx ones need `make export-onnx MODEL_DIR=...` first.")
ONNX_VARIANTS = {"onnx": "fp32", "onnx-int8": "int8"}


def check_text_encoder(text_encoder: str) -> str:
    if text_encoder not in TEXT_ENCODERS:
        raise ValueError(f"unknown text encoder {text_encoder!r}; choose one of {', '.join(TEXT_ENCODERS)}")
    return text_encoder


def build_embedder(model: str, text_encoder: str = "torch", device=None, batch_size: int = 64,
                   threads: int | None = None) -> tuple[Embedder, dict]:
    """(embedder, model_identity) for a model dir or hub id; texts encoded by `text_encoder`.

    Raises ModelLoadError (OnnxExportError for a missing or stale export) with the fix in the message.
    threads: ONNX Runtime threads (default: torch's current setting); torch's own are the caller's.
    """
    check_text_encoder(text_encoder)
    clip, processor = load_clip(model)
    identity = model_identity(model, clip)
    if text_encoder == "torch":
        return Embedder(clip, processor, device=device, batch_size=batch_size), identity
    from fashion_search.model.onnx_text import OnnxTextEmbedder

    embedder = OnnxTextEmbedder(clip, processor, model_dir=model, identity=identity,
                                variant=ONNX_VARIANTS[text_encoder], device=device, batch_size=batch_size,
                                threads=threads)
    return embedder, identity
