"""How far can detail words go on these photos at all? Supervised bounds for names-hidden descriptive P@10.

With names hidden the page ranks the query's type first, then image similarity to the query's text. Two
supervised rankers replace the text side here with an oracle that knows which name words each query
asks for (the query sets' own `name_words`), trained on the training products' names:
(a) a linear classifier on the CLIP model's frozen image vectors: do the vectors hold the detail at all?
(b) a CNN trained only on those detail labels, at the photos' full 60x80: what the pixels allow a
    network that learns nothing else, within a CPU budget like the small preset's.
Each query's products are then ranked type first and by the classifier's logit for the query's label;
P@10 is judged as `make eval` judges it (type and one of the name words; queries with >= 5 relevant).
If (b) stays well below the target, the target sits beyond what 60x80 photos carry for a model this size.

    python experiments/detail_cnn_bound.py --model runs/small_group/best --splits runs/small_group/splits.json \
        --corpus-splits ../splits_valtest.json --data ../shared/data/fashion-product-images-small

Results: docs/hybrid.md ("Image side").
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from colour_cnn_bound import pixels  # experiments/ is on sys.path when run as `python experiments/...`
from torch import nn

from fashion_search.catalog.products import open_catalog
from fashion_search.evaluation.descriptive import QUERY_DIR, load_query_set, name_has_word, relevant_mask
from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder

BATCH = 128
QUERY_SETS = ("descriptive", "descriptive_heldout")


def network(labels: int) -> nn.Module:
    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))
    return nn.Sequential(block(3, 32), block(32, 64), block(64, 128), block(128, 192),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(192, labels))


def score(logits: np.ndarray, corpus, queries_by_set, label_of) -> dict[str, float]:
    """Names-hidden P@10 per query set: the query's type first, then the logit of its label."""
    types = np.array([p.articleType for p in corpus])
    out = {}
    for name, queries in queries_by_set.items():
        p10 = []
        for q in queries:
            relevant = relevant_mask(corpus, q)
            if relevant.sum() < 5:
                continue
            order = np.argsort(-(logits[:, label_of[q["query"]]] + 1e3 * np.isin(types, q["article_types"])))
            p10.append(float(relevant[order[:10]].mean()))
        out[name] = float(np.mean(p10))
    return out


def fit(inputs, y, steps_per_epoch, epochs, net, lr, augment=None, on_epoch=None):
    """BCE over every label, positives up-weighted by their rarity (capped), AdamW with one-cycle lr."""
    positives = y.mean(0).clamp(min=1e-4)
    pos_weight = ((1 - positives) / positives).clamp(max=50)
    optimizer = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=epochs * steps_per_epoch)
    for epoch in range(epochs):
        start, net = time.time(), net.train()
        order = np.random.RandomState(epoch).permutation(len(y))
        for b in range(steps_per_epoch):
            batch = order[b * BATCH:(b + 1) * BATCH]
            x = inputs(batch)
            if augment is not None and b % 2:
                x = augment(x)
            loss = nn.functional.binary_cross_entropy_with_logits(net(x), y[batch], pos_weight=pos_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if on_epoch:
            on_epoch(epoch, time.time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a CLIP directory for the linear bound")
    parser.add_argument("--splits", required=True, help="splits JSON whose 'train' ids are trained on")
    parser.add_argument("--corpus-splits", required=True, help="splits JSON whose 'test' ids are the corpus")
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    catalog = open_catalog(args.data)
    train_ids = set(json.load(open(args.splits))["train"])
    corpus_ids = set(json.load(open(args.corpus_splits))["test"])
    products = list(catalog.products())
    train = [p for p in products if p.id in train_ids]
    corpus = [p for p in products if p.id in corpus_ids]
    queries_by_set = {name: load_query_set(QUERY_DIR / f"{name}.json") for name in QUERY_SETS}
    word_sets = sorted({tuple(q["name_words"]) for qs in queries_by_set.values() for q in qs})
    label_of = {q["query"]: word_sets.index(tuple(q["name_words"])) for qs in queries_by_set.values() for q in qs}
    y = torch.tensor([[name_has_word(p.name, words) for words in word_sets] for p in train], dtype=torch.float32)
    print(f"{len(train)} training products, {len(corpus)} in the corpus, {len(word_sets)} detail labels "
          f"({int(y.sum())} positive pairs)", flush=True)

    embedder = Embedder(*load_clip(args.model), device="cpu")
    vectors = {name: torch.tensor(embedder.encode_images([catalog.load_image(p) for p in ps], progress=True))
               for name, ps in (("train", train), ("corpus", corpus))}
    linear = nn.Linear(vectors["train"].shape[1], len(word_sets))
    fit(lambda b: vectors["train"][b], y, len(train) // BATCH, 20, linear, 1e-2)
    with torch.no_grad():
        print("linear on the CLIP image vectors:", score(linear(vectors["corpus"]).numpy(), corpus,
                                                         queries_by_set, label_of), flush=True)

    x_train, x_corpus = pixels(catalog, train), pixels(catalog, corpus)
    as_float = lambda x: torch.tensor(x, dtype=torch.float32) / 255 - 0.5  # noqa: E731
    net = network(len(word_sets))
    print(f"CNN: {sum(p.numel() for p in net.parameters()) / 1e6:.2f}M parameters", flush=True)

    def report(epoch, seconds):
        with torch.no_grad():
            logits = torch.cat([net.eval()(as_float(x_corpus[i:i + 256])) for i in range(0, len(corpus), 256)])
        print(f"epoch {epoch + 1} ({seconds:.0f} s): CNN at 60x80", score(logits.numpy(), corpus, queries_by_set,
                                                                         label_of), flush=True)

    fit(lambda b: as_float(x_train[b]), y, len(train) // BATCH, args.epochs, net, 2e-3,
        augment=lambda x: x.flip(3), on_epoch=report)


if __name__ == "__main__":
    main()
