"""Synthetic store contents for the store and search benchmarks: fast, deterministic, realistic enough.

Payloads come from fashion_search.catalog.synthetic.generate (the real catalog's field distributions). Vectors are
clustered the way CLIP embeddings of a catalog are: a direction per articleType, per colour and per
gender plus noise, so vectors correlate with the filter fields. Uniform random vectors would make
HNSW look worse than it is, and filtered search unrealistically easy or hard.

Generation is numpy per chunk, so 1M x 512 never sits in memory at once.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterator

import numpy as np
from tqdm.auto import tqdm

from fashion_search.catalog.synthetic.generate import iter_synthetic_products
from fashion_search.store import Filters, open_store

log = logging.getLogger(__name__)

# Distinct metadata drawn with synthetic.py; bigger stores reuse them (ids and vectors stay distinct).
PAYLOAD_POOL = 20_000
PAYLOAD_FIELDS = ("gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage", "year")
# Weights of each field's direction in a product vector, and of the per-product noise.
CLUSTER_WEIGHTS = {"articleType": 1.0, "baseColour": 0.7, "gender": 0.3}
NOISE = 0.6
UPSERT_CHUNK = 4096


def payload_pool(n: int, seed: int) -> list[dict]:
    # With the product name, as ingest writes it: the store then holds the words' sparse vectors too.
    return [{**{f: meta[f] for f in PAYLOAD_FIELDS}, "name": meta["productDisplayName"]}
            for meta in iter_synthetic_products(min(n, PAYLOAD_POOL), seed)]


class PointGenerator:
    """Deterministic (id, vector, payload) chunks for a store of n points of width dim."""

    def __init__(self, n: int, dim: int, seed: int = 0):
        if n < 1 or dim < 2:
            raise ValueError(f"need n >= 1 points of dim >= 2, got n={n}, dim={dim}")
        self.n, self.dim, self.seed = n, dim, seed
        self.pool = payload_pool(n, seed)
        self._directions: dict[tuple[str, str], np.ndarray] = {}

    def direction(self, field: str, value) -> np.ndarray:
        """A fixed random unit vector per (field, value), the same in every run."""
        key = (field, str(value))
        if key not in self._directions:
            rng = np.random.default_rng([self.seed, zlib.crc32(f"{field}={value}".encode())])
            v = rng.standard_normal(self.dim).astype(np.float32)
            self._directions[key] = v / np.linalg.norm(v)
        return self._directions[key]

    def vectors_for(self, payloads: list[dict], rng: np.random.Generator) -> np.ndarray:
        """(B, dim) float32 unit vectors clustered by the payloads' fields."""
        out = rng.standard_normal((len(payloads), self.dim), dtype=np.float32) * np.float32(NOISE / np.sqrt(self.dim))
        for field, weight in CLUSTER_WEIGHTS.items():
            out += weight * np.stack([self.direction(field, p[field]) for p in payloads])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32, copy=False)

    def payload_indices(self, start: int, stop: int) -> np.ndarray:
        if self.n <= len(self.pool):
            return np.arange(start, stop)
        rng = np.random.default_rng([self.seed, start, 1])
        return rng.integers(0, len(self.pool), stop - start)

    def chunks(self, chunk: int = UPSERT_CHUNK) -> Iterator[tuple[list[int], np.ndarray, list[dict]]]:
        for start in range(0, self.n, chunk):
            stop = min(start + chunk, self.n)
            payloads = [self.pool[i] for i in self.payload_indices(start, stop)]
            rng = np.random.default_rng([self.seed, start, 2])
            yield list(range(start + 1, stop + 1)), self.vectors_for(payloads, rng), payloads

    def queries(self, count: int, seed: int = 1, with_boost: bool = False) -> list[tuple]:
        """Query vectors near a product's cluster, with the filter a shopper would add for it
        (gender + articleType of that product), so every filter matches something. with_boost adds a
        third item, [("baseColour", its colour)]: the value a typed "men black casual shoes" names
        beyond those filters, as the search page boosts it."""
        rng = np.random.default_rng([self.seed, seed, 3])
        chosen = [self.pool[i] for i in rng.integers(0, len(self.pool), count)]
        vectors = self.vectors_for(chosen, rng)
        out = []
        for v, p in zip(vectors, chosen):
            query = (v, Filters({"gender": [p["gender"]], "articleType": [p["articleType"]]}))
            out.append(query + ([("baseColour", p["baseColour"])],) if with_boost else query)
        return out


def build_store(location: str, generator: PointGenerator, collection: str = "bench", **store_kw):
    """A store filled with the generator's points and optimized; returns (store, seconds to build)."""
    started = time.perf_counter()
    store = open_store(location, collection=collection, **store_kw)
    store.ensure_collection(generator.dim, recreate=True)
    total = -(-generator.n // UPSERT_CHUNK)
    for ids, vectors, payloads in tqdm(generator.chunks(), total=total, desc=f"fill {generator.n} points"):
        store.upsert(ids, vectors, payloads)
    upserted = time.perf_counter()
    store.optimize()
    done = time.perf_counter()
    log.info("store %s: %d points upserted in %.1fs, optimized in %.1fs", location, generator.n,
             upserted - started, done - upserted)
    return store, {"upsert_s": upserted - started, "optimize_s": done - upserted}
