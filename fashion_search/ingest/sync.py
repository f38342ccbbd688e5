"""Sync plan: the catalog is the source of truth, the store is made equal to it.

Per product, comparing the catalog's fingerprints with the stored ones:
  added           in the catalog, not stored                      -> embed
  re_embedded     stored, image bytes changed                     -> embed again (payload too)
  payload_updated stored, same image, other metadata              -> overwrite the payload only
  deleted         stored, gone from the catalog (or its image became unreadable) -> delete
  unchanged       both fingerprints equal                         -> nothing
Every step is idempotent and keyed by product id, so a run killed anywhere and rerun converges to
the same store. The deletion guard runs before the first write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from fashion_search.ingest.config import ConfigError
from fashion_search.ingest.fingerprints import Fingerprint
from fashion_search.store.base import VECTOR_KEY
from fashion_search.store.lexical import PHOTO_TAGS_KEY, document_text

logger = logging.getLogger(__name__)

DEFAULT_MAX_DELETE_SHARE = 0.10
COUNT_NAMES = ("added", "re_embedded", "payload_updated", "deleted", "unchanged")


class DeletionGuardError(ConfigError):
    """A sync would delete more of the store than allowed; nothing was written. The fix is a flag."""


@dataclass
class SyncPlan:
    add: list[int] = field(default_factory=list)
    reembed: list[int] = field(default_factory=list)
    payload_only: list[int] = field(default_factory=list)
    delete: list[int] = field(default_factory=list)      # gone from the catalog
    drop_unreadable: list[int] = field(default_factory=list)  # still listed, but the image cannot be read
    unchanged: list[int] = field(default_factory=list)
    adopted: list[int] = field(default_factory=list)   # had no fingerprints: vector kept (see plan_sync)
    stored: int = 0

    @property
    def to_embed(self) -> list[int]:
        return self.add + self.reembed

    @property
    def to_delete(self) -> list[int]:
        return self.delete + self.drop_unreadable

    def summary(self) -> dict:
        return {"stored_before": self.stored, "to_add": len(self.add), "to_re_embed": len(self.reembed),
                "to_update_payload": len(self.payload_only), "to_delete": len(self.delete),
                "to_drop_unreadable": len(self.drop_unreadable), "unchanged": len(self.unchanged),
                "adopted_without_fingerprints": len(self.adopted)}


def plan_sync(wanted: dict[int, Fingerprint], stored: dict[int, tuple]) -> SyncPlan:
    """wanted: the catalog's candidates in catalog order; stored: {id: (image fp, metadata fp)}."""
    plan = SyncPlan(stored=len(stored))
    for product_id, fingerprint in wanted.items():
        have = stored.get(product_id)
        if fingerprint.image is None:
            # Unreadable bytes: never a made-up vector; a stale vector of an older image goes too,
            # so the store holds what a clean ingest of today's catalog would hold.
            if have is not None:
                plan.drop_unreadable.append(product_id)
        elif have is None:
            plan.add.append(product_id)
        elif have[0] is None:
            # Stored before fingerprints existed (same model, or this would be a rebuild): keep the
            # vector and write the fingerprints, instead of re-embedding the whole catalog once.
            plan.adopted.append(product_id)
            plan.payload_only.append(product_id)
        elif have[0] != fingerprint.image:
            plan.reembed.append(product_id)
        elif have[1] != fingerprint.metadata:
            plan.payload_only.append(product_id)
        else:
            plan.unchanged.append(product_id)
    plan.delete = sorted(set(stored) - set(wanted))
    return plan


def check_deletion_guard(plan: SyncPlan, max_share: float, where: str) -> None:
    """Refuse a run that deletes more than max_share of the store: an emptied, truncated or mistyped
    catalog must never wipe an index. Called before anything is written."""
    if not plan.stored or not plan.to_delete:
        return
    share = len(plan.to_delete) / plan.stored
    if share > max_share:
        raise DeletionGuardError(
            f"this sync would delete {len(plan.to_delete)} of the {plan.stored} products in {where} "
            f"({share:.0%}, more than the allowed {max_share:.0%}); nothing was written. Check the catalog "
            f"path and contents; if the catalog really shrank, rerun with --max-delete-share {share:.2f} "
            "(or higher, up to 1.0)")


def apply_metadata_changes(store, plan: SyncPlan, payload_for) -> None:
    """Deletes and payload-only updates: cheap, no model needed; run before the embedding."""
    if plan.to_delete:
        store.delete(plan.to_delete)
        logger.info("deleted %d products gone from the catalog and %d with unreadable images",
                    len(plan.delete), len(plan.drop_unreadable))
    if plan.adopted:
        logger.warning("%d stored products had no fingerprints (written before sync existed): their vectors "
                       "are kept and fingerprinted now; pass --rebuild to re-embed everything", len(plan.adopted))
    if plan.payload_only:
        before = {hit.id: hit.payload for hit in store.retrieve(list(plan.payload_only))}  # one read for both
        payloads = _keep_photo_tags(before, {i: payload_for(i) for i in plan.payload_only})
        renamed = _renamed(store, before, payloads)
        if renamed:
            # The words' sparse vector is derived from the name at upsert, so a renamed product is written
            # again whole: its stored image vector (no re-embedding) with the new payload and words.
            stored = store.retrieve(renamed, with_vectors=True)
            vectors = np.asarray([hit.payload[VECTOR_KEY] for hit in stored], dtype=np.float32)
            store.upsert([hit.id for hit in stored], vectors, [payloads[hit.id] for hit in stored])
        others = [i for i in plan.payload_only if i not in set(renamed)]
        if others:
            store.overwrite_payloads(others, [payloads[i] for i in others])
        logger.info("updated the payload of %d products (no re-embedding; %d renamed, their words rewritten)",
                    len(plan.payload_only), len(renamed))


def _keep_photo_tags(before: dict[int, dict], payloads: dict[int, dict]) -> dict[int, dict]:
    """New metadata keeps the stored photo tags: they come from the image, which did not change
    (a changed image is re-embedded and re-tagged, not updated here). before: the stored payloads."""
    stored = {i: payload.get(PHOTO_TAGS_KEY) for i, payload in before.items()}
    return {i: {**payload, PHOTO_TAGS_KEY: stored[i]} if stored.get(i) else payload for i, payload in payloads.items()}


def _renamed(store, before: dict[int, dict], payloads: dict[int, dict]) -> list[int]:
    """Ids whose words (name, description, photo tags) change, in a store that matches words; [] otherwise.
    before: the stored payloads."""
    if not getattr(store, "has_words", False):
        return []
    return [i for i, payload in payloads.items()
            if (document_text(before[i]) if i in before else None) != document_text(payload)]


def sync_counts(plan: SyncPlan, embedded_ids: set[int]) -> dict:
    """The five counts of what the run did. Together with the unreadable images (reported apart)
    they account for every catalog product once: added + re_embedded + payload_updated + unchanged
    + unreadable == catalog size; deleted counts stored products the catalog no longer has."""
    return {
        "added": sum(1 for i in plan.add if i in embedded_ids),
        "re_embedded": sum(1 for i in plan.reembed if i in embedded_ids),
        "payload_updated": len(plan.payload_only),
        "deleted": len(plan.delete),
        "unchanged": len(plan.unchanged),
    }
