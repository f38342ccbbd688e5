"""`make export-onnx`: the CLIP text tower (text model + projection + L2 norm) -> ONNX, checked against torch.

    python -m fashion_search.model.onnx_export --model runs/small/best [--no-int8] [--opset 18]

1. Load the model; trace `TextTower` with torch.onnx.export (the torch.export-based exporter),
   batch and sequence axes dynamic.
2. Optionally quantize it: int8 weights, activations quantized on the fly (quantize_dynamic).
3. Encode CHECK_TEXTS (empty, over-long, other scripts; batches of 1 and many) with torch and each
   ONNX model; refuse a float32 export under FP32_MIN_COSINE, mark an int8 one under INT8_MIN_COSINE
   as rejected (so `--text-encoder onnx-int8` says why instead of serving worse vectors).
4. Move the files into MODEL_DIR/onnx/ and write manifest.json last: the weights hash, opset,
   versions, each file's sha256 and its measured cosine to torch. A crash midway leaves no manifest.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fashion_search.cli import option, parse_dataclass
from fashion_search.model.clip import ModelLoadError, load_clip, model_identity
from fashion_search.model.embed import Embedder, text_features
from fashion_search.model.onnx_text import (
    INPUT_NAMES,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    OUTPUT_NAME,
    VARIANT_FILES,
    OnnxExportError,
    create_session,
    file_sha256,
    onnx_dir,
)

log = logging.getLogger(__name__)

DEFAULT_OPSET = 18
FP32_MIN_COSINE = 0.999
INT8_MIN_COSINE = 0.99
# Hostile and ordinary queries: the export must match torch on all of them, alone and together.
CHECK_TEXTS = [
    "red summer dress", "men black casual shoes", "", "   ", "Nike", "women's blue jeans, slim fit!",
    "robe d'été rouge", "красное летнее платье", "赤いサマードレス", "فستان صيفي أحمر", "👗 dress 👠",
    "striped t-shirt " * 40,  # far past any max length: truncated as torch truncates it
]


class TextTower(torch.nn.Module):
    """(input_ids, attention_mask) -> (B, D) L2-normalised text embeddings, exactly as Embedder computes them."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        features = text_features(self.model, input_ids=input_ids, attention_mask=attention_mask)
        return F.normalize(features.float(), dim=-1)


@dataclass
class ExportConfig:
    model: str | None = option(None, "Model directory to export (a save_pretrained CLIP dir, e.g. runs/small/best); "
                                     "the files go to MODEL/onnx/.")
    no_int8: bool = option(False, "Skip the int8 dynamically quantized copy.")
    opset: int = option(DEFAULT_OPSET, "ONNX opset version.")

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("--model is required: the model directory to export (e.g. runs/small/best)")
        if not (Path(self.model) / "config.json").is_file():
            raise ValueError(f"--model {self.model} is not a save_pretrained CLIP directory (no config.json)")
        if not 14 <= self.opset <= 23:
            raise ValueError(f"--opset {self.opset}: use 14-23 (attention needs >= 14; ONNX Runtime runs <= 23)")


def export_fp32(model, embedder: Embedder, path: Path, opset: int) -> None:
    # Three texts of different lengths: an example with batch == sequence length could let the
    # tracer tie the two axes together.
    example = embedder.tokenize(["red summer dress", "men black casual shoes for party wear", "watch"])
    dims = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings():
        # Notes about the exporter's own internals, and that both inputs share one "sequence" axis (as meant).
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*axis name: sequence will not be used.*", category=UserWarning)
        torch.onnx.export(TextTower(model).eval(), (example["input_ids"], example["attention_mask"]), str(path),
                          input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME], opset_version=opset,
                          dynamo=True, external_data=False,  # one file (< 2 GB), hashed whole by the manifest
                          verbose=False, dynamic_shapes={name: dims for name in INPUT_NAMES})


def quantize_int8(fp32_path: Path, int8_path: Path) -> None:
    """int8 weights of every MatMul/Gather; activations quantized per call from their live range."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The exporter's recorded intermediate shapes trip the quantizer's own shape inference when the
    # projection changes the width (48 -> 16: "existing shape differ"); without them it re-infers
    # all shapes itself. ONNX Runtime's suggested pre-processing (symbolic shape inference) fails on
    # this graph, so its "consider pre-processing" warning is silenced below.
    stripped = onnx.load(str(fp32_path))
    del stripped.graph.value_info[:]
    source = int8_path.with_suffix(".fp32-no-shapes.onnx")
    onnx.save(stripped, str(source))
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(str(source), str(int8_path), weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)
        source.unlink(missing_ok=True)


def cosine_to_torch(embedder: Embedder, path: Path, texts: list[str]) -> float:
    """Smallest cosine between the torch vectors and the ONNX model's, over texts one at a time and batched."""
    reference = embedder.encode_texts(texts)  # (N, D) unit rows
    session = create_session(path, threads=torch.get_num_threads())

    def run(batch: list[str]) -> np.ndarray:
        tok = embedder.tokenizer(batch, padding=True, truncation=True, max_length=embedder.max_length,
                                 return_tensors="np")
        return session.run([OUTPUT_NAME], {n: np.asarray(tok[n], dtype=np.int64) for n in INPUT_NAMES})[0]

    single = np.concatenate([run([text]) for text in texts])
    batched = run(texts)
    return float(min((single * reference).sum(axis=1).min(), (batched * reference).sum(axis=1).min()))


def _versions() -> dict:
    import onnx
    import onnxruntime
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__}


def export_text_encoder(model_dir, int8: bool = True, opset: int = DEFAULT_OPSET, export_dir=None) -> dict:
    """Export, check and install MODEL_DIR/onnx/ (or export_dir); returns the manifest written."""
    model_dir = Path(model_dir)
    started = time.perf_counter()
    for noisy in ("onnx_ir", "onnxscript"):  # one INFO line per graph rewrite under a job's INFO logging
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger(noisy).level))
    model, processor = load_clip(str(model_dir))
    identity = model_identity(str(model_dir), model)
    embedder = Embedder(model, processor, device="cpu")
    out = Path(export_dir or onnx_dir(model_dir))
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_NAME).unlink(missing_ok=True)  # until the new files are in place, there is no export
    files: dict = {}
    with tempfile.TemporaryDirectory(dir=out, prefix=".partial-") as tmp_name:
        tmp = Path(tmp_name)
        staged = {"fp32": tmp / VARIANT_FILES["fp32"]}
        try:
            export_fp32(model, embedder, staged["fp32"], opset)
        except Exception as err:  # the exporter raises many types (torch.export, onnxscript); name them all one way
            raise OnnxExportError(f"torch.onnx.export could not export the text tower of {model_dir}: "
                                  f"{type(err).__name__}: {err}. Keep --text-encoder torch.") from err
        if int8:
            staged["int8"] = tmp / VARIANT_FILES["int8"]
            quantize_int8(staged["fp32"], staged["int8"])
        for variant, path in staged.items():
            cosine = cosine_to_torch(embedder, path, CHECK_TEXTS)
            files[variant] = {"file": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size,
                              "min_cosine_to_torch": round(cosine, 6)}
            floor = FP32_MIN_COSINE if variant == "fp32" else INT8_MIN_COSINE
            if cosine < floor and variant == "fp32":
                raise OnnxExportError(f"the float32 ONNX export differs from torch (min cosine {cosine:.5f} < "
                                      f"{floor}); nothing was installed. Keep --text-encoder torch and report this.")
            if cosine < floor:
                files[variant]["rejected"] = f"min cosine to torch {cosine:.5f} < {floor} over the export checks"
                log.warning("int8 export rejected: %s", files[variant]["rejected"])
        for path in staged.values():
            os.replace(path, out / path.name)
    manifest = {"format": MANIFEST_FORMAT, "model": identity, "opset": opset, "max_length": embedder.max_length,
                "dim": embedder.dim, "files": files, "versions": _versions(),
                "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    partial = out / f".{MANIFEST_NAME}.partial"
    partial.write_text(json.dumps(manifest, indent=2))
    os.replace(partial, out / MANIFEST_NAME)
    log.info("exported %s text encoder to %s in %.1fs: %s", model_dir, out, time.perf_counter() - started,
             {v: f["min_cosine_to_torch"] for v, f in files.items()})
    return manifest


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = parse_dataclass(ExportConfig, argv, prog="python -m fashion_search.model.onnx_export",
                          description=__doc__.split("\n")[0])
    try:
        manifest = export_text_encoder(cfg.model, int8=not cfg.no_int8, opset=cfg.opset)
    except ModelLoadError as err:  # OnnxExportError included
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: cannot write {onnx_dir(cfg.model)}: {err}. Free disk space or make the model directory "
              "writable (or copy the model to a writable directory and export that).", file=sys.stderr)
        return 1
    for variant, entry in manifest["files"].items():
        state = f"REJECTED ({entry['rejected']})" if entry.get("rejected") else "ok"
        print(f"{variant}: {onnx_dir(cfg.model) / entry['file']} ({entry['bytes'] / 1e6:.1f} MB), "
              f"min cosine to torch {entry['min_cosine_to_torch']:.5f}: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
