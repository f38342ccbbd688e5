"""Decode every train/val image once into a uint8 tensor in memory; augment and normalise on tensors.

Why: the `small` preset trains on 48 px images, where decoding a JPEG and running the image
processor per sample costs more than the model's step on a 2-core CPU. The whole real catalog at
48x48 is 41k * 3 * 48 * 48 bytes = 285 MB, so it is decoded once (in DataLoader workers) and every
epoch reads from memory.

Exactness: a cached row is the image processor's own output mapped back to uint8
(round((pixel * std + mean) * 255)). The PIL processor resizes (and crops) uint8 images before it
rescales and normalises, so the round trip recovers its resized uint8 image exactly, whatever the
processor does (squash for `small`, shortest-edge + centre crop for OpenAI CLIP). `normalise` of an
unaugmented row equals `ImagePreprocessor` on the same image (tests/test_train.py checks it).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from fashion_search.catalog.products import Catalog, ImageError, Product
from fashion_search.model.embed import ImagePreprocessor

log = logging.getLogger(__name__)

CACHE_CHOICES = ("auto", "on", "off")
# `auto` turns the cache on when it fits this budget and the model's images are this small: at
# 224 px (ViT-B/32) a full catalog is 6 GB and GPU runs decode fast enough in workers anyway.
AUTO_MAX_BYTES = 2 * 1024**3
AUTO_MAX_IMAGE_SIZE = 96
DECODE_BATCH = 64


def cache_bytes(n_images: int, image_size: int) -> int:
    return n_images * 3 * image_size * image_size


def use_cache(mode: str, n_images: int, image_size: int) -> tuple[bool, str]:
    """(on?, why) for --image-cache auto|on|off."""
    size_mb = cache_bytes(n_images, image_size) / 1024**2
    if mode == "on":
        return True, f"--image-cache on ({n_images} images, {size_mb:.0f} MB)"
    if mode == "off":
        return False, "--image-cache off: images decoded per sample in DataLoader workers"
    if image_size > AUTO_MAX_IMAGE_SIZE:
        return False, f"auto: image size {image_size} > {AUTO_MAX_IMAGE_SIZE}, decoding per sample in workers"
    if cache_bytes(n_images, image_size) > AUTO_MAX_BYTES:
        return False, f"auto: {size_mb:.0f} MB over the {AUTO_MAX_BYTES / 1024**3:.0f} GB budget, decoding per sample"
    return True, f"auto: {n_images} images at {image_size}px = {size_mb:.0f} MB in memory"


class _MeanStd:
    """The processor's normalisation as (1, 3, 1, 1) tensors."""

    def __init__(self, image_processor):
        self.mean = torch.tensor(image_processor.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(image_processor.image_std, dtype=torch.float32).view(1, 3, 1, 1)


class _DecodeDataset(Dataset):
    """Product i -> (i, uint8 (3, H, W)) or (i, None) when the image cannot be read."""

    def __init__(self, catalog: Catalog, products: Sequence[Product], preprocess: ImagePreprocessor):
        self.catalog, self.products, self.preprocess = catalog, list(products), preprocess
        self.norm = _MeanStd(preprocess.image_processor)

    def __len__(self) -> int:
        return len(self.products)

    def __getitem__(self, index: int):
        product = self.products[index]
        try:
            image = self.catalog.load_image(product)
        except ImageError as exc:
            log.warning("skipping product %s: %s", product.id, exc)
            return index, None
        pixels = self.preprocess([image])  # (1, 3, H, W) normalised float32
        restored = (pixels * self.norm.std + self.norm.mean) * 255.0
        return index, restored.round_().clamp_(0, 255).to(torch.uint8)[0]


def _stack(items) -> tuple[list[int], torch.Tensor | None, list[bool]]:
    """One tensor per batch: a worker sending one shared-memory tensor per image runs out of file handles."""
    images = [image for _, image in items if image is not None]
    return [index for index, _ in items], torch.stack(images) if images else None, [im is not None for _, im in items]


class ImageCache:
    """uint8 pixels (N, 3, H, W) of `products`, by product id; failed images are counted and absent."""

    def __init__(self, catalog: Catalog, products: Sequence[Product], image_processor, num_workers: int,
                 progress: bool = True):
        started = time.perf_counter()
        preprocess = ImagePreprocessor(image_processor)
        self.norm = _MeanStd(image_processor)
        dataset = _DecodeDataset(catalog, products, preprocess)
        loader = DataLoader(dataset, batch_size=DECODE_BATCH, shuffle=False, num_workers=num_workers,
                            collate_fn=_stack)
        self.row: dict[int, int] = {}
        parts: list[torch.Tensor] = []
        self.failed = 0
        for indices, images, readable in tqdm(loader, desc="decode images", unit="batch", disable=not progress):
            self.failed += readable.count(False)
            for index in (i for i, ok in zip(indices, readable) if ok):
                self.row[products[index].id] = len(self.row)
            if images is not None:
                parts.append(images)
        if not parts:
            raise ValueError("image cache: no readable images")
        self.pixels = torch.cat(parts)  # (N, 3, H, W) uint8
        self.image_size = int(self.pixels.shape[-1])
        log.info("image cache: %d images (%.0f MB), %d unreadable skipped, built in %.1fs with %d workers",
                 len(self.row), self.pixels.numel() / 1024**2, self.failed, time.perf_counter() - started,
                 num_workers)

    def __contains__(self, product_id: int) -> bool:
        return product_id in self.row

    def get(self, product_id: int) -> torch.Tensor | None:
        """uint8 (3, H, W), or None if the image could not be read when the cache was built."""
        row = self.row.get(product_id)
        return None if row is None else self.pixels[row]

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 (..., 3, H, W) -> float32 normalised like the image processor."""
        squeeze = pixels.ndim == 3
        x = pixels.unsqueeze(0) if squeeze else pixels
        x = (x.float() / 255.0 - self.norm.mean) / self.norm.std
        return x[0] if squeeze else x


def augment_tensor(pixels: torch.Tensor, rng: random.Random, crop_scale, aspect_jitter, flip_p: float) -> torch.Tensor:
    """Random resized crop (crop_scale of the area, aspect in aspect_jitter) back to (H, W), and a flip.

    pixels: uint8 (3, H, W) -> uint8 (3, H, W). Same draws as data.augment on PIL images.
    """
    _, height, width = pixels.shape
    area_scale = rng.uniform(*crop_scale)
    aspect = math.exp(rng.uniform(math.log(aspect_jitter[0]), math.log(aspect_jitter[1])))
    crop_w = min(width, max(1, round(width * math.sqrt(area_scale * aspect))))
    crop_h = min(height, max(1, round(height * math.sqrt(area_scale / aspect))))
    left = rng.randint(0, width - crop_w)
    top = rng.randint(0, height - crop_h)
    crop = pixels[:, top:top + crop_h, left:left + crop_w]
    if (crop_h, crop_w) != (height, width):
        crop = F.interpolate(crop.unsqueeze(0).float(), size=(height, width), mode="bilinear",
                             align_corners=False, antialias=False)[0].round_().clamp_(0, 255).to(torch.uint8)
    if rng.random() < flip_p:
        crop = crop.flip(-1)
    return crop
