"""Names hidden: how should photo tags rank? Descriptive P@10 for orderings of the query's type.

The eval's names-hidden page (`make eval ARGS="--hide-names --tagger DIR"`) ranks the query's type
first, then products whose stored photo tags hold a query word (BM25 on the tags), then image similarity.
This probe scores that ordering without a store, beside others that use the tagger's probabilities
instead of its thresholded tags, to see what the threshold costs:

  image         type first, then cosine to the query's text vector (no tags: the page without a tagger)
  tags          type, then tagged with a query word (probability >= --threshold), then cosine
  probability   type, then the summed probability of the query's tag words
  blend         type, then cosine + w x summed probability

    python experiments/photo_tags_probe.py --model runs/small_group/best --tagger runs/tagger \
        --splits ../splits_valtest.json --data ../shared/data/fashion-product-images-small

Results: docs/tagging.md.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from fashion_search.catalog.products import open_catalog
from fashion_search.evaluation.descriptive import QUERY_DIR, load_query_set, relevant_mask
from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder
from fashion_search.store.lexical import word_terms
from fashion_search.tagging import PhotoTagger
from fashion_search.tagging.network import photo_pixels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--tagger", required=True)
    ap.add_argument("--splits", required=True, help="splits JSON whose 'test' ids are the corpus")
    ap.add_argument("--data", required=True)
    ap.add_argument("--threshold", type=float, default=None,
                    help="a tag's yes/no threshold (default: the best-F1 threshold in the tagger's report.json)")
    ap.add_argument("--per-query", action="store_true")
    args = ap.parse_args()

    ids = set(json.load(open(args.splits))["test"])
    catalog = open_catalog(args.data)
    products = [p for p in catalog.products() if p.id in ids]
    photos = [catalog.load_image(p) for p in products]
    embedder = Embedder(*load_clip(args.model), device="cpu")
    images = embedder.encode_images(photos, progress=True)
    tagger = PhotoTagger.load(args.tagger)
    threshold = args.threshold or json.load(open(f"{args.tagger}/report.json"))["best"]["best_f1_threshold"]
    probabilities = tagger.probabilities(np.stack([photo_pixels(photo) for photo in photos]))   # (N, T)
    column = {word_terms(tag): k for k, tag in enumerate(tagger.vocabulary)}
    types = np.array([p.articleType for p in products])
    for query_set in ("descriptive", "descriptive_heldout"):
        scores: dict[str, list[float]] = {}
        for q in load_query_set(QUERY_DIR / f"{query_set}.json"):
            relevant = relevant_mask(products, q)
            if relevant.sum() < 5:
                continue
            vector = embedder.encode_texts([q["query"]])[0]
            similarity = images @ vector
            in_type = 10.0 * np.isin(types, q["article_types"])
            tag_columns = sorted({column[t] for t in map(word_terms, q["query"].split()) if t in column})
            p = probabilities[:, tag_columns].sum(1) if tag_columns else np.zeros(len(products))
            tagged = (probabilities[:, tag_columns] >= threshold).any(1) if tag_columns else p > 1
            orders = {"image": similarity, "tags": similarity + 2.0 * tagged, "probability": p + 1e-3 * similarity}
            for w in (0.25, 0.5, 1.0):
                orders[f"blend {w}"] = similarity + w * p
            for t in (threshold, tagger.min_probability):
                kept = np.where(probabilities[:, tag_columns] >= t, probabilities[:, tag_columns], 0).sum(1) \
                    if tag_columns else np.zeros(len(products))
                for w in (0.5, 1.0, 2.0):
                    orders[f"stored p>={t:.2f} x{w}"] = similarity + w * kept
            for name, score in orders.items():
                top = np.argsort(-(score + in_type))[:10]
                scores.setdefault(name, []).append(float(relevant[top].mean()))
            if args.per_query:
                print(f"  {q['query']:<28} tags {[tagger.vocabulary[k] for k in tag_columns]}: "
                      + " ".join(f"{n} {v[-1]:.1f}" for n, v in scores.items()))
        n = len(scores["image"])
        print(f"{query_set} ({n} queries): " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
