"""Measure store latency at catalog scale: Qdrant Edge after optimize vs qdrant-client local mode.

    nice .venv/bin/python experiments/store_probe.py --n 41154 --dim 512 --queries 200

Vectors are a random gaussian mixture (clustered like embeddings); payloads are the real catalog's
metadata when ../shared/data is present (so filter selectivities are real), else drawn at random.
Prints one JSON line per backend with upsert/optimize seconds, p50/p95 query ms, recall@10 vs exact.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashion_search.store import Filters, open_store

log = logging.getLogger("store_probe")
REPO = Path(__file__).resolve().parents[1]
PARQUET_DIR = REPO.parent / "shared" / "data" / "fashion-product-images-small" / "data"
FIELDS = ["gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage", "year"]
BACKENDS = {"edge": {}, "edge-int8": {"quantization": "int8"}, "edge-noacorn": {"acorn": False}, "local": {}}
PROBE_FILTERS = {
    "none": Filters(),
    "women_apparel": Filters({"gender": ["Women"], "masterCategory": ["Apparel"]}),
    "tshirts_or_shirts_blue": Filters({"articleType": ["Tshirts", "Shirts"], "baseColour": ["Blue"]}),
    "footwear_2012_2014": Filters({"masterCategory": ["Footwear"]}, year_min=2012, year_max=2014),
}


@dataclass
class ProbeConfig:
    n: int = field(default=41154, metadata={"help": "number of products"})
    dim: int = field(default=512, metadata={"help": "vector size"})
    queries: int = field(default=200, metadata={"help": "queries per filter on Edge"})
    local_queries: int = field(default=20, metadata={"help": "queries per filter in local mode (brute force)"})
    backends: str = field(default="edge,edge-int8,local", metadata={"help": f"comma list of {', '.join(BACKENDS)}"})
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n < 100 or self.dim < 2 or self.queries < 1 or self.local_queries < 1:
            raise SystemExit("--n >= 100, --dim >= 2, --queries >= 1 and --local-queries >= 1 please")
        unknown = set(self.backends.split(",")) - set(BACKENDS)
        if unknown:
            raise SystemExit(f"unknown backend(s) {sorted(unknown)}; choose from {', '.join(BACKENDS)}")


def parse_args(argv=None) -> ProbeConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, spec in ProbeConfig.__dataclass_fields__.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(spec.default), default=spec.default,
                            help=spec.metadata.get("help"))
    return ProbeConfig(**vars(parser.parse_args(argv)))


def load_payloads(n: int, rng: np.random.Generator) -> list[dict]:
    files = sorted(PARQUET_DIR.glob("*.parquet"))
    if files:
        import pyarrow.parquet as pq

        table = pq.read_table(files[0], columns=FIELDS).slice(0, n).to_pylist()
        rows = [{k: (int(v) if k == "year" and v is not None else v) for k, v in r.items()} for r in table]
        if len(rows) == n:
            log.info("payloads: real catalog metadata from %s", files[0])
            return rows
    log.info("payloads: random (real catalog not found at %s)", PARQUET_DIR)
    return [{"gender": str(rng.choice(["Men", "Women", "Boys", "Girls"])),
             "masterCategory": str(rng.choice(["Apparel", "Accessories", "Footwear"])),
             "articleType": str(rng.choice(["Tshirts", "Shirts", "Watches", "Casual Shoes"])),
             "baseColour": str(rng.choice(["Blue", "Black", "White"])), "year": int(rng.integers(2008, 2018))}
            for _ in range(n)]


def mixture(n: int, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    picks = centres[rng.integers(0, len(centres), n)]
    return (picks + 0.7 * rng.normal(size=picks.shape)).astype(np.float32)


def probe(backend: str, cfg: ProbeConfig, vectors, payloads, queries, root: Path) -> dict:
    store = open_store(":memory:" if backend == "local" else root / backend, "probe", **BACKENDS[backend])
    store.ensure_collection(cfg.dim, {"name": "probe", "weights_hash": "random"})
    started = time.perf_counter()
    store.upsert(np.arange(cfg.n), vectors, payloads)
    upsert_s = time.perf_counter() - started
    started = time.perf_counter()
    store.optimize()
    optimize_s = time.perf_counter() - started
    result = {"backend": backend, "n": cfg.n, "dim": cfg.dim, "upsert_s": round(upsert_s, 2),
              "optimize_s": round(optimize_s, 2)}
    n_queries = cfg.local_queries if backend == "local" else cfg.queries
    for label, f in PROBE_FILTERS.items():
        latencies, recalls = [], []
        for q in queries[:n_queries]:
            started = time.perf_counter()
            hits = store.search(q, f, limit=10)
            latencies.append((time.perf_counter() - started) * 1000)
            if backend != "local":          # local mode is exact already
                exact = {h.id for h in store.search(q, f, limit=10, exact=True)}
                recalls.append(len({h.id for h in hits} & exact) / max(1, len(exact)))
        result[label] = {"matches": store.count(f), "p50_ms": round(float(np.percentile(latencies, 50)), 2),
                         "p95_ms": round(float(np.percentile(latencies, 95)), 2),
                         "recall@10": round(float(np.mean(recalls)), 4) if recalls else 1.0}
    store.close()
    return result


def main(argv=None) -> list[dict]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = parse_args(argv)
    rng = np.random.default_rng(cfg.seed)
    payloads = load_payloads(cfg.n, rng)
    centres = rng.normal(size=(200, cfg.dim))       # queries come from the same clusters as the data
    vectors = mixture(cfg.n, centres, rng)
    queries = mixture(max(cfg.queries, cfg.local_queries), centres, rng)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in cfg.backends.split(","):
            log.info("probing %s", backend)
            results.append(probe(backend, cfg, vectors, payloads, queries, Path(tmp)))
            print(json.dumps(results[-1]), flush=True)
    return results


if __name__ == "__main__":
    main()
