"""Eval during training: val loss and retrieval metrics on the val split (main process only).

One pass encodes every val image (no augmentation) and its canonical caption with the same
`Embedder` that ingest and search use, then derives:
  val_loss                 one-hot clip_loss over consecutive chunks of `batch_size` pairs (the
                           training batch), weighted by chunk size. Always one-hot on canonical
                           captions, so it compares across runs with and without --multi-positive;
                           the train loss matches its scale only without it (soft targets have a
                           floor above 0)
  t2i/* and i2t/*          R@1/5/10, MRR, mean/median rank, caption <-> its own image among all val images
  P@10/articleType, P@10/baseColour
                           bare category values ("Tshirts", "Navy Blue") as text queries; a hit is an
                           image whose product has that value
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from fashion_search.catalog.captions import canonical_caption
from fashion_search.catalog.products import Catalog, Product
from fashion_search.evaluation.metrics import bidirectional_metrics, precision_at_k
from fashion_search.model.embed import Embedder
from fashion_search.model.loss import clip_loss
from fashion_search.training.data import PairCollator, PairDataset
from fashion_search.training.image_cache import ImageCache

log = logging.getLogger(__name__)

CATEGORY_FIELDS = ("articleType", "baseColour")
CATEGORY_K = 10
SHORT_NAMES = {"text_to_image": "t2i", "image_to_text": "i2t"}


def chunked_clip_loss(image_emb: np.ndarray, text_emb: np.ndarray, logit_scale: float, batch_size: int) -> float:
    """Mean clip_loss over consecutive chunks of batch_size pairs, weighted by chunk size."""
    total, count = 0.0, 0
    for start in range(0, len(image_emb), batch_size):
        img = torch.from_numpy(image_emb[start:start + batch_size])
        txt = torch.from_numpy(text_emb[start:start + batch_size])
        if len(img) < 2:  # a single pair has no negatives: its loss is 0 and says nothing
            continue
        total += clip_loss(img, txt, logit_scale).item() * len(img)
        count += len(img)
    if count == 0:
        raise ValueError("val loss needs at least 2 val products with readable images")
    return total / count


def category_precision(embedder: Embedder, image_emb: np.ndarray, products: Sequence[Product],
                       field: str, k: int = CATEGORY_K) -> float:
    """Mean P@k with each distinct value of `field` among the products as a bare text query."""
    labels = [getattr(p, field) for p in products]
    values = sorted({v for v in labels if v is not None})
    if not values:
        return float("nan")
    query_emb = embedder.encode_texts(values)
    return precision_at_k(query_emb @ image_emb.T, values, labels, k)


class Evaluator:
    """Built once with the val products; call it with the current (unwrapped) CLIP model."""

    def __init__(self, catalog: Catalog, products: Sequence[Product], processor, train_batch_size: int,
                 eval_batch_size: int, num_workers: int, device, cache: ImageCache | None = None):
        self.cache = cache  # val images from memory (no decoding, no workers) when the trainer built one
        self.catalog = catalog
        self.products = list(products)
        self.processor = processor
        self.train_batch_size = train_batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.device = device

    def _image_loader(self, embedder: Embedder) -> DataLoader:
        dataset = PairDataset(self.catalog, self.products, embedder.image_preprocessor, seed=0, train=False,
                              cache=self.cache)
        workers = 0 if self.cache is not None else self.num_workers
        return DataLoader(dataset, batch_size=self.eval_batch_size, shuffle=False, num_workers=workers,
                          collate_fn=PairCollator(embedder.tokenizer, embedder.max_length))

    @torch.no_grad()
    def __call__(self, model) -> dict:
        embedder = Embedder(model, self.processor, device=self.device, batch_size=self.eval_batch_size)
        image_parts, kept = [], []
        for batch in self._image_loader(embedder):
            if "pixel_values" in batch:
                image_parts.append(embedder.encode_pixels(batch["pixel_values"]))
                kept.extend(batch["index"].tolist())
        skipped = len(self.products) - len(kept)
        if skipped:
            log.warning("eval: %d of %d val images could not be read and were left out", skipped, len(self.products))
        products = [self.products[i] for i in kept]
        if len(products) < 2:
            raise ValueError(f"eval needs at least 2 readable val images, got {len(products)}")
        image_emb = np.concatenate(image_parts)  # (N, D), unit rows
        text_emb = embedder.encode_texts([canonical_caption(p) for p in products])
        logit_scale = float(model.logit_scale.exp().clamp(max=100).item())
        out = {"val_loss": chunked_clip_loss(image_emb, text_emb, logit_scale, self.train_batch_size),
               "val_products": len(products), "logit_scale": logit_scale}
        for name, value in bidirectional_metrics(image_emb, text_emb).items():
            direction, metric = name.split("/")
            out[f"{SHORT_NAMES[direction]}/{metric}"] = value
        for field in CATEGORY_FIELDS:
            out[f"P@{CATEGORY_K}/{field}"] = category_precision(embedder, image_emb, products, field)
        return out
