"""High-quality subsample and deterministic train/val/test splits by product id.

Both are keyed by a hash of (seed, product id), never by position or by a shared random stream, so adding
products to a catalog never moves the products already there, and training, ingest and evaluation agree on
the split by loading one JSON file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Iterable

from fashion_search.catalog.captions import singular
from fashion_search.catalog.products import Product

logger = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "val", "test")
SPLITS_FORMAT = "fashion-search-splits/1"
KEY_FIELDS = ("gender", "masterCategory", "subCategory", "articleType", "baseColour")


class SplitsError(ValueError):
    """A splits file that is missing, malformed or disagrees with its own seed and fractions."""


class Splits(dict):
    """dict[str, list[int]] ("train"/"val"/"test") that also remembers how it was drawn."""

    def __init__(self, parts: dict[str, list[int]], seed: int, val_frac: float, test_frac: float):
        super().__init__(parts)
        self.seed, self.val_frac, self.test_frac = seed, val_frac, test_frac


def unit_hash(seed: int, product_id: int) -> float:
    """A stable uniform number in [0, 1) for (seed, id); the same on every machine and Python version."""
    digest = hashlib.blake2b(f"{seed}:{product_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _normal_name(name: str) -> str:
    return " ".join(name.lower().split())


def is_high_quality(p: Product) -> bool:
    """A product fit for training pairs. Quality means all of:

    - an image: the catalog already dropped products whose image file/bytes are missing (and, when opened
      with verify_images=True, those that do not decode); here the reference must be present;
    - the key fields gender, masterCategory, subCategory, articleType and baseColour are all present;
    - a name with at least 2 words that is not just the article type ("Tshirts", "Tshirt").

    "No duplicate name" is a property of a set, not of one product: `quality_subsample` keeps the first
    product of each name (case- and space-insensitive) and drops the rest.
    """
    if not p.image_ref or any(getattr(p, f) is None for f in KEY_FIELDS) or not p.name:
        return False
    name = _normal_name(p.name)
    return len(name.split()) >= 2 and name not in {_normal_name(p.articleType), singular(p.articleType)}


def _allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Proportional allocation of n over groups (largest remainder); every group gets >= 1 when n allows."""
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    shares = {g: n * size / total for g, size in sizes.items()}
    minimum = 1 if n >= len(sizes) else 0
    quota = {g: min(sizes[g], max(minimum, math.floor(s))) for g, s in shares.items()}
    # Hand out what is left by largest remainder, or take back the excess of the minimums from the
    # groups furthest above their share; ties go to the larger group, then the name, so the result is deterministic.
    while (left := n - sum(quota.values())) != 0:
        if left > 0:
            open_groups = [g for g in sizes if quota[g] < sizes[g]]
            ranked = sorted(open_groups, key=lambda g: (quota[g] - shares[g], -sizes[g], g))
            for g in ranked[:left]:
                quota[g] += 1
        else:
            above_minimum = [g for g in sizes if quota[g] > minimum]
            ranked = sorted(above_minimum, key=lambda g: (shares[g] - quota[g], -sizes[g], g))
            for g in ranked[:-left]:
                quota[g] -= 1
    return quota


def quality_subsample(products: Iterable[Product], n: int, seed: int) -> list[Product]:
    """Up to n high-quality products (see is_high_quality), stratified by articleType.

    Each article type gets its proportional share of n (at least one each when n >= the number of types);
    within a type the products with the smallest hash of (seed, id) are taken, so the choice is the same
    for the same catalog and seed, whatever the input order. Returned in catalog order.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1 (got {n})")
    by_type: dict[str, list[Product]] = defaultdict(list)
    pool_in_order: list[Product] = []
    seen_names: set[str] = set()
    low_quality = duplicate_names = 0
    for p in products:
        if not is_high_quality(p):
            low_quality += 1
            continue
        name = _normal_name(p.name)
        if name in seen_names:
            duplicate_names += 1
            continue
        seen_names.add(name)
        by_type[p.articleType].append(p)
        pool_in_order.append(p)
    pool = len(pool_in_order)
    logger.info("quality pool: %d products (%d low quality, %d duplicate names dropped), %d article types",
                pool, low_quality, duplicate_names, len(by_type))
    if pool < n:
        logger.warning("asked for %d high-quality products but only %d qualify: taking all of them", n, pool)
    quota = _allocate({t: len(group) for t, group in by_type.items()}, n)
    chosen: set[int] = set()
    for article_type, group in by_type.items():
        ranked = sorted(group, key=lambda p: unit_hash(seed, p.id))
        chosen.update(p.id for p in ranked[: quota[article_type]])
    return [p for p in pool_in_order if p.id in chosen]


def assign_split(product_id: int, seed: int, val_frac: float, test_frac: float) -> str:
    """The split of one id: stable, so a product added later lands where split_ids would put it."""
    u = unit_hash(seed, product_id)
    return "test" if u < test_frac else "val" if u < test_frac + val_frac else "train"


def _check_fractions(val_frac: float, test_frac: float) -> None:
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise ValueError(f"need 0 <= val_frac, test_frac and val_frac + test_frac < 1 "
                         f"(got val_frac={val_frac}, test_frac={test_frac})")


def split_ids(ids, seed: int, val_frac: float, test_frac: float) -> Splits:
    """Partition product ids into train/val/test by hash of (seed, id); each list sorted."""
    _check_fractions(val_frac, test_frac)
    ids = [int(i) for i in ids]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{len(ids) - len(set(ids))} duplicate ids: split unique product ids")
    parts: dict[str, list[int]] = {name: [] for name in SPLIT_NAMES}
    for product_id in sorted(ids):
        parts[assign_split(product_id, seed, val_frac, test_frac)].append(product_id)
    return Splits(parts, seed, val_frac, test_frac)


def save_splits(path, splits: dict, seed: int | None = None, val_frac: float | None = None,
                test_frac: float | None = None) -> None:
    """Write splits as JSON with the seed and fractions that drew them (taken from a Splits, or given).

    A hand-made dict without a seed is saved too (seed null); loading then checks its structure only.
    """
    seed = getattr(splits, "seed", None) if seed is None else seed
    val_frac = getattr(splits, "val_frac", None) if val_frac is None else val_frac
    test_frac = getattr(splits, "test_frac", None) if test_frac is None else test_frac
    drawn = (seed, val_frac, test_frac)
    if any(v is not None for v in drawn) and any(v is None for v in drawn):
        raise ValueError(f"give all of seed, val_frac, test_frac or none of them (got {drawn})")
    if seed is not None:
        _check_fractions(val_frac, test_frac)
    checked = _validated(dict(splits), seed, val_frac, test_frac, source="splits to save")
    document = {"format": SPLITS_FORMAT, "hash": "blake2b-64 of 'seed:id'", "seed": seed,
                "val_frac": val_frac, "test_frac": test_frac,
                "counts": {name: len(checked[name]) for name in SPLIT_NAMES}, **checked}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees a half-written file
    logger.info("wrote splits %s to %s", document["counts"], path)


def load_splits(path) -> Splits:
    """Read and validate a splits file: format, disjoint unique ids, and (when it has a seed) every id where
    split_ids would put it, so a file drawn with other settings or edited by hand is refused."""
    path = Path(path)
    if not path.is_file():
        raise SplitsError(f"splits file {path} not found: create it with split_ids + save_splits "
                          f"(the training job writes one into its run directory)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SplitsError(f"splits file {path} is not readable JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != SPLITS_FORMAT:
        raise SplitsError(f"{path} is not a {SPLITS_FORMAT} file (format={document.get('format')!r})"
                          if isinstance(document, dict) else f"{path} is not a splits object")
    missing = [k for k in ("seed", "val_frac", "test_frac") + SPLIT_NAMES if k not in document]
    if missing:
        raise SplitsError(f"{path} lacks {missing}: regenerate it with save_splits")
    parts = {name: document[name] for name in SPLIT_NAMES}
    seed, val_frac, test_frac = document["seed"], document["val_frac"], document["test_frac"]
    try:
        if seed is not None:
            _check_fractions(val_frac, test_frac)
        return Splits(_validated(parts, seed, val_frac, test_frac, source=str(path)), seed, val_frac, test_frac)
    except (TypeError, ValueError) as exc:
        raise SplitsError(f"{path}: {exc}") from exc


def _validated(parts: dict, seed: int, val_frac: float, test_frac: float, source: str) -> dict[str, list[int]]:
    if set(parts) != set(SPLIT_NAMES):
        raise SplitsError(f"{source}: splits must be exactly {SPLIT_NAMES}, got {sorted(parts)}")
    seen: set[int] = set()
    for name in SPLIT_NAMES:
        ids = parts[name]
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise SplitsError(f"{source}: split {name!r} must be a list of integer ids")
        if seen.intersection(ids) or len(set(ids)) != len(ids):
            raise SplitsError(f"{source}: split {name!r} repeats ids or shares ids with another split")
        seen.update(ids)
        if seed is None:  # a hand-made split: nothing to recompute
            continue
        misplaced = [i for i in ids if assign_split(i, seed, val_frac, test_frac) != name]
        if misplaced:
            raise SplitsError(f"{source}: {len(misplaced)} ids in {name!r} (e.g. {misplaced[:3]}) do not belong "
                              f"there for seed={seed}, val_frac={val_frac}, test_frac={test_frac}; "
                              f"regenerate with split_ids")
    return {name: sorted(parts[name]) for name in SPLIT_NAMES}
