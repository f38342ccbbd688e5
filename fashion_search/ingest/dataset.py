"""Read stage, worker side: DataLoader workers decode and preprocess images while the main process
runs the model. A bad image never crashes a worker: the item becomes a marker with the reason, and
the collate function moves markers into the batch's `skipped` list."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset

from fashion_search.catalog.products import ImageError
from fashion_search.tagging.network import photo_pixels

logger = logging.getLogger(__name__)

# Errors a preprocessing step raises on a decodable but unusable image (odd mode, zero size, ...).
PREPROCESS_ERRORS = (ValueError, OSError, RuntimeError, TypeError)


@dataclass
class ImageBatch:
    ids: list[int]                      # products whose pixels are in `pixels`, same order
    pixels: torch.Tensor | None         # (B, 3, H, W); None when every image of the batch was bad
    photos: torch.Tensor | None = None  # (B, 3, 80, 60) uint8 for the photo tagger, when one is used
    skipped: list[dict] = field(default_factory=list)  # [{"id": ..., "reason": ...}]
    decode_seconds: float = 0.0         # summed worker time spent loading + preprocessing


class ProductImageDataset(Dataset):
    """(product id, catalog image ref) -> {"id", "pixels" (3, H, W) or None, "error", "seconds"}.

    `preprocess` maps a list of PIL images to pixel_values (N, 3, H, W); it must be picklable when
    workers are spawned rather than forked (Embedder.preprocess_images or an image processor is)."""

    def __init__(self, catalog, items: Sequence[tuple[int, str]], preprocess: Callable, photos: bool = False):
        self.catalog = catalog
        self.items = list(items)
        self.preprocess = preprocess
        self.photos = photos  # also the photo at the tagger's 60x80 (tagging/network.py)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        product_id, image_ref = self.items[index]
        started = time.perf_counter()
        try:
            image = self.catalog.load_image(image_ref)
        except ImageError as error:
            return _marker(product_id, f"image: {error}", started)
        try:
            pixels = self.preprocess([image])[0]
            photo = torch.from_numpy(photo_pixels(image)) if self.photos else None
        except PREPROCESS_ERRORS as error:
            return _marker(product_id, f"preprocess: {type(error).__name__}: {error}", started)
        return {"id": product_id, "pixels": pixels, "photo": photo, "error": None,
                "seconds": time.perf_counter() - started}


def _marker(product_id: int, reason: str, started: float) -> dict:
    return {"id": product_id, "pixels": None, "error": reason, "seconds": time.perf_counter() - started}


def collate_skipping_bad(items: list[dict]) -> ImageBatch:
    good = [item for item in items if item["error"] is None]
    skipped = [{"id": item["id"], "reason": item["error"]} for item in items if item["error"] is not None]
    pixels = torch.stack([item["pixels"] for item in good]) if good else None
    photos = torch.stack([item["photo"] for item in good]) if good and good[0].get("photo") is not None else None
    return ImageBatch(ids=[item["id"] for item in good], pixels=pixels, photos=photos, skipped=skipped,
                      decode_seconds=sum(item["seconds"] for item in items))


def make_image_loader(catalog, items: Sequence[tuple[int, str]], preprocess: Callable,
                      batch_size: int, num_workers: int, photos: bool = False) -> DataLoader:
    """Batches in `items` order (no shuffle: order is irrelevant to the store and keeps runs comparable)."""
    dataset = ProductImageDataset(catalog, items, preprocess, photos)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=collate_skipping_bad, drop_last=False,
        # A few batches in flight per worker keep the model busy without holding the catalog in memory.
        prefetch_factor=2 if num_workers > 0 else None,
        persistent_workers=False,
    )
