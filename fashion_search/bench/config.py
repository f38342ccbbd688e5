"""The bench's one config: sections, architectures and size knobs, validated up front.

Size knobs left unset take full or --quick defaults (SIZE_DEFAULTS), per architecture: ViT-B/32 on a
CPU gets smaller sample counts (FULL_SIZE_CPU_DEFAULTS), and BenchConfig.for_arch re-resolves them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from fashion_search.cli import option, parse_dataclass

DESCRIPTION = "Benchmarks: every figure a ratio or a pair measured side by side in one run."
SECTIONS = ("search", "hybrid", "store", "ingest", "ingest_words", "ingest_tags", "train", "serve", "text_encoder")
DEFAULT_TRAINED_MODEL = Path("runs/small/best")
ARCHS = ("model", "vit-b32")
CATALOG_PRODUCTS = 41_154  # the real catalog's size: the search store and the smaller Edge stores hold this many
# (full, quick) defaults of the size knobs left unset on the command line
SIZE_DEFAULTS = {
    "store_sizes": (f"{CATALOG_PRODUCTS},1000000", "2000"),
    "hybrid_points": (f"{CATALOG_PRODUCTS},1000000", "2000"),
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
    hybrid_points: str | None = option(None, "Hybrid section: Edge store sizes, comma-separated, each timed with the "
                                             "page's hybrid and the image-only query (default 41154,1000000; quick "
                                             "2000). The stores live in the temp dir (TMPDIR) until the section ends.")
    reps: int | None = option(None, "Queries per latency figure (default 300; quick 20).")
    local_reps: int | None = option(None, "Queries for Edge vs local mode (slow; default 10; quick 3).")
    bench_products: int | None = option(None, "Synthetic catalog size for ingest/train, and the images the ingest "
                                              "sections embed (default 2048; quick 32).")
    ingest_catalog: str | None = option(None, "Catalog the ingest, ingest_words and ingest_tags sections read (Kaggle "
                                              "dir or parquet; default: the synthetic bench catalog), --bench-products "
                                              "of it.")
    batch_size: int | None = option(None, "Train-section batch size (default 32; quick 8; vit-b32 on a CPU 8).")
    ingest_batch_size: int | None = option(None, "Ingest-section batch size (default 64, the ingest job's; quick 8).")
    section_reps: int | None = option(None, "Interleaved repetitions of the ingest/ingest_words/ingest_tags/train "
                                            "pairs (default 5; quick 2; vit-b32 on a CPU 2).")
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
        for name in ("store_sizes", "hybrid_points"):
            _check_sizes(name, getattr(self, name))
        if self.ingest_catalog is not None and not Path(self.ingest_catalog).exists():
            raise ValueError(f"--ingest-catalog {self.ingest_catalog} does not exist")
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
    def hybrid_point_list(self) -> list[int]:
        return [int(s) for s in self.hybrid_points.split(",")]

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


def _check_sizes(name: str, value: str) -> None:
    flag = "--" + name.replace("_", "-")
    try:
        sizes = [int(s) for s in value.split(",")]
    except ValueError:
        raise ValueError(f"{flag} {value!r} must be integers, e.g. 41154,1000000") from None
    if not sizes or min(sizes) < 10 or len(set(sizes)) != len(sizes):
        raise ValueError(f"{flag} {value!r}: give distinct sizes >= 10")


def parse_args(argv=None) -> BenchConfig:
    return parse_dataclass(BenchConfig, argv, prog="python -m fashion_search.bench", description=DESCRIPTION)
