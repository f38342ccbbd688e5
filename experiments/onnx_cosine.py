"""Cosine of the ONNX text vectors (float32, int8) to torch's over every query text `make eval` encodes.

The texts are those of the eval corpus's tasks (product names, category values, compound queries, each
also in its filtered form) plus both hand-written shopper sets, encoded once per text: in batches of 64
as `make eval` runs them, and one at a time as the search page and the API do.

    python experiments/onnx_cosine.py --model runs/small/best --data ../shared/data/fashion-product-images-small
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from fashion_search.catalog.products import open_catalog
from fashion_search.evaluation import run as evaluate
from fashion_search.evaluation import tasks as eval_tasks
from fashion_search.evaluation.shopper import QUERY_SETS
from fashion_search.model.query_encoder import build_embedder


def eval_texts(model: str, data: str) -> list[str]:
    cfg = evaluate.EvalConfig(model=model, data=data)
    products, _ = evaluate.select_corpus(list(open_catalog(data).products()), cfg)
    texts = []
    for task in eval_tasks.build_tasks(products, cfg.min_products):
        texts += [q.text for q in task.queries] + [q.filtered_text for q in task.queries if q.filtered_text]
    texts += [text for queries in QUERY_SETS.values() for text, _ in queries]
    return list(dict.fromkeys(texts))


def summary(vectors: np.ndarray, reference: np.ndarray) -> dict:
    cosines = (vectors * reference).sum(axis=1)
    return {"min": round(float(cosines.min()), 6), "p1": round(float(np.percentile(cosines, 1)), 6),
            "mean": round(float(cosines.mean()), 6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    texts = eval_texts(args.model, args.data)
    reference = build_embedder(args.model, "torch", device="cpu")[0].encode_texts(texts)
    report = {"model": args.model, "texts": len(texts)}
    for name in ("onnx", "onnx-int8"):
        embedder = build_embedder(args.model, name, device="cpu")[0]
        single = np.concatenate([embedder.encode_texts([t]) for t in texts])
        report[name] = {"batched_64": summary(embedder.encode_texts(texts), reference),
                        "one_at_a_time": summary(single, reference)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
