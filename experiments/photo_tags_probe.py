"""Names hidden: how should photo tags rank? Descriptive P@10 for orderings of the query's type.

The eval's names-hidden page (`make eval ARGS="--hide-names --tagger DIR"`) ranks the query's type
first, then products whose stored photo tags hold a query word (BM25 on the tags), then image similarity.
This probe scores that ordering without a store, beside others that use the tagger's probabilities
instead of its thresholded tags, to see what the threshold costs:

  image         type first, then cosine to the query's text vector (no tags: the page without a tagger)
  tags          type, then tagged with a query word (probability >= --threshold), then cosine
  probability   type, then the summed probability of the query's tag words
  blend         type, then cosine + w x summed probability
  page          type, then cosine + 0.3 x the stored tags' BM25 as Qdrant scores them (IDF over the stored
                tags, each weighted by its probability: what the page does, without the store)
  page prior    the same with each probability corrected for the training's positive weights (the logit
                less log(pos_weight), the tagger's belief under the catalog's own tag frequencies);
                needs --train-splits, the splits the tagger was trained on

    python experiments/photo_tags_probe.py --model runs/small_group/best --tagger runs/tagger \
        --splits ../splits_valtest.json --data ../shared/data/fashion-product-images-small \
        [--train-splits runs/small_group/splits.json]

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
from fashion_search.tagging.tagger import MAX_TAGS
from fashion_search.tagging.training import MAX_POS_WEIGHT
from fashion_search.tagging.vocabulary import tag_targets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--tagger", required=True)
    ap.add_argument("--splits", required=True, help="splits JSON whose 'test' ids are the corpus")
    ap.add_argument("--data", required=True)
    ap.add_argument("--threshold", type=float, default=None,
                    help="a tag's yes/no threshold (default: the best-F1 threshold in the tagger's report.json)")
    ap.add_argument("--train-splits", default=None,
                    help="the tagger's training splits (its 'train' ids): adds the 'page prior' ordering")
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
    stored = _stored(probabilities, tagger.min_probability)
    weights = {"page": np.where(stored, probabilities, 0.0)}
    if args.train_splits:
        train_ids = set(json.load(open(args.train_splits))["train"])
        share = tag_targets([p for p in catalog.products() if p.id in train_ids], tagger.vocabulary).mean(0)
        pos_weight = np.minimum((1 - share.clip(1e-4)) / share.clip(1e-4), MAX_POS_WEIGHT)
        logit = np.log(probabilities / np.clip(1 - probabilities, 1e-12, None))
        weights["page prior"] = np.where(stored, 1 / (1 + np.exp(-(logit - np.log(pos_weight)))), 0.0)
    count = stored.sum(0)
    idf = np.log((len(products) - count + 0.5) / (count + 0.5) + 1)   # Qdrant's IDF modifier
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
            for name, weight in weights.items():
                orders[name] = similarity + 0.3 * (weight[:, tag_columns] * idf[tag_columns]).sum(1)
            for name, score in orders.items():
                top = np.argsort(-(score + in_type))[:10]
                scores.setdefault(name, []).append(float(relevant[top].mean()))
            if args.per_query:
                print(f"  {q['query']:<28} tags {[tagger.vocabulary[k] for k in tag_columns]}: "
                      + " ".join(f"{n} {v[-1]:.1f}" for n, v in scores.items()))
        n = len(scores["image"])
        print(f"{query_set} ({n} queries): " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in scores.items()))


def _stored(probabilities: np.ndarray, floor: float) -> np.ndarray:
    """Which tags ingest stores: the surest MAX_TAGS of a photo, from `floor` up (PhotoTagger.tags_of)."""
    keep = np.zeros(probabilities.shape, bool)
    np.put_along_axis(keep, np.argsort(-probabilities, 1, kind="stable")[:, :MAX_TAGS], True, 1)
    return keep & (probabilities >= floor)


if __name__ == "__main__":
    main()
