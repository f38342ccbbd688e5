"""Index versions on a Qdrant server (and qdrant-client local mode): collections <collection>__vNNNN,
the alias <collection> names the served one, each version's record sits in its collection metadata.
The switch is one update_collection_aliases request (delete alias + create alias), atomic on the server.
A sync copies the served collection into a new version (store/server_copy.py) and syncs the copy, as
Edge does, so no reader ever sees a half-synced collection.
See store/versions.py for the contract shared with the Edge backend.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time

import numpy as np
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ApiException

from fashion_search.store import server_copy
from fashion_search.store.base import VECTOR_KEY, StoreError
from fashion_search.store.server import METADATA_KEY, ServerStore
from fashion_search.store.versions import BUILDING, COPY_COMPLETE, COPY_PARTIAL, READY, Version, version_name

log = logging.getLogger(__name__)

COPY_PAGE = 256


class SharedClientStore(ServerStore):
    """A ServerStore on another collection that borrows an open client (and its local-mode lock):
    local mode allows one client per directory, and a server needs no second connection."""

    @classmethod
    def borrow(cls, base: ServerStore, collection: str) -> SharedClientStore:
        store = cls.__new__(cls)
        store.__dict__.update(base.__dict__)
        store.collection, store._dim, store._closed = collection, None, False
        return store

    def close(self) -> None:
        self._closed = True     # the client belongs to the base store


class ServerVersions:
    def __init__(self, base: ServerStore, collection: str | None = None):
        self.base = base
        self.client = base.client
        self.collection = collection or base.collection
        self.pattern = re.compile(rf"^{re.escape(self.collection)}__(v\d{{4,}})$")

    def _lock(self):
        return self.base._local_lock

    def _metadata(self, name: str) -> dict:
        with self._lock():
            return dict((self.client.get_collection(name).config.metadata or {}).get(METADATA_KEY) or {})

    def _record(self, name: str, version: str) -> Version:
        meta = self._metadata(name)
        record = meta.get("version") or {"state": BUILDING, "info": {}}
        return Version(version, record["state"], name, meta.get("model"), dict(record.get("info") or {}))

    def _alias_target(self, strict: bool = False) -> str | None:
        """The collection the alias names, None if none. A reader tolerates a server that cannot list
        aliases (it then queries the collection name, which the server resolves itself); writers don't."""
        try:
            with self._lock():
                aliases = self.client.get_aliases().aliases
        except ApiException as err:
            if strict:
                raise StoreError(f"Qdrant at {self.base.location} failed to list aliases: {err}") from err
            log.debug("cannot list aliases at %s: %s", self.base.location, err)
            return None
        return next((a.collection_name for a in aliases if a.alias_name == self.collection), None)

    def _legacy_exists(self) -> bool:
        with self._lock():
            names = {c.name for c in self.client.get_collections().collections}
        return self.collection in names

    def versions(self) -> dict[str, Version]:
        with self._lock():
            names = [c.name for c in self.client.get_collections().collections]
        found = {m.group(1): self._record(n, m.group(1)) for n in names if (m := self.pattern.match(n))}
        if self.collection in names and "v0001" not in found:
            found["v0001"] = self._legacy()
        return found

    def _legacy(self) -> Version:
        return Version("v0001", READY, self.collection, self._metadata(self.collection).get("model"),
                       {"kind": "unversioned"})

    def serving(self) -> Version | None:
        target = self._alias_target()
        if target is not None:
            match = self.pattern.match(target)
            return self._record(target, match.group(1)) if match else None
        return self._legacy() if self._legacy_exists() else None

    def serving_key(self) -> tuple:
        target = self._alias_target()
        return ("alias", target) if target else ("legacy", self._legacy_exists())

    def open(self, version: Version, **_):
        return SharedClientStore.borrow(self.base, version.location)

    @contextlib.contextmanager
    def writing(self):
        yield self      # the server serialises requests; two jobs building the same version collide loudly

    def begin(self, model: dict | None, info: dict, clone_from: Version | None = None) -> Version:
        """A new version collection <collection>__vNNNN. clone_from (a sync): a copy of that version,
        made here, so the sync never writes the collection readers are served."""
        existing = self.versions().values()
        number = max([0] + [v.number for v in existing] + [self._metadata(v.location).get("last_number", 0)
                                                           for v in existing]) + 1
        name = version_name(number)
        info = {**info, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        version = Version(name, BUILDING, f"{self.collection}__{name}", model, info)
        if clone_from is not None:
            self._copy(clone_from, version)
        # Otherwise the collection itself is created by ensure_collection (it knows the vector size);
        # the record is written by set_record right after, and a collection without one reads as "building".
        return version

    def _copy(self, source: Version, version: Version) -> None:
        """Create the version as a copy of `source`. The record says "copy: partial" from the request
        that creates the collection until every point is there and counted, so a run killed in
        between leaves a version the next run discards (choose_target) and switch() refuses."""
        version.info.update(base=source.name, copy=COPY_PARTIAL)
        metadata = {**self._metadata(source.location),
                    "version": {"state": version.state, "info": version.info}}
        with self._lock():
            server_copy.create_like(self.client, source.location, version.location, {METADATA_KEY: metadata},
                                    self.base.is_local)
        copied = server_copy.copy_points(self.client, self._lock(), source.location, version.location)
        with self._lock():
            have = self.client.count(version.location, exact=True).count
            want = self.client.count(source.location, exact=True).count
        if not copied == have == want:
            raise StoreError(f"copying {source.location} to {version.location} gave {have} points, expected "
                             f"{want} ({copied} copied); the copy stays unserved and the next run redoes it")
        version.info["copy"] = COPY_COMPLETE
        self.set_record(version)

    def set_record(self, version: Version) -> None:
        meta = self._metadata(version.location)
        meta["version"] = {"state": version.state, "info": version.info}
        with self._lock():
            self.client.update_collection(version.location, metadata={METADATA_KEY: meta})

    def update_info(self, version: Version, info: dict) -> None:
        version.info.update(info)
        self.set_record(version)

    def discard(self, version: Version) -> None:
        served = self._alias_target()
        if version.location == self.collection or version.location == served:
            raise StoreError(f"{version.name} is being served; switch or roll back first")
        if served is not None and version.state == READY:
            # The served collection remembers the highest completed number removed, so begin() never
            # reuses it: a served number names one build only (readers key caches by it).
            meta = self._metadata(served)
            meta["last_number"] = max(meta.get("last_number", 0), version.number)
            with self._lock():
                self.client.update_collection(served, metadata={METADATA_KEY: meta})
        with self._lock():
            self.client.delete_collection(version.location)

    def remove_files(self, version: Version) -> None:
        self.discard(version)

    def switch(self, version: Version, info: dict | None = None) -> None:
        # The stored record decides, not the caller's object: a copy still partial there is incomplete.
        recorded = self._record(version.location, version.name) if version.location != self.collection else version
        if recorded.info.get("copy") == COPY_PARTIAL:
            raise StoreError(f"{version.name} is an unfinished copy of {recorded.info.get('base')}; it is never "
                             "served: rerun the ingest, which discards it and copies again")
        version.state = READY
        version.info.update(info or {}, switched=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self.set_record(version)
        current = self._alias_target(strict=True)
        if current is None and self._legacy_exists():
            self._retire_legacy()
        operations = [qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=self.collection)),
                      qm.CreateAliasOperation(create_alias=qm.CreateAlias(collection_name=version.location,
                                                                         alias_name=self.collection))]
        if current is None:
            operations = operations[1:]
        with self._lock():
            self.client.update_collection_aliases(change_aliases_operations=operations)
        log.info("alias %r -> %s", self.collection, version.location)

    def _retire_legacy(self) -> None:
        """The unversioned collection holds the alias's name: copy it to <collection>__v0001 (kept for
        rollback), then drop it so the alias can take the name. Readers retry the short gap."""
        legacy = self._legacy()
        source = SharedClientStore.borrow(self.base, self.collection)
        copy = SharedClientStore.borrow(self.base, f"{self.collection}__v0001")
        copy.ensure_collection(source._require_dim(), model=legacy.model)
        for hits in source.scroll(batch=COPY_PAGE, with_vectors=True):
            vectors = np.asarray([hit.payload[VECTOR_KEY] for hit in hits], dtype=np.float32)   # (B, D)
            copy.upsert([hit.id for hit in hits], vectors,
                        [{k: v for k, v in hit.payload.items() if k != VECTOR_KEY} for hit in hits])
        legacy.location = copy.collection
        legacy.info["adopted_from"] = self.collection
        self.set_record(legacy)
        with self._lock():
            self.client.delete_collection(self.collection)
        log.warning("adopted the unversioned collection %r as %s", self.collection, copy.collection)
