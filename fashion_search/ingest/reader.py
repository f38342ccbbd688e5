"""Read stage, main-process side: which products to ingest, which are still missing, who does which.

Everything here is a pure function of the catalog, the split file and the store's answers, so every
process of a distributed run computes the same candidate list and the same shards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

# existing_ids is asked this many candidate ids at a time: one round trip per chunk keeps a resume
# of a 40k catalog to a few dozen store calls without building one huge filter.
EXISTING_CHECK_CHUNK = 1024

T = TypeVar("T")


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    if size <= 0:
        raise ValueError(f"chunk size must be > 0, got {size}")
    for start in range(0, len(items), size):
        yield items[start:start + size]


def select_products(products: Iterable, allowed_ids: Iterable[int] | None = None,
                    limit: int | None = None) -> dict:
    """Candidate products by id, in catalog order: only `allowed_ids` (a split) if given, at most `limit`."""
    allowed = None if allowed_ids is None else {int(i) for i in allowed_ids}
    selected: dict = {}
    for product in products:
        if allowed is not None and product.id not in allowed:
            continue
        selected[product.id] = product
        if limit is not None and len(selected) >= limit:
            break
    if allowed is not None:
        absent = len(allowed) - len(allowed & selected.keys())
        if absent and limit is None:
            logger.warning("%d ids of the split are not in the catalog (ignored)", absent)
    return selected


def load_split_ids(splits_file: str, split: str) -> list[int]:
    from fashion_search.catalog.splits import load_splits

    splits = load_splits(splits_file)
    if split not in splits:
        raise ValueError(f"split {split!r} not in {splits_file} (it has {sorted(splits)}); "
                         f"pass one of those to --split")
    return [int(i) for i in splits[split]]


def missing_ids(store, candidate_ids: Sequence[int], chunk: int = EXISTING_CHECK_CHUNK,
                show_progress: bool = False) -> list[int]:
    """Candidates the store does not hold yet, order kept. Upsert is the commit point, so whatever a
    killed run stored is skipped here and whatever it did not store is redone."""
    missing: list[int] = []
    chunks = chunked(list(candidate_ids), chunk)
    total = -(-len(candidate_ids) // chunk)
    for ids in tqdm(chunks, total=total, desc="check stored", unit="chunk", disable=not show_progress):
        present = store.existing_ids(list(ids))
        missing.extend(i for i in ids if i not in present)
    return missing


def shard_ids(ids: Sequence[T], rank: int, world_size: int) -> list[T]:
    """This process's share: every world_size-th id starting at rank. Strided rather than contiguous so
    shard sizes differ by at most one and each shard spans the catalog evenly (no rank gets all the
    big images of one category). The shards are disjoint and together cover `ids` exactly."""
    if world_size <= 0 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank} world_size={world_size}")
    return list(ids[rank::world_size])


def batches_per_process(n_ids: int, world_size: int, batch_size: int) -> int:
    """Batches the busiest process runs; gathered writes need every process to run this many steps."""
    largest_shard = -(-n_ids // world_size)
    return -(-largest_shard // batch_size)
