"""Vector store: one interface, two backends with the same semantics.

    open_store(None) / open_store(".qdrant")  -> embedded Qdrant Edge shard at .qdrant/<collection>/
    open_store("http(s)://host:6333")         -> Qdrant server or cluster via qdrant-client
    open_store(":memory:") / "local:PATH"     -> qdrant-client local mode (the server code path, for tests)

Keyword arguments: hnsw_m, hnsw_ef_construct, search_ef, quantization ("int8"), full_scan_threshold_kb,
indexing_threshold_kb, acorn, words (False: a new collection without the words' sparse vector), upsert_batch
(both); segments, search_threads (Edge); api_key, timeout_s (how fast an unreachable server fails),
request_timeout_s, shard_number, replication_factor (server; api_key, timeout_s, shard_number and
replication_factor come from the QDRANT_* environment when not given).
"""

from __future__ import annotations

import os

from fashion_search.settings import COLLECTION_NAME_RE, DEFAULT_STORE_PATH, Settings, load_settings
from fashion_search.store.base import (
    FACET_FIELDS,
    FILTER_FIELDS,
    CollectionNotFound,
    Filters,
    Hit,
    IndexOptions,
    StoreError,
    VectorStore,
)

# How often a reader of a Qdrant server asks which collection the alias names (one round trip); the
# server resolves the alias per request anyway, this only bounds how long a reader's model check and
# cached vector size lag behind a switch.
SERVER_ALIAS_REFRESH_S = 0.2

__all__ = ["CollectionNotFound", "FACET_FIELDS", "FILTER_FIELDS", "Filters", "Hit", "IndexOptions", "StoreError",
           "VectorStore", "open_backend", "open_store", "open_store_from_settings"]


def open_store(location: str | os.PathLike | None = None, collection: str = "products", **kw) -> VectorStore:
    """The store readers use: it answers from the served index version and follows a switch
    (store/serving.py); on a store without versions it is the plain collection, as before."""
    if not COLLECTION_NAME_RE.match(collection or ""):
        raise StoreError(f"collection name {collection!r} is invalid; use 1-64 letters, digits, '_' or '-'")
    location = DEFAULT_STORE_PATH if location is None else os.fspath(location)
    from fashion_search.store.serving import ServingStore

    if location.startswith(("http://", "https://")) or location == ":memory:" or location.startswith("local:"):
        from fashion_search.store.server_versions import ServerVersions, SharedClientStore

        base = open_backend(location, collection, **kw)
        return ServingStore(ServerVersions(base), lambda: SharedClientStore.borrow(base, collection), collection,
                            refresh_s=0.0 if base.is_local else SERVER_ALIAS_REFRESH_S, on_close=base.close)
    from fashion_search.store.edge import EdgeStore
    from fashion_search.store.versions import EdgeVersions

    return ServingStore(EdgeVersions(location, collection), lambda: EdgeStore(location, collection, **kw), collection,
                        store_kw=kw, eager=True)


def open_backend(location: str, collection: str = "products", **kw) -> VectorStore:
    """One backend collection by its own name, no version resolution (the ingest job, migrations)."""
    if location.startswith(("http://", "https://")):
        from fashion_search.store.server import ServerStore

        settings = load_settings()
        kw.setdefault("api_key", settings.qdrant_api_key)
        kw.setdefault("timeout_s", settings.timeout_s)
        kw.setdefault("shard_number", settings.shard_number)
        kw.setdefault("replication_factor", settings.replication_factor)
        return ServerStore(location, collection, **kw)
    if location == ":memory:" or location.startswith("local:"):
        from fashion_search.store.server import ServerStore

        return ServerStore(location, collection, **kw)
    from fashion_search.store.edge import EdgeStore

    return EdgeStore(location, collection, **kw)


def open_store_from_settings(settings: Settings | None = None, **kw) -> VectorStore:
    """The store the QDRANT_* environment describes (validated first)."""
    settings = settings or load_settings()
    if settings.qdrant_url:
        kw.setdefault("api_key", settings.qdrant_api_key)
        kw.setdefault("timeout_s", settings.timeout_s)
        kw.setdefault("shard_number", settings.shard_number)
        kw.setdefault("replication_factor", settings.replication_factor)
    return open_store(settings.location, settings.collection, **kw)
