"""Image-caption pairs for training and eval: decode, augment, preprocess (in DataLoader workers), collate.

With an `ImageCache` (training/image_cache.py) the pixels come from memory instead: the decoded,
resized uint8 image is cropped/flipped as a tensor and normalised like the processor.

Everything random here is seeded from (seed, epoch, product id) rather than drawn from a global
RNG, so the caption and crop a product gets do not depend on worker count, batch order or where a
resumed run restarted: resume reproduces the uninterrupted run exactly.

Every pair also carries the integer codes the multi-positive loss compares (training/attributes.py):
the product's attributes (`image_attrs`) and what its caption states (`caption_constraints`).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from fashion_search.catalog.captions import canonical_caption_with_constraints, random_caption_with_constraints
from fashion_search.catalog.products import Catalog, ImageError, Product
from fashion_search.model.embed import ImagePreprocessor
from fashion_search.training.attributes import constraint_codes, product_attr_codes
from fashion_search.training.image_cache import ImageCache, augment_tensor

log = logging.getLogger(__name__)

# Product photos are centred on a plain background: a mild crop and a mirror keep the product
# recognisable. No colour jitter: baseColour is part of the caption, so changing colour would
# teach the model wrong labels.
CROP_SCALE = (0.85, 1.0)
CROP_ASPECT_JITTER = (0.9, 1.1)
FLIP_PROBABILITY = 0.5


def augment(image: Image.Image, rng: random.Random) -> Image.Image:
    """Random resized crop (85-100% of the area, aspect within +-10%) and a random horizontal flip."""
    width, height = image.size
    area_scale = rng.uniform(*CROP_SCALE)
    log_ratio = rng.uniform(math.log(CROP_ASPECT_JITTER[0]), math.log(CROP_ASPECT_JITTER[1]))
    aspect = math.exp(log_ratio)
    crop_w = min(width, max(1, round(width * math.sqrt(area_scale * aspect))))
    crop_h = min(height, max(1, round(height * math.sqrt(area_scale / aspect))))
    left = rng.randint(0, width - crop_w)
    top = rng.randint(0, height - crop_h)
    image = image.crop((left, top, left + crop_w, top + crop_h))
    if rng.random() < FLIP_PROBABILITY:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image


def sample_rng(seed: int, epoch: int, product_id: int, stream: str) -> random.Random:
    # str seeds are hashed with sha512 by `random`, so this is stable across processes and runs.
    return random.Random(f"{seed}:{epoch}:{product_id}:{stream}")


class PairDataset(Dataset):
    """Product i -> {"index", "pixel_values" (3, H, W) or None if the image failed, "caption",
    "image_attrs" (F,) int64, "caption_constraints" (F,) int64}.

    train=True: a random caption template and augmentation, both seeded per (seed, epoch, product).
    train=False: the canonical caption and no augmentation (eval, val loss).
    cache: pixels come from this ImageCache (augmented on the tensor) instead of decoding the image.
    """

    def __init__(self, catalog: Catalog, products: Sequence[Product], preprocess: ImagePreprocessor,
                 seed: int, train: bool, cache: ImageCache | None = None):
        self.catalog = catalog
        self.products = list(products)
        self.preprocess = preprocess
        self.seed = seed
        self.train = train
        self.cache = cache
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        # Workers are not persistent, so each epoch's workers receive a copy with this value.
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.products)

    def __getitem__(self, index: int) -> dict:
        product = self.products[index]
        if self.train:
            caption, constraints = random_caption_with_constraints(
                product, sample_rng(self.seed, self.epoch, product.id, "caption"))
        else:
            caption, constraints = canonical_caption_with_constraints(product)
        item = {"index": index, "caption": caption,
                "image_attrs": torch.tensor(product_attr_codes(product), dtype=torch.long),
                "caption_constraints": torch.tensor(constraint_codes(constraints), dtype=torch.long)}
        if self.cache is not None:
            return {**item, "pixel_values": self._cached_pixels(product)}
        try:
            image = self.catalog.load_image(product)
        except ImageError as exc:
            # Counted by the collator and reported by the trainer; never replaced by a fake image.
            log.warning("skipping product %s: %s", product.id, exc)
            return {**item, "pixel_values": None}
        if self.train:
            image = augment(image, sample_rng(self.seed, self.epoch, product.id, "image"))
        return {**item, "pixel_values": self.preprocess([image])[0]}

    def _cached_pixels(self, product: Product) -> torch.Tensor | None:
        pixels = self.cache.get(product.id)  # uint8 (3, H, W); None: unreadable, counted by the cache
        if pixels is None:
            return None
        if self.train:
            pixels = augment_tensor(pixels, sample_rng(self.seed, self.epoch, product.id, "image"),
                                    CROP_SCALE, CROP_ASPECT_JITTER, FLIP_PROBABILITY)
        return self.cache.normalise(pixels)  # (3, H, W) float32


class PairCollator:
    """Stack pixels and attribute codes, tokenize captions (padded to the batch's longest), drop and count failed images."""

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __call__(self, items: list[dict]) -> dict:
        good = [item for item in items if item["pixel_values"] is not None]
        batch = {"n_failed": torch.tensor(len(items) - len(good)),
                 "index": torch.tensor([item["index"] for item in good], dtype=torch.long)}
        if not good:
            return batch
        tokens = self.tokenizer([item["caption"] for item in good], padding=True, truncation=True,
                                max_length=self.max_length, return_tensors="pt")
        batch["pixel_values"] = torch.stack([item["pixel_values"] for item in good])  # (B, 3, H, W)
        batch["input_ids"] = tokens["input_ids"]  # (B, T)
        batch["attention_mask"] = tokens["attention_mask"]  # (B, T)
        batch["image_attrs"] = torch.stack([item["image_attrs"] for item in good])  # (B, F) int64
        batch["caption_constraints"] = torch.stack([item["caption_constraints"] for item in good])  # (B, F) int64
        return batch


class EpochShuffleSampler(Sampler[int]):
    """A permutation of range(n) that depends only on (seed, epoch): resumable and equal on every rank.

    With `groups` (one label per item, e.g. each product's articleType) and group_fraction > 0, that
    fraction of the items is drawn in runs of `group_size` items sharing a label, the rest one by one,
    all runs and single items shuffled together. A batch then holds several products of one type that
    differ in colour, gender, usage: for an in-batch contrastive loss those are the hard negatives that
    teach the attributes inside a type, which random batches (mostly different types) rarely present.
    """

    def __init__(self, n: int, seed: int, groups=None, group_fraction: float = 0.0, group_size: int = 16):
        if groups is not None and len(groups) != n:
            raise ValueError(f"groups has {len(groups)} labels for {n} items")
        if not 0.0 <= group_fraction <= 1.0 or group_size < 1:
            raise ValueError(f"need 0 <= group_fraction <= 1 and group_size >= 1, got {group_fraction}, {group_size}")
        self.n = n
        self.seed = seed
        self.groups = list(groups) if groups is not None else None
        self.group_fraction = group_fraction if groups is not None else 0.0
        self.group_size = group_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.n, generator=generator).tolist()
        if not self.group_fraction:
            yield from order
            return
        grouped = round(self.n * self.group_fraction)
        by_label: dict = {}  # insertion order follows the permutation: deterministic
        for i in order[:grouped]:
            by_label.setdefault(self.groups[i], []).append(i)
        units = [[i] for i in order[grouped:]]
        for members in by_label.values():
            units += [members[s:s + self.group_size] for s in range(0, len(members), self.group_size)]
        for u in torch.randperm(len(units), generator=generator).tolist():
            yield from units[u]
