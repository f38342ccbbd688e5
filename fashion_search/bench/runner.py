"""`python -m fashion_search.bench`: config, model, benchmark catalog, sections, reports.

1. Parse and validate the config (sizes default to full or --quick values).
2. Write a small synthetic catalog (ingest and train read real image files from it).
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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from fashion_search.cli import option, parse_dataclass

log = logging.getLogger(__name__)

SECTIONS = ("search", "store", "ingest", "train", "serve", "text_encoder")
DEFAULT_TRAINED_MODEL = Path("runs/small/best")
ARCHS = ("model", "vit-b32")
CATALOG_PRODUCTS = 41_154  # the real catalog's size: the search store and the smaller Edge store hold this many
# (full, quick) defaults of the size knobs left unset on the command line
SIZE_DEFAULTS = {
    "store_sizes": (f"{CATALOG_PRODUCTS},1000000", "2000"),
    "search_points": (CATALOG_PRODUCTS, 2000),
    "reps": (300, 20),
    "local_reps": (10, 3),
    "bench_products": (2048, 32),
    "batch_size": (32, 8),
    "ingest_batch_size": (64, 8),
    "section_reps": (5, 2),
    # 16 steps of 32 a pass: with 8 x 3 the trainer/fwd+bwd ratio of one model moved 0.81-0.89 between
    # runs on a slow host (each batch's captions set its text length); 16 x 5 gave 1.006.
    "train_steps": (16, 4),
    "serve_seconds": (10.0, 1.5),
}
# vit-b32 on a CPU: ~15x the small preset's compute per query and ~100x per image, so fewer samples
# (the full-size defaults would take over an hour here). Explicit flags still win.
FULL_SIZE_CPU_DEFAULTS = {"reps": 100, "bench_products": 512, "section_reps": 2, "train_steps": 12, "batch_size": 8}


@dataclass
class BenchConfig:
    model: str | None = option(None, f"CLIP dir to time (default: {DEFAULT_TRAINED_MODEL} if trained, else the small "
                                   "preset built untrained).")
    quick: bool = option(False, "Small sizes for CI/tests: 2k vectors, no 1M store, a few reps.")
    sections: str = option(",".join(SECTIONS), "Comma-separated subset of " + ",".join(SECTIONS) + ".")
    archs: str | None = option(None, "Comma-separated models to run every section for: model (--model, else "
                                     f"{DEFAULT_TRAINED_MODEL}, else the small preset untrained) and vit-b32 (the "
                                     "product's default architecture, randomly initialised; bf16 on CUDA). "
                                     "Default model,vit-b32; quick: model.")
    out_dir: str = option("reports", "Where bench.json and bench.md go.")
    seed: int = option(0, "Seed of the synthetic catalog, vectors and queries.")
    device: str | None = option(None, "Torch device for the model (default cuda if available, else cpu).")
    store_sizes: str | None = option(None, "Edge store sizes, comma-separated (default 41154,1000000; quick 2000).")
    store_dim: int | None = option(None, "Vector width in the store section (default: the model's, e.g. 128 for the "
                                       "small preset, 512 for ViT-B/32).")
    quantization: str = option("int8", "Store-section quantization: int8 (default: 1M x 512 float32 is 2 GB, int8 "
                                     "keeps a 0.5 GB copy in RAM for the graph walk) or none.", choices=("none", "int8"))
    search_points: int | None = option(None, "Points in the search section's store (default 41154; quick 2000).")
    reps: int | None = option(None, "Queries per latency figure (default 300; quick 20).")
    local_reps: int | None = option(None, "Queries for Edge vs local mode (slow; default 10; quick 3).")
    bench_products: int | None = option(None, "Synthetic catalog size for ingest/train (default 2048; quick 32).")
    batch_size: int | None = option(None, "Train-section batch size (default 32; quick 8; vit-b32 on a CPU 8).")
    ingest_batch_size: int | None = option(None, "Ingest-section batch size (default 64, the ingest job's; quick 8).")
    section_reps: int | None = option(None, "Interleaved repetitions of the ingest/train pairs "
                                                     "(default 5; quick 2; vit-b32 on a CPU 2).")
    train_steps: int | None = option(None, "Steps per timed training epoch (default 16; quick 4; vit-b32 on a CPU 12).")
    torch_threads: int | None = option(None, "torch intra-op threads for the whole run (default: torch's, i.e. the "
                                           "core count). On a busy shared CPU 1 is often several times faster.")
    num_workers: int = option(2, "DataLoader workers in the ingest section (train uses the trainer's default).")
    train_image_cache: str = option("auto", "The trainer's --image-cache in the train section.", choices=("auto", "on", "off"))
    serve_seconds: float | None = option(None, "Serve section: seconds per load level (default 10; quick 1.5).")
    serve_clients: str = option("1,4,16", "Serve section: concurrent API clients per level (4 is the ratio's).")
    serve_store: str | None = option(None, "Serve section, model run: an ingested store (Edge dir or URL) to serve "
                                           "instead of a synthetic one of --search-points, e.g. the real catalog's.")
    serve_collection: str = option("products", "Collection of --serve-store.")
    serve_page: str = option("on", "Serve section: time the search page's GET while the API is loaded.",
                             choices=("on", "off"))

    def __post_init__(self) -> None:
        if self.archs is None:
            self.archs = "model" if self.quick else ",".join(ARCHS)
        archs = [a.strip() for a in self.archs.split(",") if a.strip()]
        if not archs or set(archs) - set(ARCHS) or len(set(archs)) != len(archs):
            raise ValueError(f"--archs {self.archs!r}: choose distinct entries from {','.join(ARCHS)}")
        self.archs = ",".join(archs)
        full_size_on_cpu = archs == ["vit-b32"] and not self.on_cuda
        # The size knobs left unset, so that for_arch can give another architecture its own defaults.
        self._defaulted = {name for name in SIZE_DEFAULTS if getattr(self, name) is None}
        for name in self._defaulted:
            full, quick = SIZE_DEFAULTS[name]
            if self.quick:
                setattr(self, name, quick)
            else:
                setattr(self, name, FULL_SIZE_CPU_DEFAULTS.get(name, full) if full_size_on_cpu else full)
        chosen = [s.strip() for s in self.sections.split(",") if s.strip()]
        unknown = sorted(set(chosen) - set(SECTIONS))
        if unknown or not chosen:
            raise ValueError(f"--sections {self.sections!r}: choose from {','.join(SECTIONS)} (unknown: {unknown})")
        self.sections = ",".join(s for s in SECTIONS if s in chosen)
        try:
            sizes = [int(s) for s in self.store_sizes.split(",")]
        except ValueError:
            raise ValueError(f"--store-sizes {self.store_sizes!r} must be integers, e.g. 41154,1000000") from None
        if not sizes or min(sizes) < 10:
            raise ValueError(f"--store-sizes {self.store_sizes!r}: give sizes >= 10")
        if self.model and "model" not in archs:
            raise ValueError(f"--model is timed by the 'model' entry of --archs; add it (--archs model,{self.archs})")
        if self.device and self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"--device {self.device}: no CUDA device here; drop --device to use the CPU")
        if self.model and not (Path(self.model) / "config.json").is_file():
            raise ValueError(f"--model {self.model} is not a save_pretrained CLIP dir (no config.json)")
        if self.store_dim is not None and self.store_dim < 2:
            raise ValueError(f"--store-dim must be >= 2, got {self.store_dim}")
        for name in ("search_points", "reps", "local_reps", "bench_products", "batch_size", "ingest_batch_size",
                     "section_reps"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        try:
            clients = [int(c) for c in self.serve_clients.split(",")]
        except ValueError:
            raise ValueError(f"--serve-clients {self.serve_clients!r} must be integers, e.g. 1,4,16") from None
        if min(clients) < 1 or 4 not in clients:
            raise ValueError(f"--serve-clients {self.serve_clients!r}: positive counts including 4 (the ratio's)")
        if not self.serve_seconds > 0:
            raise ValueError(f"--serve-seconds must be > 0, got {self.serve_seconds}")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError(f"--torch-threads must be >= 1, got {self.torch_threads}")
        if self.num_workers < 0:
            raise ValueError(f"--num-workers must be >= 0, got {self.num_workers}")
        if self.train_steps < 2 or self.bench_products < self.train_steps * self.batch_size:
            raise ValueError(f"--bench-products {self.bench_products} must give --train-steps {self.train_steps} "
                             f"(>= 2) batches of --batch-size {self.batch_size}")

    @property
    def store_size_list(self) -> list[int]:
        return [int(s) for s in self.store_sizes.split(",")]

    @property
    def arch_list(self) -> list[str]:
        return self.archs.split(",")

    @property
    def on_cuda(self) -> bool:
        return self.device.startswith("cuda") if self.device else torch.cuda.is_available()

    def for_arch(self, arch: str) -> BenchConfig:
        """This config for one architecture: the size knobs left unset take that architecture's defaults."""
        return replace(self, archs=arch, model=self.model if arch == "model" else None,
                       serve_store=self.serve_store if arch == "model" else None,
                       **{name: None for name in self._defaulted})


def parse_args(argv=None) -> BenchConfig:
    return parse_dataclass(BenchConfig, argv, prog="python -m fashion_search.bench", description=__doc__.split("\n")[0])


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
    from fashion_search.bench import ingest, search, serve, store, text_encoder, train
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
        for name in sections:
            started = time.perf_counter()
            log.info("bench section %s", name)
            if name == "search":
                results[name] = search.run(embedder, cfg.search_points, cfg.reps, qps_rounds=cfg.section_reps * 2,
                                           seed=cfg.seed)
            elif name == "store":
                results[name] = store.run(cfg.store_size_list, cfg.store_dim or embedder.dim, cfg.reps,
                                          None if cfg.quantization == "none" else cfg.quantization,
                                          local_points=min(cfg.store_size_list), local_reps=cfg.local_reps, seed=cfg.seed)
            elif name == "ingest":
                results[name] = ingest.run(embedder, model_dir, str(catalog_dir), cfg.bench_products, cfg.ingest_batch_size,
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
