"""Names hidden, quickly: descriptive P@10 when the image vectors alone order the products of the
query's type, for a model, without building a store.

It ranks as `make eval`'s `descriptive/hidden_names+page` does on a corpus whose names are hidden (the
query's type first, as its named-values level does, then cosine to the query's text vector) and judges
with the names; on runs/small_group/best and the val + test products it gives 0.327, the eval's figure.
Variants of the query text are scored beside it: the detail words alone (the query without its last,
type word) and their sums with the whole query, to see whether the text side or the image side limits,
and the query against mirror-averaged image vectors (each photo and its mirror image embedded, averaged).

    python experiments/names_hidden_probe.py --model runs/small/best --splits splits_valtest.json \
        --data ../shared/data/fashion-product-images-small

Results: docs/hybrid.md ("Image side").
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from PIL import ImageOps

from fashion_search.catalog.products import open_catalog
from fashion_search.evaluation.descriptive import QUERY_DIR, load_query_set, relevant_mask
from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--splits", required=True, help="splits JSON whose 'test' ids are the corpus")
    ap.add_argument("--data", required=True, help="the catalog (parquet or Kaggle layout)")
    args = ap.parse_args()

    ids = set(json.load(open(args.splits))["test"])
    catalog = open_catalog(args.data)
    products = [p for p in catalog.products() if p.id in ids]
    embedder = Embedder(*load_clip(args.model), device="cpu")
    photos = [catalog.load_image(p) for p in products]
    images = embedder.encode_images(photos, progress=True)
    mirrored = images + embedder.encode_images([ImageOps.mirror(photo) for photo in photos])
    mirrored /= np.linalg.norm(mirrored, axis=1, keepdims=True)
    types = np.array([p.articleType for p in products])
    for query_set in ("descriptive", "descriptive_heldout"):
        scores: dict[str, list[float]] = {"query": [], "detail words": [], "query + detail": [],
                                          "query + detail / 2": [], "query, mirror-averaged images": []}
        for q in load_query_set(QUERY_DIR / f"{query_set}.json"):
            relevant = relevant_mask(products, q)
            if relevant.sum() < 5:      # as make eval: too few relevant products to score P@10
                continue
            whole, detail = embedder.encode_texts([q["query"], " ".join(q["query"].split()[:-1]) or q["query"]])
            in_type = np.isin(types, q["article_types"])
            for name, vector, corpus in (("query", whole, images), ("detail words", detail, images),
                                         ("query + detail", whole + detail, images),
                                         ("query + detail / 2", whole + 0.5 * detail, images),
                                         ("query, mirror-averaged images", whole, mirrored)):
                similarity = corpus @ (vector / np.linalg.norm(vector))
                top = np.argsort(-(similarity + 10.0 * in_type))[:10]
                scores[name].append(float(relevant[top].mean()))
        n = len(scores["query"])
        print(f"{query_set} ({n} queries): " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
