"""The store readers use: it answers every call from the version being served *now*, and follows a
switch (or a rollback) without a restart.

Each call takes the current version's store, runs on it alone (one answer, one version) and releases
it; when the pointer moves, the next call opens the new version and the old one closes once its
in-flight calls have returned. Edge polls the manifest with one stat per call; the server path asks
for the alias at most every `refresh_s` seconds.

Writes through this object (tests, bench, eval building their own small stores) go to the served
version too, exactly as before versions existed; the ingest job writes new versions directly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fashion_search.store.base import CollectionNotFound, StoreError, VectorStore, same_model

log = logging.getLogger(__name__)


_OWN = frozenset({"versions", "legacy_opener", "collection", "store_kw", "refresh_s", "on_close", "switches",
                  "_lock", "_entry", "_checked_at", "_opening", "_closed"})


def _close_later(store) -> None:
    """Close a retired version off the query path: an Edge close flushes (~0.5 s on a busy host)."""
    threading.Thread(target=store.close, name="close-retired-version", daemon=True).start()


class _Entry:
    def __init__(self, key, store, version):
        self.key, self.store, self.version = key, store, version
        self.users, self.retired = 0, False


class ServingStore(VectorStore):
    def __init__(self, versions, legacy_opener, collection: str, store_kw: dict | None = None,
                 refresh_s: float = 0.0, on_close=None, eager: bool = False):
        self.versions = versions              # EdgeVersions / ServerVersions
        self.legacy_opener = legacy_opener    # opens the unversioned store (no version served yet)
        self.collection = collection
        self.store_kw = store_kw or {}
        self.refresh_s = refresh_s
        self.on_close = on_close              # releases what the versions share (the server client)
        self._lock = threading.RLock()
        self._entry: _Entry | None = None
        self._checked_at = 0.0
        self._opening = False
        self._closed = False
        self.switches = 0
        if eager:
            self._release(self._acquire())   # open now: an Edge shard locked by another process fails here

    # --- which store answers ---------------------------------------------------------------
    def _open_current(self, key) -> _Entry | None:
        """A new entry, or None when the pointer's file changed but it names the version served
        already (a writer registered a building version): an Edge shard cannot be opened twice."""
        version = self.versions.serving()
        current = self._entry
        if current is not None and (current.version.location if current.version else None) == (
                version.location if version else None):
            with self._lock:
                current.key, current.version = key, version
            return None
        if version is None:
            return _Entry(key, self.legacy_opener(), None)
        return _Entry(key, self.versions.open(version, **self.store_kw), version)

    def _acquire(self) -> _Entry:
        key = None
        with self._lock:
            if self._closed:
                raise StoreError(f"the store for collection {self.collection!r} was closed; open it again")
            now = time.monotonic()
            if self._entry is None or (not self._opening and now - self._checked_at >= self.refresh_s):
                self._checked_at = now
                key = self.versions.serving_key()
                if self._entry is not None and key == self._entry.key:
                    key = None
                elif self._entry is None or self._entry.version is None:
                    # Nothing (or the unversioned store) served yet: the others wait for this open.
                    self._install(self._open_current(key))
                    key = None
                else:
                    self._opening = True
            if key is None:
                self._entry.users += 1
                return self._entry
        # Opened outside the lock: the other readers keep answering from the old version meanwhile.
        try:
            fresh = self._open_current(key)
        except StoreError as err:
            fresh = err
        with self._lock:
            self._opening = False
            self._install(fresh)
            self._entry.users += 1
            return self._entry

    def _install(self, fresh) -> None:
        if isinstance(fresh, StoreError):
            if self._entry is None:
                raise fresh
            log.warning("cannot open the new served version yet (%s); still serving the previous one", fresh)
            return
        if fresh is None:
            return
        if self._entry is not None and self._entry.key == fresh.key:
            fresh.store.close()     # two first calls raced to open the same version
            return
        old, self._entry = self._entry, fresh
        if old is not None:
            self.switches += 1
            log.info("now serving %s", fresh.version.name if fresh.version else "the unversioned store")
            old.retired = True
            if old.users == 0:
                _close_later(old.store)

    def _release(self, entry: _Entry) -> None:
        with self._lock:
            entry.users -= 1
            if entry.retired and entry.users == 0:
                _close_later(entry.store)

    def _run(self, method: str, *args, **kwargs):
        for attempt in (0, 1):
            entry = self._acquire()
            try:
                return getattr(entry.store, method)(*args, **kwargs)
            except CollectionNotFound:
                # A server switching from an unversioned collection drops it a moment before the
                # alias takes its name: look again once.
                if attempt:
                    raise
                with self._lock:
                    self._checked_at = 0.0
                time.sleep(0.05)
            finally:
                self._release(entry)

    @contextmanager
    def pinned(self):
        """The served version's own store, held for several calls that must agree (results and their
        facets, a reader's bookkeeping): `with store.pinned() as (version_name, backend): ...`."""
        entry = self._acquire()
        try:
            yield (entry.version.name if entry.version else None), entry.store
        finally:
            self._release(entry)

    def for_model(self, identity: dict) -> ModelBoundStore:
        """A view for one query encoder: its searches refuse a version built by another model."""
        return ModelBoundStore(self, identity)

    def serving_version(self) -> str | None:
        entry = self._acquire()
        try:
            return entry.version.name if entry.version else None
        finally:
            self._release(entry)

    # --- the VectorStore interface, delegated ----------------------------------------------------
    def ensure_collection(self, dim, model=None, recreate=False):
        return self._run("ensure_collection", dim, model=model, recreate=recreate)

    def upsert(self, ids, vectors, payloads):
        return self._run("upsert", ids, vectors, payloads)

    def delete(self, ids):
        return self._run("delete", ids)

    def overwrite_payloads(self, ids, payloads):
        return self._run("overwrite_payloads", ids, payloads)

    @property
    def has_words(self) -> bool:
        """Whether the version serving now holds the products' words (built with the sparse vector)."""
        entry = self._acquire()
        try:
            return bool(entry.store.has_words)
        finally:
            self._release(entry)

    def search(self, vector, filters=None, limit=10, exact=False, boost=(), words=None, fusion=None, diversity=None,
               context_words=None):
        return self._run("search", vector, filters=filters, limit=limit, exact=exact, boost=boost, words=words,
                         fusion=fusion, diversity=diversity, context_words=context_words)

    def more_like_this(self, product_id, filters=None, limit=10):
        return self._run("more_like_this", product_id, filters=filters, limit=limit)

    def _search_excluding(self, vector, filters, exclude_id, limit):
        return self._run("_search_excluding", vector, filters, exclude_id, limit)

    def facets(self, field, filters=None, limit=200):
        return self._run("facets", field, filters=filters, limit=limit)

    def retrieve(self, ids, with_vectors=False):
        return self._run("retrieve", ids, with_vectors=with_vectors)

    def count(self, filters=None):
        return self._run("count", filters)

    def existing_ids(self, ids):
        return self._run("existing_ids", ids)

    def scroll(self, batch=256, with_vectors=True) -> Iterator:
        # One version for the whole scroll: the entry is held until the iteration ends.
        entry = self._acquire()
        try:
            yield from entry.store.scroll(batch=batch, with_vectors=with_vectors)
        finally:
            self._release(entry)

    def model_info(self):
        return self._run("model_info")

    def optimize(self):
        return self._run("optimize")

    def stats(self) -> dict:
        return self._run("stats")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            entry, self._entry = self._entry, None
        if entry is not None:
            entry.store.close()
        if self.on_close is not None:
            self.on_close()
            self.on_close = None

    def __getattr__(self, name):
        # Backend-specific attributes (path, client, options...) of the store serving now.
        if name.startswith("__") or name in _OWN:   # not set yet (during __init__): no recursion
            raise AttributeError(name)
        entry = self._acquire()
        try:
            return getattr(entry.store, name)
        finally:
            self._release(entry)


class ModelBoundStore:
    """What a reader with a query encoder searches through (one per reader, nothing shared to race
    on): each search runs on one pinned version after checking that version's model, so a query
    vector never meets another model's vectors in the moment between a switch and the reader's
    reload. Everything else is the ServingStore's."""

    def __init__(self, serving: ServingStore, identity: dict):
        self.serving, self.identity = serving, dict(identity)

    def _checked(self, method: str, *args, **kwargs):
        with self.serving.pinned() as (version, backend):
            check_model(version, backend, self.identity, self.serving.collection)
            return getattr(backend, method)(*args, **kwargs)

    def search(self, vector, filters=None, limit=10, exact=False, boost=(), words=None, fusion=None, diversity=None,
               context_words=None):
        return self._checked("search", vector, filters=filters, limit=limit, exact=exact, boost=boost, words=words,
                             fusion=fusion, diversity=diversity, context_words=context_words)

    def more_like_this(self, product_id, filters=None, limit=10):
        return self._checked("more_like_this", product_id, filters=filters, limit=limit)

    def __getattr__(self, name):
        return getattr(self.serving, name)


def check_model(version: str | None, backend, identity: dict, collection: str) -> None:
    """Refuse a version whose vectors come from another model than the query encoder's, naming the fix."""
    recorded = backend.model_info()
    if recorded is not None and not same_model(recorded, identity):
        raise StoreError(
            f"{version or 'the served index'} of collection {collection!r} was built with "
            f"model {recorded.get('name')!r} (weights {str(recorded.get('weights_hash'))[:12]}) but "
            f"queries are encoded with {identity.get('name')!r} (weights "
            f"{str(identity.get('weights_hash'))[:12]}): reload with that model (restart the page, "
            f"or pass --model {recorded.get('name')}), or serve the previous version again with "
            "`python -m fashion_search.store.manage rollback`")


@contextmanager
def pin(store):
    """(version name or None, backend): the version serving now, held until the block ends, for
    reads that must agree (a page's facet counts and its results); a plain store is its own backend."""
    if not hasattr(store, "pinned"):
        yield None, store
        return
    with store.pinned() as held:
        yield held
