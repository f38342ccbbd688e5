"""One small, real search setup for the search, AppTest and browser tests.

    demo = build_demo(tmp_path_factory)        # synthetic catalog + tiny CLIP + ingested Edge store
    store_dir = demo.store_copy(tmp_path)      # each consumer gets its own copy of the store

Built once per pytest session (a few seconds): a synthetic Kaggle-layout catalog, the tiny CLIP
from tests/tiny_model.py, and the real ingest job writing an Edge store. Each consumer opens a copy
because an Edge shard may only be open once (per process and across processes).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tiny_model import build_tiny_clip

from fashion_search.catalog.synthetic.generate import write_synthetic_catalog
from fashion_search.ingest import main as ingest_main

N_PRODUCTS = 240
COLLECTION = "products"


@dataclass(frozen=True)
class Demo:
    catalog: Path
    model: Path
    store: Path  # the pristine store: copy it with store_copy(), never open it directly

    def store_copy(self, where: Path) -> Path:
        target = Path(where) / "store"
        shutil.copytree(self.store, target)
        return target


_BUILT: dict[Path, Demo] = {}


def build_demo(tmp_path_factory) -> Demo:
    """The session's demo setup, built on first use under the session's base temp dir."""
    base = tmp_path_factory.getbasetemp()
    if base not in _BUILT:
        root = base / "ui_demo"
        catalog = write_synthetic_catalog(root / "catalog", n=N_PRODUCTS, seed=7)
        model = build_tiny_clip(root / "model")
        store = root / "store"
        ingest_main(["--catalog", str(catalog), "--model", str(model), "--store", str(store),
                     "--collection", COLLECTION, "--batch-size", "64", "--num-workers", "0",
                     "--report", str(root / "ingest_report.json")])
        _BUILT[base] = Demo(catalog=Path(catalog), model=Path(model), store=store)
    return _BUILT[base]
