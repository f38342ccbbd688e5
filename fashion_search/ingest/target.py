"""Which index version an ingest run writes, and the switch at its end.

  first ingest, new model, --rebuild   a new version beside the served one, embedded from scratch;
                                       switched to only when complete and optimized
  same model (a sync)                  a copy of the served version (Edge: its shard directory;
                                       server: its collection, point by point), synced, then switched
                                       to: readers never see a half-synced index
A version left "building" by a killed run is resumed when the next run has the same kind and model
(syncing into it converges to the catalog like any other sync), unless it is an unfinished copy;
any other leftover is discarded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from fashion_search.store.base import same_model
from fashion_search.store.versions import BUILDING, COPY_PARTIAL, Version, to_remove

logger = logging.getLogger(__name__)


@dataclass
class Target:
    versions: object                # EdgeVersions | ServerVersions
    version: Version
    store: object                   # the VectorStore this run writes
    kind: str                       # "rebuild" | "sync"
    resumed: bool = False
    served_before: str | None = None
    extra: dict = field(default_factory=dict)


def is_server(location: str) -> bool:
    return location == ":memory:" or location.startswith(("http://", "https://", "local:"))


def open_versions(location: str, collection: str, base_store=None, **store_kw):
    """(versions, closer). base_store: an open ServerStore to share (qdrant-client local mode allows one
    client per directory, so an in-process reader and this job must share it)."""
    if is_server(location):
        from fashion_search.store import open_backend
        from fashion_search.store.server_versions import ServerVersions

        base = base_store if base_store is not None else open_backend(location, collection, **store_kw)
        return ServerVersions(base, collection), (lambda: None) if base_store is not None else base.close
    from fashion_search.store.versions import EdgeVersions

    return EdgeVersions(location, collection), (lambda: None)


def same_inputs(recorded: dict, wanted: dict) -> bool:
    """A version can be synced rather than rebuilt when its vectors and photo tags came from the same
    model weights and the same photo tagger (or none): tags from other weights would mix in one store."""
    return same_model(recorded, wanted) and _tagger_hash(recorded) == _tagger_hash(wanted)


def _tagger_hash(identity: dict | None) -> str | None:
    return ((identity or {}).get("tagger") or {}).get("sha256")


def _tagger_name(identity: dict | None) -> str:
    tagger = (identity or {}).get("tagger")
    return tagger.get("name") or tagger.get("sha256") if tagger else "none"


def choose_target(versions, dim: int, identity: dict, info: dict, rebuild: bool, store_kw: dict) -> Target:
    """info: what the version records (catalog, fingerprint scheme). Runs under versions.writing()."""
    serving = versions.serving()
    new_model = serving is None or serving.model is None or not same_inputs(serving.model, identity)
    if new_model and serving is not None:
        logger.info("the served %s was built with model %s and tagger %s; building a new version for %s and %s",
                    serving.name, (serving.model or {}).get("name"), _tagger_name(serving.model),
                    identity.get("name"), _tagger_name(identity))
    kind = "rebuild" if rebuild or new_model else "sync"
    served = serving.name if serving else None
    for leftover in sorted((v for v in versions.versions().values() if v.state == BUILDING),
                           key=lambda v: -v.number):
        resumable = (leftover.info.get("kind") == kind and leftover.model is not None
                     and same_inputs(leftover.model, identity)
                     and leftover.info.get("fingerprints") == info.get("fingerprints")
                     # an unfinished server copy lacks some served products: a sync on it would
                     # re-embed them and trip the deletion guard, so it is copied again instead
                     and leftover.info.get("copy") != COPY_PARTIAL)
        if resumable:
            store = _open_resumable(versions, leftover, dim, identity, store_kw, kind)
            if store is not None:
                logger.info("resuming %s left building by an interrupted run", leftover.name)
                return Target(versions, leftover, store, kind, resumed=True, served_before=served)
        logger.info("discarding %s, left building by an interrupted run", leftover.name)
        versions.discard(leftover)
    version = versions.begin(identity, {**info, "kind": kind}, clone_from=serving if kind == "sync" else None)
    store = versions.open(version, **store_kw)
    store.ensure_collection(dim, model=identity)
    if hasattr(versions, "set_record"):
        versions.set_record(version)
    logger.info("building %s (%s) beside the served %s", version.name, kind, served)
    return Target(versions, version, store, kind, served_before=served)


def _open_resumable(versions, version: Version, dim: int, identity: dict, store_kw: dict, kind: str):
    from fashion_search.store.base import StoreError

    store = None
    try:
        store = versions.open(version, **store_kw)
        store.ensure_collection(dim, model=identity)
    except StoreError as err:       # e.g. killed while its files were being created
        logger.warning("cannot resume %s (%s)", version.name, err)
        if store is not None:       # release its files before they are discarded
            store.close()
        return None
    # A rebuild builds the layout the flags ask for: a leftover of the other layout (a run with(out)
    # --no-words) is not this build. A sync's copy has the served version's layout whatever the flags
    # say (a sync keeps the layout it finds), so its leftover is resumed as it is.
    if kind == "rebuild" and store.has_words != store_kw.get("words", True):
        store.close()
        return None
    return store


def finish(target: Target, points: int, counts: dict, keep: int | None, changed: bool = True) -> dict:
    """Close the written version and make it the served one (one atomic step); drop old versions
    beyond `keep`. Returns what happened, for the report."""
    target.store.close()
    outcome = {"version": target.version.name, "kind": target.kind, "resumed": target.resumed,
               "served_before": target.served_before, "switched": False, "removed": []}
    if target.kind == "sync" and not changed and not target.resumed:
        # Nothing to publish: drop the copy instead of piling up identical versions.
        target.versions.discard(target.version)
        outcome["version"] = target.served_before
    else:
        target.versions.switch(target.version, info={"points": points, "counts": counts})
        outcome["switched"], outcome["switched_at"] = True, time.time()   # wall clock: readers elsewhere compare
        logger.info("switched readers to %s (was %s)", target.version.name, target.served_before)
    if keep is not None:
        serving = target.versions.serving()
        for old in to_remove(target.versions.versions(), serving, keep):
            target.versions.discard(old)
            outcome["removed"].append(old.name)
        if outcome["removed"]:
            logger.info("removed old versions %s (--keep %d)", outcome["removed"], keep)
    return outcome
