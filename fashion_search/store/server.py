"""Server backend through qdrant-client: a Qdrant server or cluster at a URL, or qdrant-client's
local mode (":memory:" / a directory), which runs this same code path in tests without a server.

The model identity is kept in the collection's own metadata (Qdrant >= 1.16, qdrant-client 1.20),
so it travels with snapshots and replicas and no reserved point pollutes searches, counts or facets.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Iterator

import numpy as np
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ApiException

from fashion_search.store import lexical, type_colour
from fashion_search.store.base import (
    DISTANCE,
    FILTER_FIELDS,
    VECTOR_KEY,
    CollectionNotFound,
    Filters,
    Hit,
    IndexOptions,
    StoreError,
    VectorStore,
    batched,
    check_dim,
    check_facet_field,
    check_limit,
    check_model_identity,
    check_point_ids,
    check_vectors,
    dim_conflict_message,
    hit_of,
    index_kind,
    model_conflict_message,
    same_model,
    sort_facets,
)
from fashion_search.store.levelled_search import LevelledSearch
from fashion_search.store.server_client import connect
from fashion_search.store.server_requests import (
    boost_conditions,
    collection_config,
    payload_index_schema,
    ranked_query,
    search_params,
    to_client_filter,
)

log = logging.getLogger(__name__)

METADATA_KEY = "fashion_search"
OPTIMIZE_WAIT_S = 600


class ServerStore(LevelledSearch, VectorStore):
    def __init__(self, location: str, collection: str = "products", *, api_key: str | None = None,
                 timeout_s: float = 5.0, request_timeout_s: float = 60.0, shard_number: int | None = None,
                 replication_factor: int | None = None, upsert_batch: int = 256, **index_options) -> None:
        self.collection = collection
        self.location = location
        self.api_key = api_key          # the snapshot download/upload (store/snapshots.py) sends it too
        self.options = IndexOptions(**index_options)
        self.shard_number, self.replication_factor = shard_number, replication_factor
        self.upsert_batch = upsert_batch
        self.timeout_s = timeout_s
        self.is_local = not location.startswith(("http://", "https://"))
        # Local mode is a plain Python object with no locking of its own; a server is safe to share.
        self._local_lock = threading.RLock() if self.is_local else contextlib.nullcontext()
        self.client = connect(location, api_key, timeout_s, request_timeout_s)
        self._dim: int | None = None
        self._has_words = False
        self.type_colour_indexed = False   # store/type_colour.py: read with the vector size
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the store for {self.location} was closed; open it again with open_store")

    def _call(self, method: str, *args, **kwargs):
        self._check_open()
        try:
            with self._local_lock:
                return getattr(self.client, method)(self.collection, *args, **kwargs)
        except ValueError as err:       # local mode: "Collection products not found"
            if "not found" in str(err):
                raise self._missing() from err
            raise
        except ApiException as err:     # HTTP errors and lost connections; programming errors pass through
            if getattr(err, "status_code", None) == 404:
                raise self._missing() from err
            raise StoreError(f"Qdrant at {self.location} failed during {method}: {err}") from err

    def _where(self) -> str:
        return self.location

    def _config(self) -> qm.CollectionInfo:
        return self._call("get_collection")

    def _missing(self) -> CollectionNotFound:
        return CollectionNotFound(f"collection {self.collection!r} does not exist at {self._where()}; run the "
                                  "ingest job first, or check QDRANT_URL/QDRANT_COLLECTION")

    def _require_dim(self) -> int:
        if self._dim is None:
            info = self._config()
            params = info.config.params
            self._dim = int(params.vectors.size)
            self._has_words = lexical.WORDS_VECTOR in (params.sparse_vectors or {})
            self.type_colour_indexed = self._has_type_colour_index(info)
        return self._dim

    @staticmethod
    def _has_type_colour_index(info: qm.CollectionInfo) -> bool:
        """Whether the collection was created with the derived keyword's index (store/type_colour.py).
        Local mode keeps no payload indexes, so there it never is."""
        return type_colour.KEY in (info.payload_schema or {})

    @property
    def has_words(self) -> bool:
        """Whether the collection holds the products' words (read once with its vector size)."""
        try:
            self._require_dim()
        except CollectionNotFound:
            return False
        return self._has_words

    # --- lifecycle -------------------------------------------------------------------------
    def ensure_collection(self, dim: int, model: dict | None = None, recreate: bool = False) -> None:
        dim, model = check_dim(dim), check_model_identity(model)
        self._check_open()
        with self._local_lock:
            exists = self.client.collection_exists(self.collection)
            if exists and recreate:
                log.warning("recreate: deleting collection %r at %s", self.collection, self._where())
                self.client.delete_collection(self.collection)
                exists = False
            if not exists:
                self._create(dim, model)
            info = self._config()
            params = info.config.params.vectors
            if not isinstance(params, qm.VectorParams):
                raise StoreError(f"collection {self.collection!r} at {self._where()} uses named vectors; "
                                 "this app writes one unnamed vector. Pass --recreate or use another collection")
            have_distance = params.distance.value if hasattr(params.distance, "value") else str(params.distance)
            if params.size != dim or have_distance != DISTANCE:
                raise StoreError(dim_conflict_message(self.collection, self._where(), params.size,
                                                      have_distance, dim))
            self._dim = dim
            self._has_words = lexical.WORDS_VECTOR in (info.config.params.sparse_vectors or {})
            self.type_colour_indexed = self._has_type_colour_index(info)
            recorded = ((info.config.metadata or {}).get(METADATA_KEY) or {}).get("model")
            if model is not None:
                if recorded is not None and not same_model(recorded, model):
                    raise StoreError(model_conflict_message(self.collection, self._where(), recorded, model))
                if recorded is None:
                    self.client.update_collection(self.collection, metadata={METADATA_KEY: self._meta(dim, model)})
                    if self.model_info() != model:
                        raise StoreError(f"the server at {self._where()} did not keep the collection metadata "
                                         "(model identity); it is probably older than Qdrant 1.16: upgrade it")
            self._ensure_payload_indexes(info)

    @staticmethod
    def _meta(dim: int, model: dict | None) -> dict:
        return {"format": 1, "dim": dim, "distance": DISTANCE, "model": model}

    def _create(self, dim: int, model: dict | None) -> None:
        self.client.create_collection(self.collection, **collection_config(dim, self.options),
                                      shard_number=self.shard_number, replication_factor=self.replication_factor,
                                      metadata={METADATA_KEY: self._meta(dim, model)})
        if not self.is_local:   # only a collection created empty: every point it will hold carries it
            self.client.create_payload_index(self.collection, type_colour.KEY, qm.PayloadSchemaType.KEYWORD, wait=True)
        log.info("created collection %r at %s (%d-d, %s, shards=%s, replicas=%s)", self.collection,
                 self._where(), dim, DISTANCE, self.shard_number, self.replication_factor)

    def _ensure_payload_indexes(self, info: qm.CollectionInfo) -> None:
        if self.is_local:
            return      # local mode ignores payload indexes (and warns on each); filters still work
        present = set(info.payload_schema or {})
        for name in FILTER_FIELDS:
            if name not in present:
                self.client.create_payload_index(self.collection, name, payload_index_schema(name), wait=True)
                log.info("created %s payload index on %r", index_kind(name), name)

    def close(self) -> None:
        with self._local_lock:
            if not self._closed:
                self._closed = True
                self.client.close()

    # --- writes ------------------------------------------------------------------------------
    def upsert(self, ids, vectors: np.ndarray, payloads: list[dict]) -> None:
        dim = self._require_dim()
        ids = check_point_ids(ids)
        vectors = check_vectors(vectors, dim, n=len(ids))
        payloads = self._stored_payloads(payloads, len(ids))
        for start in range(0, len(ids), self.upsert_batch):
            stop = start + self.upsert_batch
            points = [qm.PointStruct(id=pid, vector=self._point_vector(vec, payload), payload=payload)
                      for pid, vec, payload in zip(ids[start:stop], vectors[start:stop].tolist(), payloads[start:stop])]
            self._call("upsert", points=points, wait=True)

    def _point_vector(self, vector: list[float], payload: dict):
        """The image vector, plus the words' sparse vector (EdgeStore._point_vector's twin)."""
        words = lexical.document_vector(payload) if self.has_words else None
        if words is None:
            return {"": vector} if self.has_words else vector
        return {"": vector, lexical.WORDS_VECTOR: qm.SparseVector(indices=words[0], values=words[1])}

    def delete(self, ids) -> None:
        ids = check_point_ids(ids)
        self._require_dim()
        for chunk in batched(ids, self.upsert_batch):
            self._call("delete", points_selector=qm.PointIdsList(points=list(chunk)), wait=True)

    def overwrite_payloads(self, ids, payloads: list[dict]) -> None:
        ids = check_point_ids(ids)
        self._require_dim()
        operations = [qm.OverwritePayloadOperation(overwrite_payload=qm.SetPayload(payload=payload, points=[pid]))
                      for pid, payload in zip(ids, self._stored_payloads(payloads, len(ids)))]
        for chunk in batched(operations, self.upsert_batch):   # one request per chunk, not per point
            self._call("batch_update_points", update_operations=list(chunk), wait=True)

    def optimize(self) -> None:
        """A server optimizes by itself; wait (bounded) until it reports the collection green."""
        if self.is_local:
            return      # local mode is brute force: nothing to build
        deadline = time.monotonic() + OPTIMIZE_WAIT_S
        while (status := self._config().status) != qm.CollectionStatus.GREEN:
            if time.monotonic() > deadline:
                raise StoreError(f"collection {self.collection!r} still {status} after {OPTIMIZE_WAIT_S}s")
            time.sleep(0.5)

    # --- reads (the levels and the ranking's settings: store/levelled_search.py) ------------------
    def _query_dim(self) -> int:
        return self._require_dim()

    def _filter(self, filters: Filters | None, exclude_ids: tuple[int, ...] = (), at_least=None, type_colours=()):
        return to_client_filter(filters, exclude_ids, at_least, type_colours)

    def _boost_conditions(self, boost: list[tuple[str, str]]) -> list:
        return boost_conditions(boost)

    def _params(self, flt, exact: bool) -> qm.SearchParams | None:
        # Local mode is always exact and warns about any search_params, so send none there.
        return None if self.is_local else search_params(self.options, flt is not None, exact)

    def _query(self, vector: list[float], flt, limit: int, exact: bool) -> list[Hit]:
        response = self._call("query_points", query=vector, query_filter=flt, limit=limit,
                              with_payload=True, with_vectors=False, search_params=self._params(flt, exact))
        return [hit_of(p) for p in response.points]

    def _query_fused(self, vector: list[float], flt, limit: int, exact: bool, ranking) -> list[Hit]:
        words, fusion, diversity, rescore = ranking
        request = ranked_query(vector, words, flt, limit, self._params(flt, exact), fusion, diversity, rescore)
        response = self._call("query_points", with_payload=True, with_vectors=False, **request)
        return [hit_of(p) for p in response.points]

    def facets(self, field: str, filters: Filters | None = None, limit: int = 200) -> list[tuple[str, int]]:
        flt = to_client_filter(filters, type_colours=self._type_colours(filters))
        response = self._call("facet", key=check_facet_field(field), facet_filter=flt,
                              limit=check_limit(limit), exact=True)
        return sort_facets(((hit.value, int(hit.count)) for hit in response.hits), limit)

    def _hits(self, records, with_vectors: bool) -> list[Hit]:
        hits = []
        for rec in records:
            hit = hit_of(rec, 0.0)
            if with_vectors:
                vector = rec.vector[""] if isinstance(rec.vector, dict) else rec.vector   # named form with words
                hit.payload[VECTOR_KEY] = np.asarray(vector, dtype=np.float32)
            hits.append(hit)
        return hits

    def retrieve(self, ids, with_vectors: bool = False) -> list[Hit]:
        ids = check_point_ids(ids)
        self._require_dim()
        by_id = {}
        for chunk in batched(ids, 1024):
            records = self._call("retrieve", ids=list(chunk), with_payload=True, with_vectors=bool(with_vectors))
            by_id.update((h.id, h) for h in self._hits(records, with_vectors))
        return [by_id[pid] for pid in ids if pid in by_id]

    def count(self, filters: Filters | None = None) -> int:
        self._require_dim()
        flt = to_client_filter(filters, type_colours=self._type_colours(filters))
        return int(self._call("count", count_filter=flt, exact=True).count)

    def existing_ids(self, ids) -> set[int]:
        ids = check_point_ids(ids)
        self._require_dim()
        found: set[int] = set()
        for chunk in batched(ids, 1024):
            records = self._call("retrieve", ids=list(chunk), with_payload=False, with_vectors=False)
            found.update(int(r.id) for r in records)
        return found

    def scroll(self, batch: int = 256, with_vectors: bool = True) -> Iterator[list[Hit]]:
        batch = check_limit(batch)
        self._require_dim()
        offset = None
        while True:
            records, offset = self._call("scroll", limit=batch, offset=offset, with_payload=True,
                                         with_vectors=bool(with_vectors))
            if records:
                yield self._hits(records, with_vectors)
            if offset is None:
                return

    def model_info(self) -> dict | None:
        self._check_open()
        with self._local_lock:
            if not self.client.collection_exists(self.collection):
                return None
        meta = (self._config().config.metadata or {}).get(METADATA_KEY) or {}
        return meta.get("model")

    def stats(self) -> dict:
        info = self._config()
        return {"points": info.points_count, "indexed_vectors": info.indexed_vectors_count,
                "segments": info.segments_count, "dim": self._require_dim(), "location": self._where(),
                "status": str(info.status)}
