"""Retrieval evaluation of any CLIP model directory on any catalog (`make eval`), KAGL-style.

    python -m fashion_search.evaluation --model runs/small/best --data ../shared/data/fashion-product-images-small \
        [--baseline other/model] [--splits runs/small/splits.json]

1. Corpus: the test split (a splits file given, or splits.json found next to the model), else a
   deterministic sample of --max-products products; images decoded once, embedded once per model.
2. Tasks (fashion_search.evaluation.tasks): product name -> image (R@1, R@10, MRR), category value ->
   products (P@1, P@10 per field), compound "men black casual shoes" (P@10).
3. Every task scored (fashion_search.evaluation.scoring) exactly (brute-force numpy, with a 95% bootstrap
   interval) and through a Qdrant Edge store in a temp dir (HNSW, after optimize); category/compound
   also as shorter text + store filters, names also with the filters the search page offers for them.
4. reports/eval.json (one key per task and metric, each with exact/store variants) and eval.md.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from fashion_search.catalog.products import KEYWORD_FIELDS, ImageError, open_catalog
from fashion_search.cli import option, parse_dataclass
from fashion_search.evaluation import page as eval_page
from fashion_search.evaluation import scoring as eval_scoring
from fashion_search.evaluation import shopper as eval_shopper
from fashion_search.evaluation import tasks as eval_tasks
from fashion_search.model.query_encoder import TEXT_ENCODER_HELP, TEXT_ENCODERS

log = logging.getLogger(__name__)

SPLITS_FILE_NAME = "splits.json"
# A splits file found beside the model is used only if the catalog holds this share of its test ids.
MIN_AUTO_SPLIT_COVERAGE = 0.5
SEARCH_LIMIT_PRECISION = max(eval_tasks.PRECISION_KS)


@dataclass
class EvalConfig:
    model: str | None = option(None, "Model to evaluate: a save_pretrained CLIP dir (or a cached hub id).")
    data: str | None = option(None, "Catalog: Kaggle dir (styles.csv + images/) or parquet dir/file.")
    baseline: str | None = option(None, "Second model (e.g. the zero-shot base) evaluated side by side.")
    splits: str = option("auto", "Splits file whose test ids form the corpus; 'auto' looks for splits.json "
                               "beside --model; 'none' always samples.")
    max_products: int = option(2000, "Corpus size cap (deterministic sample of the split or catalog); 0 = all.")
    min_products: int = option(10, "A category value / compound combo becomes a query with at least this many products.")
    seed: int = option(0, "Seed of the corpus sample.")
    out_dir: str = option("reports", "Where eval.json and eval.md go.")
    batch_size: int = option(64, "Embedding batch size.")
    device: str | None = option(None, "Torch device (default cuda if available, else cpu).")
    text_encoder: str = option("torch", TEXT_ENCODER_HELP + " Applies to --model; --baseline is always torch, "
                                        "so --baseline set to the same dir compares the two.", choices=TEXT_ENCODERS)
    no_store: bool = option(False, "Only brute-force scores (skip the Qdrant Edge comparison).")
    store_limit: int = option(100, "Hits fetched per name query from the store; both variants report MRR@this.")
    hnsw_thresholds_kb: int = option(1, "Store indexing/full-scan thresholds in KB; the default 1 makes even "
                                      "a small corpus go through HNSW as a full catalog would; 0 = Qdrant's defaults.")
    no_page: bool = option(False, "Skip the ranking forms (every query set as the page ranks it, evaluation/page.py).")
    hide_names: bool = option(False, "Also rank the descriptive sets on a store without product names (image "
                                     "vectors only), judged with the names.")
    tagger: str | None = option(None, "Photo tagger directory (make tagger): store every product's photo tags as "
                                      "ingest --tagger does (both stores, so also with --hide-names).")
    page_min_relevant: int = option(5, "A descriptive / shopper query is scored when at least this many products are relevant.")

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("--model is required: a trained model dir (e.g. runs/small/best) or a local CLIP copy")
        if not self.data:
            raise ValueError("--data is required: e.g. --data ../shared/data/fashion-product-images-small")
        if not Path(self.data).exists():
            raise ValueError(f"--data {self.data} does not exist; point it at a Kaggle dir or parquet dir/file")
        if self.tagger is not None and not Path(self.tagger).is_dir():
            raise ValueError(f"--tagger {self.tagger} is not a directory: train one with `make tagger` or drop it")
        if self.tagger is not None:
            from fashion_search.tagging import PhotoTagger

            PhotoTagger.load(self.tagger)  # a broken tagger fails here (TaggerLoadError), not after the embedding
        if self.splits not in ("auto", "none") and not Path(self.splits).is_file():
            raise ValueError(f"--splits {self.splits} is not a file; pass a splits.json, 'auto' or 'none'")
        for name in ("batch_size", "min_products", "store_limit", "page_min_relevant"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.max_products < 0 or self.hnsw_thresholds_kb < 0:
            raise ValueError("--max-products and --hnsw-thresholds-kb must be >= 0 (0 = no cap / Qdrant defaults)")
        if self.text_encoder != "torch":
            from fashion_search.model.onnx_text import OnnxExportError, read_manifest

            try:
                read_manifest(self.model)  # a missing export fails now, before any image is decoded
            except OnnxExportError as err:
                raise ValueError(str(err)) from err


def parse_args(argv=None) -> EvalConfig:
    return parse_dataclass(EvalConfig, argv, prog="python -m fashion_search.evaluation", description=__doc__.split("\n")[0])


# ---- 1. corpus ------------------------------------------------------------------------------------


def find_splits_file(cfg: EvalConfig) -> Path | None:
    if cfg.splits == "none":
        return None
    if cfg.splits != "auto":
        return Path(cfg.splits)
    model_dir = Path(cfg.model)
    for candidate in (model_dir / SPLITS_FILE_NAME, model_dir.parent / SPLITS_FILE_NAME):
        if candidate.is_file():
            return candidate
    return None


def select_corpus(products: list, cfg: EvalConfig) -> tuple[list, dict]:
    """The products to evaluate on, in id order, and how they were chosen."""
    info: dict = {"catalog_products": len(products)}
    splits_path = find_splits_file(cfg)
    if splits_path is not None:
        from fashion_search.catalog.splits import load_splits

        test_ids = set(load_splits(splits_path)["test"])
        chosen = [p for p in products if p.id in test_ids]
        info.update(splits_file=str(splits_path), split_test_ids=len(test_ids),
                    split_ids_not_in_catalog=len(test_ids) - len(chosen))
        coverage = len(chosen) / max(1, len(test_ids))
        if cfg.splits == "auto" and coverage < MIN_AUTO_SPLIT_COVERAGE:
            # The model's splits describe another catalog; ids shared by accident would make a
            # small arbitrary corpus, so a catalog the model never saw gets the sample instead.
            log.warning("%s: only %d of its %d test ids are in %s (another catalog): sampling instead",
                        splits_path, len(chosen), len(test_ids), cfg.data)
            info["splits_ignored"] = "test ids mostly absent from this catalog"
        elif not chosen:
            raise ValueError(f"--splits {splits_path}: none of its {len(test_ids)} test ids is in {cfg.data}")
        else:
            info["source"] = "test split"
            products = chosen
    info.setdefault("source", "sample")
    products = sorted(products, key=lambda p: p.id)
    if cfg.max_products and len(products) > cfg.max_products:
        products = sorted(random.Random(cfg.seed).sample(products, cfg.max_products), key=lambda p: p.id)
        info["sampled_to"] = cfg.max_products
    return products, info


def load_corpus_images(catalog, products: list) -> tuple[list, list, int]:
    """Decode every image once; unreadable ones are logged, counted and their product dropped."""
    kept, images, skipped = [], [], 0
    for product in tqdm(products, desc="decode images"):
        try:
            images.append(catalog.load_image(product))
        except ImageError as err:
            skipped += 1
            log.warning("product %s skipped: %s", product.id, err)
            continue
        kept.append(product)
    return kept, images, skipped


# ---- 2-3. embed and score -------------------------------------------------------------------------


def payload_of(product) -> dict:
    return {**{f: getattr(product, f) for f in KEYWORD_FIELDS}, "year": product.year, "name": product.name}


class _TextCache:
    """Encodes each distinct query text once per model (compound filtered texts repeat a lot)."""

    def __init__(self, embedder):
        self.embedder, self.vectors = embedder, {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if missing:
            self.vectors.update(zip(missing, self.embedder.encode_texts(missing)))
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, self.embedder.dim), np.float32)


def _store_hits(store, query_vectors: np.ndarray, queries, form: str, limit: int, exact: bool) -> list:
    """form: "text" (no filters), "filters" (query.filters as store filters), "boost" (as boosts)."""
    from fashion_search.store.base import Filters

    hits = []
    for vector, query in zip(query_vectors, queries):
        if form == "boost":
            hits.append(store.search(vector, limit=limit, exact=exact, boost=eval_scoring.boost_pairs(query)))
            continue
        filters = (Filters({k: v if isinstance(v, list) else [v] for k, v in query.filters.items()})
                   if form == "filters" else None)
        hits.append(store.search(vector, filters=filters, limit=limit, exact=exact))
    return hits


def _fill_store(store, products: list, image_emb: np.ndarray, hide_names: bool = False,
                photo_tags: list[dict] | None = None) -> None:
    """photo_tags: per product, the payload field ingest --tagger writes ({} for none)."""
    ids = [p.id for p in products]
    for start in range(0, len(ids), 512):
        part = slice(start, start + 512)
        payloads = [payload_of(p) for p in products[part]]
        if hide_names:
            payloads = [{k: v for k, v in payload.items() if k != "name"} for payload in payloads]
        if photo_tags is not None:
            payloads = [{**payload, **tags} for payload, tags in zip(payloads, photo_tags[part])]
        store.upsert(ids[part], image_emb[part], payloads)
    store.optimize()


def _photo_tags(tagger_dir: str, images: list) -> list[dict]:
    from fashion_search.tagging import PhotoTagger
    from fashion_search.tagging.network import photo_pixels

    return PhotoTagger.load(tagger_dir).payload_fields(np.stack([photo_pixels(image) for image in images]))


def _open_eval_store(tmp_dir: str, dim: int, cfg: EvalConfig, collection: str = "eval"):
    from fashion_search.store import open_store

    index_kw = {}
    if cfg.hnsw_thresholds_kb:
        index_kw = dict(indexing_threshold_kb=cfg.hnsw_thresholds_kb, full_scan_threshold_kb=cfg.hnsw_thresholds_kb)
    store = open_store(tmp_dir, collection=collection, **index_kw)
    store.ensure_collection(dim)
    return store


def evaluate_embedder(embedder, products: list, images: list, tasks: list, cfg: EvalConfig, store_exact: bool = False) -> dict:
    """{"metrics": {"<task>/<metric>": {"exact", "store", "store_minus_exact"}}, "per_value": {...}}.

    `embedder` needs dim, encode_texts and encode_images (tests pass hand-made ones).
    store_exact: search the store without HNSW (must then equal brute force).
    """
    image_emb = embedder.encode_images(images, progress=True)  # (N, D), the one pass over the images
    photo_tags = _photo_tags(cfg.tagger, images) if cfg.tagger else None
    encode = _TextCache(embedder)
    store, hidden, tmp = None, None, tempfile.TemporaryDirectory(prefix="fashion-eval-store-")
    results: dict = {"metrics": {}, "per_value": {}}
    try:
        if not cfg.no_store:
            store = _open_eval_store(tmp.name, image_emb.shape[1], cfg)
            _fill_store(store, products, image_emb, photo_tags=photo_tags)
        for task in tqdm(tasks, desc="tasks"):
            label_of = dict(zip((p.id for p in products), task.doc_labels))
            forms = [(task.name, "text")]
            if task.has_filtered:
                forms.append((f"{task.name}+filters", "filters"))
                if task.kind == "rank":  # the name task: its offers also as the page's default boosts
                    forms.append((f"{task.name}+boost", "boost"))
            for name, form in forms:
                filtered = form == "filters"
                queries = [q for q in task.queries if q.filtered_text is not None] if form != "text" else task.queries
                sub = eval_tasks.Task(task.name, task.kind, queries, task.doc_labels)
                vectors = encode([q.filtered_text if filtered else q.text for q in queries])
                if form == "boost":
                    exact = eval_scoring.score_boosted(sub, vectors, image_emb, products, rank_cutoff=cfg.store_limit)
                else:
                    exact = eval_scoring.score_exact(sub, vectors, image_emb, products, filtered=filtered,
                                                     rank_cutoff=cfg.store_limit)
                scores = {"exact": exact}
                if store is not None:
                    limit = cfg.store_limit if task.kind == "rank" else SEARCH_LIMIT_PRECISION
                    hits = _store_hits(store, vectors, queries, form, limit, store_exact)
                    scores["store"] = eval_scoring.score_hits(sub, hits, label_of, rank_cutoff=cfg.store_limit,
                                                              by_position=form == "boost")
                eval_scoring.collect_scores(results, name, scores)
            results.setdefault("skipped", {})[task.name] = task.skipped
            results.setdefault("queries", {})[task.name] = len(task.queries)
        for set_name, queries in eval_shopper.QUERY_SETS.items():
            shopper, info = eval_shopper.shopper_scores(products, image_emb, encode, store, exact=store_exact,
                                                        queries=queries, name=set_name)
            for name, scores in shopper.items():
                eval_scoring.collect_scores(results, name, scores)
            results.setdefault("skipped", {})[set_name] = {**info["skipped"], "queries": info["skipped_queries"]}
            results.setdefault("queries", {})[set_name] = info["queries"]
        if store is not None and not cfg.no_page:
            if cfg.hide_names:
                hidden = _open_eval_store(tmp.name, image_emb.shape[1], cfg, collection="eval_hidden_names")
                _fill_store(hidden, products, image_emb, hide_names=True, photo_tags=photo_tags)
            page, info = eval_page.page_scores(products, encode, store, tasks, exact_only=store_exact,
                                               hidden_store=hidden, min_relevant=cfg.page_min_relevant)
            for name, scores in page.items():
                eval_scoring.collect_scores(results, name, scores)
            results["page_sets"] = info
    finally:
        for opened in (store, hidden):
            if opened is not None:
                opened.close()
        tmp.cleanup()
    eval_scoring.add_category_means(results["metrics"])
    return results


# ---- 4. reports -----------------------------------------------------------------------------------


def markdown_table(report: dict) -> str:
    """One row per metric key; for each evaluated model: exact, its 95% bootstrap interval over the
    task's queries, store and store - exact."""
    models = report["models"]
    keys = list(next(iter(models.values()))["metrics"])
    header = ["metric"]
    for label in models:
        header += [f"{label} exact", f"{label} exact 95% CI", f"{label} store", f"{label} store-exact"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def cell(value) -> str:
        return "-" if value is None else f"{value:.4f}"

    def interval(value) -> str:
        return "-" if value is None else f"{value[0]:.3f}-{value[1]:.3f}"

    for key in keys:
        row = [key]
        for entry in models.values():
            metric = entry["metrics"].get(key, {})
            row += [cell(metric.get("exact")), interval(metric.get("exact_ci95")), cell(metric.get("store")),
                    cell(metric.get("store_minus_exact"))]
        lines.append("| " + " | ".join(row) + " |")
    names = ", ".join(f"{label} = {entry['identity']['name']}" for label, entry in models.items())
    corpus = report["corpus"]
    caption = f"Corpus: {corpus['products']} products ({corpus['source']}) of {report['config']['data']}; {names}."
    return caption + "\n\n" + "\n".join(lines) + "\n"


def write_reports(report: dict, out_dir) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "eval.json", out / "eval.md"
    json_path.write_text(json.dumps(report, indent=2, sort_keys=False))
    md_path.write_text(markdown_table(report))
    return json_path, md_path


def run(cfg: EvalConfig) -> dict:
    from fashion_search.model.query_encoder import build_embedder

    catalog = open_catalog(cfg.data)
    products, corpus = select_corpus(list(catalog.products()), cfg)
    products, images, skipped = load_corpus_images(catalog, products)
    if not products:
        raise ValueError(f"no readable product images in the corpus drawn from {cfg.data}")
    corpus.update(products=len(products), skipped_unreadable_image=skipped)
    tasks = eval_tasks.build_tasks(products, cfg.min_products)
    report = {"config": asdict(cfg), "corpus": corpus, "models": {}}
    for label, path in (("model", cfg.model), ("baseline", cfg.baseline)):
        if path is None:
            continue
        text_encoder = cfg.text_encoder if label == "model" else "torch"
        embedder, identity = build_embedder(path, text_encoder, device=cfg.device, batch_size=cfg.batch_size)
        log.info("evaluating %s (%s, %s text encoder) on %d products", label, path, text_encoder, len(products))
        entry = {"identity": identity, "text_encoder": text_encoder,
                 **evaluate_embedder(embedder, products, images, tasks, cfg)}
        report["models"][label] = entry
    return report


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = parse_args(argv)
    report = run(cfg)
    json_path, md_path = write_reports(report, cfg.out_dir)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
