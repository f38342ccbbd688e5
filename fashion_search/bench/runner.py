"""`python -m fashion_search.bench`: config, model, benchmark catalog, sections, reports.

1. Parse and validate the config (bench/config.py; sizes default to full or --quick values).
2. Write a small synthetic catalog (ingest and train read real image files from it; --ingest-catalog
   gives the ingest sections another, e.g. the real one).
3. For each entry of --archs, resolve its model and run the chosen sections: `model` is --model,
   else a trained small model at runs/small/best, else the small preset built untrained from the
   catalog's captions; `vit-b32` is a randomly initialised ViT-B/32, the architecture of the product's
   default model (openai/clip-vit-base-patch32, whose weights can't be fetched offline): bf16 on CUDA,
   float32 and smaller sample counts on a CPU.
4. Write reports/bench.json (every run, and the targeted figures side by side) + bench.md.

Why two architectures by default: the search and ingest targets are ratios of the whole path to the
encoder alone, so they depend on the encoder's size. The small preset's encoders take 1-8 ms, against
which the store's fixed ~1-2 ms query and the ~0.2 ms JPEG decode weigh 20-60%; the product's
default model is ViT-B/32, whose text tower takes ~20 ms per query on one CPU thread. Both are
measured and reported; neither hides the other.
"""

from __future__ import annotations

import logging
import os
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from fashion_search.bench.config import DEFAULT_TRAINED_MODEL, BenchConfig, parse_args

log = logging.getLogger(__name__)


def catalog_captions(catalog_dir: Path) -> list[str]:
    from fashion_search.catalog.captions import training_captions
    from fashion_search.catalog.products import open_catalog

    return [c for p in open_catalog(catalog_dir).products() for c in training_captions(p)]


def vit_b32_config():
    """CLIP ViT-B/32 (CLIPConfig's defaults are that architecture: 224 px, 512-d projection, CLIP's
    49,408-token text embedding) with this project's special token ids."""
    from transformers import CLIPConfig

    from fashion_search.model.clip import BOS_ID, EOS_ID, PAD_ID

    return CLIPConfig(text_config={"vocab_size": 49408, "pad_token_id": PAD_ID, "bos_token_id": BOS_ID,
                                   "eos_token_id": EOS_ID}, projection_dim=512)


def build_vit_b32(captions: list[str], out_dir: Path) -> Path:
    """A randomly initialised CLIP ViT-B/32 with a caption tokenizer, saved like any checkpoint: for
    timing full-size compute where no weights can be fetched."""
    from transformers import CLIPModel, CLIPProcessor

    from fashion_search.model.clip import small_image_processor, train_caption_tokenizer

    tokenizer = train_caption_tokenizer(captions, vocab_size=3000, max_length=77)
    config = vit_b32_config()
    model = CLIPModel(config)
    processor = CLIPProcessor(image_processor=small_image_processor(config.vision_config.image_size), tokenizer=tokenizer)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def resolve_model(cfg: BenchConfig, catalog_dir: Path, tmp: Path) -> tuple[str, str]:
    """(model dir, how it was chosen) for a single-architecture config (BenchConfig.for_arch)."""
    if cfg.archs == "vit-b32":
        return str(build_vit_b32(catalog_captions(catalog_dir), tmp / "vit-b32")), "vit-b32 random init"
    if cfg.model:
        return cfg.model, "given"
    if (DEFAULT_TRAINED_MODEL / "config.json").is_file():
        return str(DEFAULT_TRAINED_MODEL), "trained small model"
    from fashion_search.model.clip import build_small

    log.info("no --model and no trained model at %s: timing the small preset untrained", DEFAULT_TRAINED_MODEL)
    return str(build_small(catalog_captions(catalog_dir), tmp / "small-untrained", seed=cfg.seed)), "small preset untrained"


def environment(device) -> dict:
    return {"device": str(device) + (f" ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else ""),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "load_average": [round(x, 2) for x in os.getloadavg()]}


def run(cfg: BenchConfig) -> dict:
    from fashion_search.bench import (
        hybrid,
        ingest,
        ingest_tags,
        ingest_words,
        search,
        serve,
        store,
        text_encoder,
        train,
    )
    from fashion_search.catalog.synthetic.generate import write_synthetic_catalog
    from fashion_search.model.clip import load_clip
    from fashion_search.model.embed import Embedder

    sections = cfg.sections.split(",")
    if cfg.torch_threads is not None:
        torch.set_num_threads(cfg.torch_threads)  # DataLoader workers and the trainer inherit it
    results, timings = {}, {}
    with tempfile.TemporaryDirectory(prefix="fashion-bench-") as tmp_name:
        tmp = Path(tmp_name)
        catalog_dir = write_synthetic_catalog(tmp / "catalog", n=cfg.bench_products, seed=cfg.seed, progress=False)
        model_dir, source = resolve_model(cfg, catalog_dir, tmp)
        embedder = Embedder(*load_clip(model_dir), device=cfg.device, batch_size=cfg.batch_size)
        ingest_catalog = cfg.ingest_catalog or str(catalog_dir)
        for name in sections:
            started = time.perf_counter()
            log.info("bench section %s", name)
            if name == "search":
                results[name] = search.run(embedder, cfg.search_points, cfg.reps, qps_rounds=cfg.section_reps * 2,
                                           seed=cfg.seed)
            elif name == "hybrid":
                results[name] = hybrid.run(embedder, cfg.hybrid_point_list, cfg.reps, seed=cfg.seed)
            elif name == "store":
                results[name] = store.run(cfg.store_size_list, cfg.store_dim or embedder.dim, cfg.reps,
                                          None if cfg.quantization == "none" else cfg.quantization,
                                          local_points=min(cfg.store_size_list), local_reps=cfg.local_reps, seed=cfg.seed)
            elif name == "ingest":
                results[name] = ingest.run(embedder, model_dir, ingest_catalog, cfg.bench_products, cfg.ingest_batch_size,
                                           cfg.num_workers, cfg.section_reps, device=cfg.device)
            elif name in ("ingest_words", "ingest_tags"):
                pair = ingest_words if name == "ingest_words" else ingest_tags
                results[name] = pair.run(model_dir, ingest_catalog, cfg.bench_products, cfg.ingest_batch_size,
                                         cfg.num_workers, cfg.section_reps, device=cfg.device)
            elif name == "train":
                results[name] = train.run(model_dir, str(catalog_dir), cfg.batch_size, cfg.section_reps, cfg.train_steps,
                                          image_cache=cfg.train_image_cache)
            elif name == "serve":
                results[name] = serve.run(embedder, model_dir, cfg.search_points, cfg.serve_seconds,
                                          clients=[int(c) for c in cfg.serve_clients.split(",")],
                                          store_location=cfg.serve_store, collection=cfg.serve_collection,
                                          seed=cfg.seed, page=cfg.serve_page == "on")
            elif name == "text_encoder":  # on the CPU whatever --device says: the serving case
                cpu = embedder if embedder.device.type == "cpu" else Embedder(*load_clip(model_dir), device="cpu")
                results[name] = text_encoder.run(cpu.model, cpu.processor, model_dir, tmp / "onnx", cfg.reps)
            timings[name] = round(time.perf_counter() - started, 1)
        from fashion_search.bench.report import summary_rows

        return {"config": asdict(cfg), "environment": environment(embedder.device),
                "model": {"name": model_dir, "source": source, "dim": embedder.dim},
                "sections": results, "section_seconds": timings, "summary": summary_rows(results)}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = parse_args(argv)
    from fashion_search.bench.report import target_rows, write_reports

    runs = {}
    for arch in cfg.arch_list:
        log.info("bench run %s (%d of %d)", arch, len(runs) + 1, len(cfg.arch_list))
        runs[arch] = run(cfg.for_arch(arch))
    json_path, md_path = write_reports({"runs": runs, "targets": target_rows(runs)}, cfg.out_dir)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    return 0
