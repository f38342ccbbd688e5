"""Ingest-tags section: the real ingest job with a photo tagger (`--tagger`: every photo also goes
through the tagger's network, its tags into the payload) vs the same job without one, on the same
products, the pairs interleaved as in the ingest_words section (ingest_words.paired_ingest), with the
same three rates (loop, indexed, job).

The tagger is the default network (tagging/network.py) over the 130 tags a training on the real catalog
yields, untrained: a photo costs what it costs a trained one (the same layers whatever the weights), so the
bench needs no `make tagger` first. No target: docs/tagging.md weighs the cost against what tags find.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fashion_search.bench.ingest_words import paired_ingest
from fashion_search.store import open_store

TAGS = 130    # the vocabulary of the tagger trained on the real catalog's 37k training names (docs/tagging.md)


def _check_tags(store: str, collection: str, side: str, images: int) -> None:
    """The side measured what it claims: a tagger is part of the store's identity exactly when it should be."""
    with open_store(store, collection=collection) as opened:
        tagged = "tagger" in (opened.model_info() or {})
        if tagged != (side == "with_tags") or opened.count() != images:
            raise RuntimeError(f"ingest {side} built a store whose identity {'names' if tagged else 'lacks'} a tagger, "
                               f"with {opened.count()} of {images} points: the comparison is void")


def build_tagger(directory: Path, tags: int = TAGS) -> str:
    import torch

    from fashion_search.tagging import PhotoTagger
    from fashion_search.tagging.network import TagNetwork

    torch.manual_seed(0)
    return str(PhotoTagger(TagNetwork(tags), [f"tag{k}" for k in range(tags)]).save(directory))


def run(model_dir: str, catalog_dir: str, images: int, batch_size: int, num_workers: int, reps: int,
        device: str | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-tagger-") as tmp:
        tagger = build_tagger(Path(tmp) / "tagger")
        out = paired_ingest(model_dir, catalog_dir, images, batch_size, num_workers, reps,
                            {"with_tags": {"tagger": tagger}, "without_tags": {}}, _check_tags, device,
                            prefix="bench-ingest-tags-")
    out["tags"] = TAGS
    return out
