"""Embedded backend: one Qdrant Edge shard per collection on local disk (`<root>/<collection>/`).

No server to run, the same HNSW, payload indexes and filters as a Qdrant server. The shard holds a
lock on its write-ahead log, so one process at a time opens a collection: a second one (the UI while
an ingest runs) gets a StoreError saying so; share a collection across processes with a server.

The model identity lives in a JSON sidecar inside the shard directory (`fashion_search.json`,
written atomically) because an Edge shard has no collection metadata of its own.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import qdrant_edge as qe

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
from fashion_search.store.edge_requests import (
    boost_conditions,
    edge_config,
    payload_index_schema,
    ranked_request,
    search_params,
    to_edge_filter,
)
from fashion_search.store.levelled_search import LevelledSearch

log = logging.getLogger(__name__)

SIDECAR = "fashion_search.json"
EDGE_CONFIG = "edge_config.json"      # written by Qdrant Edge itself; its presence marks a shard


def _vector_of(record) -> np.ndarray:
    vector = record.vector
    if isinstance(vector, dict):      # named-vector form; this store only writes the default vector ""
        vector = vector[""]
    return np.asarray(vector, dtype=np.float32)


def _write_json_atomically(path: Path, data: dict) -> None:
    """Temp file in the same directory + fsync + rename: a crash leaves the old file or the new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EdgeStore(LevelledSearch, VectorStore):
    def __init__(self, root: str | os.PathLike = ".qdrant", collection: str = "products", *,
                 upsert_batch: int = 256, segments: int | None = None, search_threads: int | None = None,
                 **index_options) -> None:
        self.root = Path(root)
        self.collection = collection
        self.path = self.root / collection
        self.options = IndexOptions(**index_options)
        if upsert_batch < 1:
            raise StoreError(f"upsert_batch must be a positive integer, got {upsert_batch}")
        self.upsert_batch = upsert_batch
        self.segments = segments
        self.search_threads = search_threads
        # Guards opening/closing/recreating the shard; reads and writes go straight to the shard,
        # which is safe to share between threads.
        self._lifecycle = threading.RLock()
        self._shard: qe.EdgeShard | None = None
        self._dim: int | None = None
        self._distance: str | None = None
        self._closed = False
        self.type_colour_indexed = False    # store/type_colour.py: set where the collection has that index
        if (self.path / EDGE_CONFIG).is_file():
            self._open_existing()

    # --- lifecycle -------------------------------------------------------------------------
    def _open_existing(self) -> None:
        try:
            self._shard = qe.EdgeShard.load(str(self.path))
        except Exception as err:
            if "WouldBlock" in str(err):
                raise StoreError(f"the Edge store at {self.path} is open in another process (an ingest "
                                 "job or the UI?); stop it first, or serve the collection from a Qdrant "
                                 "server (QDRANT_URL) to share it") from err
            raise StoreError(f"cannot open the Edge store at {self.path}: {err}") from err
        config = json.loads((self.path / EDGE_CONFIG).read_text())
        self._dim = int(config["vectors"][""]["size"])
        self._distance = str(config["vectors"][""]["distance"])
        self.has_words = lexical.WORDS_VECTOR in (config.get("sparse_vectors") or {})
        self.type_colour_indexed = type_colour.KEY in self._shard.info().payload_schema
        if not self.type_colour_indexed:
            log.info("%s was built without the type/colour keyword: filters on a type and a colour read more "
                     "points at scale; an ingest with --rebuild adds it (store/type_colour.py)", self.path)

    def _create(self, dim: int) -> None:
        config = edge_config(dim, self.options, self.segments, self.search_threads)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._shard = qe.EdgeShard.create(str(self.path), config)
        self._dim, self._distance, self.has_words = dim, DISTANCE, self.options.words
        # Only a collection created empty gets it: then every point it will hold carries the keyword.
        self._shard.update(qe.UpdateOperation.create_field_index(type_colour.KEY, qe.PayloadSchemaType.Keyword))
        self.type_colour_indexed = True
        log.info("created Edge collection %r at %s (%d-d, %s)", self.collection, self.path, dim, DISTANCE)

    def _require(self) -> qe.EdgeShard:
        shard = self._shard
        if shard is None:
            if self._closed:
                raise StoreError(f"the store for {self.path} was closed; open it again with open_store")
            raise CollectionNotFound(f"collection {self.collection!r} does not exist at {self.path}; run the "
                                     "ingest job first, or check QDRANT_PATH/QDRANT_COLLECTION")
        return shard

    def _read_sidecar(self) -> dict:
        path = self.path / SIDECAR
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise StoreError(f"{path} is not valid JSON ({err}); delete it to record the model again") from err

    def ensure_collection(self, dim: int, model: dict | None = None, recreate: bool = False) -> None:
        dim, model = check_dim(dim), check_model_identity(model)
        with self._lifecycle:
            if self._closed:
                raise StoreError(f"the store for {self.path} was closed; open it again with open_store")
            if recreate and self.path.exists():
                log.warning("recreate: deleting Edge collection %r at %s", self.collection, self.path)
                self.close()
                self._closed = False
                shutil.rmtree(self.path)
            if self._shard is None:
                if self.path.exists() and any(self.path.iterdir()):
                    raise StoreError(f"{self.path} exists but is not a Qdrant Edge collection; move it away "
                                     "or choose another QDRANT_PATH or collection name")
                self._create(dim)
            elif self._dim != dim or self._distance != DISTANCE:
                raise StoreError(dim_conflict_message(self.collection, str(self.path), self._dim,
                                                      self._distance, dim))
            sidecar = self._read_sidecar()
            recorded = sidecar.get("model")
            if model is not None and recorded is not None and not same_model(recorded, model):
                raise StoreError(model_conflict_message(self.collection, str(self.path), recorded, model))
            if not sidecar or (model is not None and recorded is None):
                _write_json_atomically(self.path / SIDECAR, {"format": 1, "dim": dim, "distance": DISTANCE,
                                                             "model": model})
            self._ensure_payload_indexes()

    def _ensure_payload_indexes(self) -> None:
        shard = self._require()
        present = set(shard.info().payload_schema)
        for name in FILTER_FIELDS:
            if name in present:
                continue
            shard.update(qe.UpdateOperation.create_field_index(name, payload_index_schema(name)))
            log.info("created %s payload index on %r", index_kind(name), name)

    def close(self) -> None:
        with self._lifecycle:
            self._closed = True
            shard, self._shard = self._shard, None
            if shard is not None:
                shard.flush()
                shard.close()

    # --- writes ------------------------------------------------------------------------------
    def upsert(self, ids, vectors: np.ndarray, payloads: list[dict]) -> None:
        shard = self._require()
        ids = check_point_ids(ids)
        vectors = check_vectors(vectors, self._dim, n=len(ids))
        payloads = self._stored_payloads(payloads, len(ids))
        for start in range(0, len(ids), self.upsert_batch):
            stop = start + self.upsert_batch
            points = [qe.Point(pid, self._point_vector(vec, payload), payload) for pid, vec, payload
                      in zip(ids[start:stop], vectors[start:stop].tolist(), payloads[start:stop])]
            shard.update(qe.UpdateOperation.upsert_points(points))

    def _point_vector(self, vector: list[float], payload: dict):
        """The image vector, plus the words' sparse vector when the collection holds words and the
        product has any (a product without a name is found by its image only)."""
        words = lexical.document_vector(payload) if self.has_words else None
        return vector if words is None else {"": vector, lexical.WORDS_VECTOR: qe.SparseVector(*words)}

    def delete(self, ids) -> None:
        ids = check_point_ids(ids)
        shard = self._require()
        for chunk in batched(ids, self.upsert_batch):
            shard.update(qe.UpdateOperation.delete_points(list(chunk)))

    def overwrite_payloads(self, ids, payloads: list[dict]) -> None:
        shard = self._require()
        ids = check_point_ids(ids)
        for point_id, payload in zip(ids, self._stored_payloads(payloads, len(ids))):
            shard.update(qe.UpdateOperation.overwrite_payload([point_id], payload))

    def optimize(self) -> None:
        """Merge segments and build HNSW graphs now (blocking) so queries use the index."""
        shard = self._require()
        changed = shard.optimize()
        shard.flush()
        log.info("optimized %r (changed=%s): %s", self.collection, changed, self.stats())

    # --- reads (the levels and the ranking's settings: store/levelled_search.py) ------------------
    def _query_dim(self) -> int:
        self._require()
        return self._dim

    def _filter(self, filters: Filters | None, exclude_ids: tuple[int, ...] = (), at_least=None, type_colours=()):
        return to_edge_filter(filters, exclude_ids, at_least, type_colours)

    def _boost_conditions(self, boost: list[tuple[str, str]]) -> list:
        return boost_conditions(boost)

    def _params(self, flt, exact: bool) -> qe.SearchParams:
        return search_params(self.options, flt is not None, exact)

    def _query(self, vector: list[float], flt, limit: int, exact: bool) -> list[Hit]:
        request = qe.QueryRequest(limit=limit, query=qe.Query.Nearest(vector), filter=flt,
                                  with_payload=True, with_vector=False, params=self._params(flt, exact))
        return [hit_of(p) for p in self._require().query(request)]

    def _query_fused(self, vector: list[float], flt, limit: int, exact: bool, ranking) -> list[Hit]:
        words, fusion, diversity, rescore = ranking
        request = ranked_request(vector, words, flt, limit, self._params(flt, exact), fusion, diversity, rescore)
        return [hit_of(p) for p in self._require().query(request)]

    def facets(self, field: str, filters: Filters | None = None, limit: int = 200) -> list[tuple[str, int]]:
        request = qe.FacetRequest(check_facet_field(field), limit=check_limit(limit), exact=True,
                                  filter=to_edge_filter(filters, type_colours=self._type_colours(filters)))
        return sort_facets(((hit.value, int(hit.count)) for hit in self._require().facet(request)), limit)

    def retrieve(self, ids, with_vectors: bool = False) -> list[Hit]:
        ids = check_point_ids(ids)
        shard = self._require()
        by_id = {}
        for chunk in batched(ids, 1024):
            for rec in shard.retrieve(list(chunk), with_payload=True, with_vector=bool(with_vectors)):
                hit = by_id[int(rec.id)] = hit_of(rec, 0.0)
                if with_vectors:
                    hit.payload[VECTOR_KEY] = _vector_of(rec)
        return [by_id[pid] for pid in ids if pid in by_id]

    def count(self, filters: Filters | None = None) -> int:
        flt = to_edge_filter(filters, type_colours=self._type_colours(filters))
        return int(self._require().count(qe.CountRequest(exact=True, filter=flt)))

    def existing_ids(self, ids) -> set[int]:
        ids = check_point_ids(ids)
        shard = self._require()
        found: set[int] = set()
        for chunk in batched(ids, 1024):
            found.update(int(r.id) for r in shard.retrieve(list(chunk), with_payload=False, with_vector=False))
        return found

    def scroll(self, batch: int = 256, with_vectors: bool = True) -> Iterator[list[Hit]]:
        batch = check_limit(batch)
        offset = None
        while True:
            records, offset = self._require().scroll(qe.ScrollRequest(
                offset=offset, limit=batch, with_payload=True, with_vector=bool(with_vectors)))
            hits = []
            for rec in records:
                hits.append(hit_of(rec, 0.0))
                if with_vectors:
                    hits[-1].payload[VECTOR_KEY] = _vector_of(rec)
            if hits:
                yield hits
            if offset is None:
                return

    def model_info(self) -> dict | None:
        return self._read_sidecar().get("model") if self.path.is_dir() else None

    def stats(self) -> dict:
        info = self._require().info()
        return {"points": info.points_count, "indexed_vectors": info.indexed_vectors_count,
                "segments": info.segments_count, "dim": self._dim, "path": str(self.path)}
