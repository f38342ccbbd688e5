"""`make demo`: catalog -> train the small preset -> ingest into Qdrant Edge -> example queries -> the page.

Works from a fresh clone with no GPU and no internet (the catalog resolver falls back to the synthetic
catalog and says so). Each stage is the real job run as a subprocess (its own progress bars), and
each is resumable, so a second `make demo` reuses the trained model and the filled store:

    python -m fashion_search.demo [--data PATH] [--store .qdrant] [--run-dir runs/demo] [--no-ui]
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fashion_search.catalog.datasets import REPO_ROOT, DatasetError, resolve_catalog
from fashion_search.cli import option, parse_dataclass
from fashion_search.store.boost import by_field

log = logging.getLogger("demo")

# The three queries this product is known for (catalog values named) and two descriptive ones (a detail
# only the photo or the product's name shows), printed with their top results before the page starts.
EXAMPLE_QUERIES = ("red summer dress", "blue denim jeans", "men formal black shoes", "striped t-shirt",
                   "digital watch")
# The demo recipe: the small preset's defaults (batch 256, lr 1e-3, warmup + cosine) over 5 epochs,
# which a 2-core CPU trains in about 6 minutes on the 41k-product catalog (3 epochs: 3.5 min).
DEMO_TRAIN_ARGS = ("--epochs", "5", "--max-val-products", "1000")


@dataclass
class DemoConfig:
    data: str | None = option(None, "catalog path (default: downloaded/shared real catalog, else the synthetic one)")
    store: str = option(".qdrant", "Qdrant Edge directory (or http(s):// URL of a server)")
    collection: str = option("products", "collection name")
    run_dir: str = option("runs/demo", "training run directory (reused when it already holds a trained model)")
    retrain: bool = option(False, "train again even if RUN_DIR/best exists")
    synthetic_n: int = option(10_000, "size of the synthetic catalog when no real one is available")
    port: int = option(8501, "port of the search page")
    no_ui: bool = option(False, "stop after the example queries instead of starting the page")
    train_args: str = option("", "extra flags for train/train.py, e.g. '--epochs 2'")

    def __post_init__(self) -> None:
        if self.synthetic_n < 100:
            raise ValueError("--synthetic-n must be >= 100: fewer products cannot train a model")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"--port {self.port} is not a TCP port")


def parse_config(argv=None) -> DemoConfig:
    return parse_dataclass(DemoConfig, argv, prog="python -m fashion_search.demo", description=__doc__.split("\n")[0])


def _run(step: str, argv: list[str]) -> None:
    """Run one job as a child process; its progress bars go straight to the terminal."""
    log.info("== %s: %s", step, " ".join(argv))
    started = time.perf_counter()
    code = subprocess.call(argv, cwd=REPO_ROOT)
    if code != 0:
        raise SystemExit(f"demo stopped: the {step} step failed (exit {code}); its error is printed above. "
                         "Fix it and run `make demo` again: finished steps are not redone.")
    log.info("== %s done in %.0f s", step, time.perf_counter() - started)


def train(config: DemoConfig, catalog: Path) -> tuple[Path, bool]:
    """The trained model dir, and whether it was (re)trained now."""
    model_dir = Path(config.run_dir) / "best"
    if (model_dir / "config.json").is_file() and not config.retrain:
        log.info("using the model trained earlier in %s (pass --retrain to train again)", model_dir)
        return model_dir, False
    argv = [sys.executable, "train/train.py", "--model", "small", "--catalog", str(catalog),
            "--output-dir", config.run_dir, *DEMO_TRAIN_ARGS, *config.train_args.split()]
    if (Path(config.run_dir) / "checkpoints").is_dir() and not config.retrain:
        argv += ["--resume", "latest"]  # an interrupted demo picks up where it stopped
    _run("train", argv)
    return model_dir, True


def ingest(config: DemoConfig, catalog: Path, model_dir: Path, new_model: bool) -> None:
    # A model trained just now makes any stored vectors stale; otherwise a rerun only adds what is missing.
    _run("ingest", [sys.executable, "ingest/ingest.py", "--model", str(model_dir), "--catalog", str(catalog),
                    "--store", config.store, "--collection", config.collection, *(["--recreate"] if new_model else [])])


def training_summary(run_dir: Path) -> str:
    report = run_dir / "report.json"
    if not report.is_file():
        return f"(no training report in {run_dir})"
    history = json.loads(report.read_text())
    rows = history if isinstance(history, list) else history.get("history", [])
    if not rows:
        return "(empty training report)"
    first, last = rows[0], rows[-1]
    keys = ("t2i/R@1", "t2i/R@10", "t2i/MRR", "P@10/articleType", "P@10/baseColour")
    lines = [f"retrieval on {run_dir}'s val split (zero-shot epoch 0 -> epoch {last.get('epoch')}):"]
    lines += [f"  {k:18s} {first.get(k, float('nan')):.3f} -> {last.get(k, float('nan')):.3f}" for k in keys]
    return "\n".join(lines)


def example_queries(config: DemoConfig, model_dir: Path, queries=EXAMPLE_QUERIES, top: int = 5) -> str:
    from fashion_search.model.clip import load_clip
    from fashion_search.model.embed import Embedder
    from fashion_search.query.search import Searcher
    from fashion_search.store import open_store

    model, processor = load_clip(str(model_dir))
    lines = []
    # The page opens the Edge shard itself: close it here first (one process at a time).
    with open_store(config.store, collection=config.collection) as store:
        searcher = Searcher(Embedder(model, processor), store)
        for query in queries:
            # As the page ranks it by default (query/ranking.py): the values the words name first (and
            # offered as filters), then the photo and the words in product names together.
            result = searcher.text(query, limit=top)
            lines.append(f'"{query}"  ({result.encode_ms:.1f} ms encode, {result.search_ms:.1f} ms search)')
            if result.boosted:
                matching = ", ".join(f"{f}={' or '.join(vs)}" for f, vs in by_field(result.boosted))
                lines.append("   first: products matching " + matching
                             + " (the page also offers them as one-click filters)")
            if result.note:
                lines.append(f"   note: {result.note}")
            lines += [f"   {p.score:.3f}  {p.title}  [{p.articleType}, {p.baseColour}, {p.gender}]"
                      + (f"  words: {', '.join(p.matched_words)}" if p.matched_words else "")
                      + (f"  photo: {', '.join(p.photo_words)}" if p.photo_words else "")
                      for p in result.products]
    return "\n".join(lines)


def start_ui(config: DemoConfig, catalog: Path) -> None:
    url = f"http://localhost:{config.port}"
    print(f"\nSearch page: {url}   (Ctrl+C to stop)\n", flush=True)
    env = {**os.environ, "QDRANT_PATH": config.store, "QDRANT_COLLECTION": config.collection}
    argv = [sys.executable, "-m", "streamlit", "run", "search_ui/app.py", "--server.address", "localhost",
            "--server.port", str(config.port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "viewer", "--client.showErrorDetails", "none", "--", "--catalog", str(catalog)]
    os.chdir(REPO_ROOT)
    os.execve(sys.executable, argv, env)


def main(argv=None) -> int:
    config = parse_config(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s demo: %(message)s", stream=sys.stderr)
    started = time.perf_counter()
    try:
        resolved = resolve_catalog(config.data, config.synthetic_n)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("%s", resolved.describe())
    model_dir, new_model = train(config, resolved.path)
    ingest(config, resolved.path, model_dir, new_model)
    print("\n" + training_summary(Path(config.run_dir)))
    print("\nExample queries (top 5):\n" + example_queries(config, model_dir), flush=True)
    log.info("demo ready in %.1f min", (time.perf_counter() - started) / 60)
    if not config.no_ui:
        start_ui(config, resolved.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
