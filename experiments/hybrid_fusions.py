"""Which fusion of image and words ranks best? Every RankingOptions variant over the eval's query sets.

Builds the eval corpus (the test split beside the model) and its store once, with `make eval`'s forced
HNSW, caches the image vectors in --cache, then scores each variant through Searcher.text exactly as
evaluation/page.py does (exhaustive store search). Prints one row per variant: P@10 per query set,
distinct names in the descriptive top 10, name -> image R@1 / R@10 / MRR@100. The held-out sets (descriptive_heldout,
shopper_heldout) are printed only with --heldout, for the variant already chosen on the others.

    python experiments/hybrid_fusions.py --model runs/small/best \
        --data ../shared/data/fashion-product-images-small [--heldout] [--variants page,image]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

import numpy as np

from fashion_search.catalog.products import open_catalog
from fashion_search.evaluation import page as eval_page
from fashion_search.evaluation import run as eval_run
from fashion_search.evaluation import tasks as eval_tasks
from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder
from fashion_search.query.ranking import IMAGE_ONLY, RankingOptions
from fashion_search.query.search import Searcher

VARIANTS = {
    "image": IMAGE_ONLY,
    "boost": RankingOptions(words=False),
    "words_formula0.3": RankingOptions(named_values_first=False),
    "words_rrf60": RankingOptions(named_values_first=False, fusion="rrf"),
    "words_dbsf": RankingOptions(named_values_first=False, fusion="dbsf"),
    "page_formula1": RankingOptions(word_weight=1.0),
    "page_formula0.3": RankingOptions(word_weight=0.3),
    "page_every_word": RankingOptions(match_named_words=True),   # words naming ranked values matched too
    "page_named0": RankingOptions(named_word_weight=0.0),     # words naming ranked values ignored
    "page_named0.03": RankingOptions(named_word_weight=0.03),
    "page_named0.1": RankingOptions(named_word_weight=0.1),
    "page_named0.3": RankingOptions(named_word_weight=0.3),
    "page_named0.6": RankingOptions(named_word_weight=0.6),
    "page_named1": RankingOptions(named_word_weight=1.0),
    "page_formula0.1": RankingOptions(word_weight=0.1),
    "page_formula0.03": RankingOptions(word_weight=0.03),
    "page_formula0.3_p30": RankingOptions(prefetch=30),
    "page_formula0.3_p300": RankingOptions(prefetch=300),
    "page_rrf60": RankingOptions(fusion="rrf"),
    "page_rrf10": RankingOptions(fusion="rrf", rrf_k=10),
    "page_rrf2": RankingOptions(fusion="rrf", rrf_k=2),
    "page_dbsf": RankingOptions(fusion="dbsf"),
    "page_mmr0.3": RankingOptions(diversity=0.3),
    "page_mmr0.1": RankingOptions(diversity=0.1),
}
TUNING_SETS = ("descriptive", "compound", "shopper")
HELDOUT_SETS = ("descriptive_heldout", "shopper_heldout")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--cache", default="/tmp/hybrid_fusions")
    parser.add_argument("--splits", default="auto", help="as make eval's --splits")
    parser.add_argument("--max-products", type=int, default=2000, help="as make eval's --max-products")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--heldout", action="store_true")
    parser.add_argument("--hide-names", action="store_true", help="rank on a store without names")
    parser.add_argument("--names", action="store_true", help="also name -> image R@10 (slow)")
    args = parser.parse_args()

    cfg = eval_run.EvalConfig(model=args.model, data=args.data, splits=args.splits, max_products=args.max_products)
    products, _ = eval_run.select_corpus(list(open_catalog(args.data).products()), cfg)
    model, processor = load_clip(args.model)
    embedder = Embedder(model, processor, batch_size=64)
    key = hashlib.sha1(f"{Path(args.model).resolve()}|{[p.id for p in products]}".encode()).hexdigest()[:12]
    cache = Path(args.cache) / f"{key}.npy"
    if cache.is_file():
        image_emb = np.load(cache)
    else:
        products, images, _ = eval_run.load_corpus_images(open_catalog(args.data), products)
        image_emb = embedder.encode_images(images, progress=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, image_emb)
    tasks = eval_tasks.build_tasks(products, cfg.min_products)
    sets, _ = eval_page.query_sets(products, tasks, cfg.page_min_relevant)
    shown = TUNING_SETS + (HELDOUT_SETS if args.heldout else ())
    encode = eval_run._TextCache(embedder)
    ids = np.array([p.id for p in products])
    with tempfile.TemporaryDirectory() as tmp:
        store = eval_run._open_eval_store(tmp, image_emb.shape[1], cfg)
        eval_run._fill_store(store, products, image_emb, hide_names=args.hide_names)
        searcher = Searcher(eval_page._Vectors(encode), eval_page._Exhaustive(store))
        print("variant | " + " | ".join(f"{s} P@10" for s in shown) + " | descriptive distinct@10"
              + (" | name R@1 | name R@10 | name MRR@100" if args.names else ""))
        ceilings: dict = {}
        for name in args.variants.split(","):
            options = VARIANTS[name]
            row = []
            for set_name in shown:
                texts, masks = sets[set_name]
                score = eval_page._precision(texts, masks, ids, lambda t: searcher.text(t, limit=10, options=options),
                                             with_ci=False)
                row.append(f"{score['P@10']:.3f}")
                ceilings[set_name] = score["P@10_ceiling"]
                if set_name == "descriptive":
                    distinct = score["distinct@10"]
            row.append(f"{distinct:.3f}")
            if args.names:
                named = [p for p in products if p.name]
                ranks = eval_page._name_ranks(named, lambda t: searcher.text(t, limit=100, options=options), False)
                row += [f"{ranks['R@1']:.3f}", f"{ranks['R@10']:.3f}", f"{ranks['MRR@100']:.3f}"]
            print(f"{name} | " + " | ".join(row), flush=True)
        print("ceiling | " + " | ".join(f"{ceilings[s]:.3f}" for s in shown))
        store.close()


if __name__ == "__main__":
    main()
