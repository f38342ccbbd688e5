"""How far can colour go on these photos at all? A CNN trained only on baseColour labels, full 60x80 pixels.

The CLIP model must learn names, types and colours at once at 48 px; this network learns nothing but
colour, from every training product's label, at the photos' full size. Its P@10 on `make eval`'s test
corpus (ranking each colour's products by the classifier's probability) is an estimate of what the
labels allow: if it barely passes 0.70, the colour target sits at the data's ceiling, not the model's.
Measured here (2026-12-02, 6 epochs, 18-25 min on 2 cores): P@10 0.705, accuracy 0.670 (a draft flipping at
random instead of every other batch: 0.720, 0.673), against 0.645-0.695 for the small CLIP (test split, 20 colours).

    python experiments/colour_cnn_bound.py --model runs/small/best --data ../shared/data/fashion-product-images-small
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np
import torch
from colour_probe import train_and_test  # experiments/ is on sys.path when run as `python experiments/...`
from torch import nn

from fashion_search.evaluation import metrics

BATCH = 128


def pixels(catalog, products) -> np.ndarray:
    """(N, 3, 80, 60) uint8: each photo at the catalog's own size (the rare odd-sized one resized)."""
    out = np.zeros((len(products), 3, 80, 60), np.uint8)
    for k, p in enumerate(products):
        image = catalog.load_image(p)
        out[k] = np.asarray(image if image.size == (60, 80) else image.resize((60, 80))).transpose(2, 0, 1)
    return out


def network(classes: int) -> nn.Module:
    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))
    return nn.Sequential(block(3, 32), block(32, 64), block(64, 128), block(128, 128),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, classes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the run whose splits.json and test corpus to use")
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--corpus", type=int, default=2_000)
    args = parser.parse_args()
    torch.manual_seed(0)
    catalog, train, test = train_and_test(args.model, args.data, "auto", args.corpus)
    classes = sorted(v for v, c in Counter(p.baseColour for p in train).items() if v and c >= 5)
    index = {v: i for i, v in enumerate(classes)}
    train = [p for p in train if p.baseColour in index]
    x_train, x_test = pixels(catalog, train), pixels(catalog, test)
    y_train = torch.tensor([index[p.baseColour] for p in train])
    labels = np.array([p.baseColour or "" for p in test], dtype=object)
    queries = sorted(v for v, c in Counter(labels).items() if v and c >= 10 and v in index)  # as make eval

    net = network(len(classes))
    steps = args.epochs * (len(train) // BATCH)
    optimizer = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=steps)
    as_float = lambda x: torch.tensor(x, dtype=torch.float32) / 255 - 0.5  # noqa: E731
    for epoch in range(args.epochs):
        start, net = time.time(), net.train()
        order = np.random.RandomState(epoch).permutation(len(train))
        for b in range(len(train) // BATCH):
            batch = order[b * BATCH:(b + 1) * BATCH]
            x = as_float(x_train[batch])
            if b % 2:
                x = x.flip(3)  # a mirrored product is the same colour
            loss = nn.functional.cross_entropy(net(x), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        with torch.no_grad():
            probs = torch.cat([net.eval()(as_float(x_test[i:i + 256])).softmax(1)
                               for i in range(0, len(test), 256)]).numpy()
        p10 = metrics.precision_at_k(probs[:, [index[v] for v in queries]].T, np.array(queries, dtype=object),
                                     labels, 10)
        known = np.array([v in index for v in labels])
        accuracy = float(np.mean(np.array(classes)[probs.argmax(1)][known] == labels[known]))
        print(f"epoch {epoch + 1}: colour P@10 {p10:.3f} over {len(queries)} colours, accuracy {accuracy:.3f} "
              f"({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
