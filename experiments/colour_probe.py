"""How much colour can the image side carry? Supervised probes vs the model's own text queries.

For one model directory and its splits.json: fit a linear softmax classifier of baseColour on
(a) the model's frozen image embeddings and (b) a hand-made colour histogram of the photo's
non-background pixels (6x6x6 RGB bins + mean/std), on a seeded sample of training products; then
score the test corpus as `make eval` does (2,000 products, colours with >= 10 of them): accuracy, and
P@10 when each colour's products are ranked by the probe's probability. If the text query "Navy Blue"
already reaches the embedding probe's P@10, the text side is not the limit; if the histogram probe is
below both, the colour labels themselves are (Cream / Off White / Beige overlap).

    python experiments/colour_probe.py --model runs/small/best --data ../shared/data/fashion-product-images-small
"""

from __future__ import annotations

import argparse
import random
from collections import Counter

import numpy as np
import torch

from fashion_search.catalog.products import open_catalog
from fashion_search.catalog.splits import load_splits
from fashion_search.evaluation import metrics
from fashion_search.evaluation import run as evaluate
from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder

BACKGROUND = 230  # a pixel with every channel above this is the studio background
BINS = 6


def colour_histogram(image) -> np.ndarray:
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32).reshape(-1, 3)
    foreground = pixels[~(pixels > BACKGROUND).all(axis=1)]
    if len(foreground) < 20:  # a white product on white: use every pixel
        foreground = pixels
    q = np.minimum((foreground * BINS / 256).astype(int), BINS - 1)
    counts = np.bincount(q[:, 0] * BINS * BINS + q[:, 1] * BINS + q[:, 2], minlength=BINS ** 3)
    return np.concatenate([np.sqrt(counts / len(foreground)), foreground.mean(0) / 255, foreground.std(0) / 255])


def fit_probe(x_train, y_train, classes: int, steps: int = 300, seed: int = 0):
    """Standardised features -> full-batch Adam softmax regression; returns a probability function."""
    torch.manual_seed(seed)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x = torch.tensor((x_train - mean) / std, dtype=torch.float32)
    y = torch.tensor(y_train)
    linear = torch.nn.Linear(x.shape[1], classes)
    optimizer = torch.optim.Adam(linear.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(linear(x), y).backward()
        optimizer.step()

    def probabilities(feats: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return linear(torch.tensor((feats - mean) / std, dtype=torch.float32)).softmax(1).numpy()

    return probabilities


def precision_at_10(scores: np.ndarray, labels: np.ndarray, values: list[str]) -> float:
    """scores (N, len(values)): macro P@10 of ranking the corpus by each value's column (make eval's ties)."""
    return metrics.precision_at_k(scores.T, np.array(values, dtype=object), labels, 10)


def train_and_test(model: str, data: str, splits: str, corpus: int):
    """(catalog, the run's train products in id order, the test corpus exactly as `make eval` draws it:
    same splits lookup, same seeded sample). Shared with colour_cnn_bound.py."""
    cfg = evaluate.EvalConfig(model=model, data=data, splits=splits, max_products=corpus)
    splits_path = evaluate.find_splits_file(cfg)
    if splits_path is None:
        raise SystemExit(f"no splits.json beside {model}: pass --splits (training uses that run's train ids)")
    catalog = open_catalog(data)
    products = list(catalog.products())
    by_id = {p.id: p for p in products}
    train = [by_id[i] for i in sorted(set(load_splits(splits_path)["train"]) & set(by_id))]
    test, _ = evaluate.select_corpus(products, cfg)
    return catalog, train, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--splits", help="default: splits.json beside --model, else its parent run dir")
    parser.add_argument("--train-products", type=int, default=12_000)
    parser.add_argument("--corpus", type=int, default=2_000)
    args = parser.parse_args()
    catalog, train_pool, test = train_and_test(args.model, args.data, args.splits or "auto", args.corpus)
    train = random.Random(0).sample(train_pool, args.train_products)

    model, processor = load_clip(args.model)
    embedder = Embedder(model, processor)
    features = {}
    for name, products in (("train", train), ("test", test)):
        images = [catalog.load_image(p) for p in products]
        features[name] = {"histogram": np.stack([colour_histogram(im) for im in images]),
                          "embedding": embedder.encode_images(images)}
    classes = sorted(v for v, c in Counter(p.baseColour for p in train).items() if v and c >= 5)
    index = {v: i for i, v in enumerate(classes)}
    y_train = np.array([index.get(p.baseColour, -1) for p in train])
    keep = y_train >= 0
    labels = np.array([p.baseColour or "" for p in test])
    y_test = np.array([index.get(v, -1) for v in labels])
    counts = Counter(labels)
    queries = sorted(v for v, c in counts.items() if v and c >= 10 and v in index)

    print(f"{len(train)} training products, {len(classes)} colours; corpus {len(test)} test products, "
          f"{len(queries)} colour queries")
    text = embedder.encode_texts(queries) @ features["test"]["embedding"].T  # what `make eval` ranks by
    print(f"{'text query (the model)':28s} P@10 {precision_at_10(text.T, labels, queries):.3f}")
    for kind in ("embedding", "histogram"):
        probe = fit_probe(features["train"][kind][keep], y_train[keep], len(classes))
        probs = probe(features["test"][kind])
        accuracy = float(np.mean(probs.argmax(1)[y_test >= 0] == y_test[y_test >= 0]))
        p10 = precision_at_10(probs[:, [index[v] for v in queries]], labels, queries)
        print(f"{kind + ' linear probe':28s} P@10 {p10:.3f}  accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
