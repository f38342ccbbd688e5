"""A ~100k-parameter CLIP for tests: built in well under a second, deterministic, fully offline.

Usage from any test module (pytest puts tests/ on sys.path):

    from tiny_model import build_tiny_clip
    model_dir = build_tiny_clip(tmp_path / "clip")          # then load_clip(str(model_dir))

It is the real `small` preset code path (models.build_small) with every size shrunk, so a test that
passes with it exercises the same tokenizer, config and processor files a trained model has.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

from fashion_search.model.clip import build_small

# Overrides of SMALL_PRESET; 32 px images keep the vision tower cheap (the processor resizes anything).
TINY_OVERRIDES = dict(
    vocab_size=400,
    image_size=32,
    patch_size=8,
    vision_hidden=48,
    vision_layers=2,
    text_hidden=48,
    text_layers=2,
    heads=2,
    mlp_ratio=2,
    projection_dim=16,
    max_position_embeddings=32,
)

_GENDERS = ["Men", "Women", "Boys", "Girls", "Unisex"]
_COLOURS = ["Black", "White", "Blue", "Navy Blue", "Red", "Green", "Grey", "Brown", "Pink", "Yellow"]
_ARTICLES = ["Tshirts", "Shirts", "Jeans", "Casual Shoes", "Watches", "Handbags", "Kurtas", "Dresses", "Sandals", "Caps"]
_USAGES = ["Casual", "Formal", "Sports", "Ethnic", "Party"]
_SEASONS = ["Summer", "Winter", "Fall", "Spring"]


def default_captions() -> list[str]:
    """A fixed fashion vocabulary (the words synthetic and real catalogs use)."""
    captions = [
        f"a photo of {colour.lower()} {article.lower()} for {gender.lower()}, {usage.lower()} wear"
        for gender, colour, article, usage in itertools.product(_GENDERS, _COLOURS, _ARTICLES, _USAGES[:2])
    ]
    captions += [f"{season} {year} collection" for season, year in itertools.product(_SEASONS, range(2008, 2019))]
    captions += [f"{u} {a}" for u, a in itertools.product(_USAGES, _ARTICLES)]
    return captions


def build_tiny_clip(out_dir, captions: Iterable[str] | None = None) -> Path:
    """Save a tiny CLIP (model + tokenizer + processor) into out_dir and return that path."""
    return build_small(default_captions() if captions is None else captions, out_dir, seed=0, **TINY_OVERRIDES)
