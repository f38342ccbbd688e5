"""Copy one Qdrant collection into a new one: the same configuration, payload indexes and points.

A sync on the server path writes a copy of the served collection, never the served one, so readers
keep one complete version until the alias moves (store/server_versions.py). Qdrant has no server-side
collection copy any more, so the points travel through the client: scrolled with their vectors (the
image vector and, when the collection has words, the sparse words vector, copied as stored rather than
recomputed) and payloads, page by page, and upserted. Every page is keyed by point id, so a copy that
stops half-way holds a subset of the points and nothing else; whoever started it decides from the
version record whether it finished (a partial copy is discarded, never served).
"""

from __future__ import annotations

import logging

from qdrant_client import models as qm

log = logging.getLogger(__name__)

COPY_PAGE = 256


def _diff(cls, config):
    """A creation-time *Diff model from a collection's reported config: the fields both know, unset
    ones left to the server's defaults."""
    if config is None:
        return None
    known = {k: v for k, v in config.model_dump(exclude_none=True).items() if k in cls.model_fields}
    return cls(**known) if known else None


def creation_kwargs(config: qm.CollectionConfig) -> dict:
    """create_collection keyword arguments that rebuild `config` (the source's vectors, words, index,
    optimizer, WAL, quantization and sharding settings). Metadata is the caller's to set."""
    params = config.params
    return {
        "vectors_config": params.vectors,
        "sparse_vectors_config": params.sparse_vectors,
        "shard_number": params.shard_number,
        "replication_factor": params.replication_factor,
        "write_consistency_factor": params.write_consistency_factor,
        "on_disk_payload": params.on_disk_payload,
        "payload": params.payload,
        "id_tracker": params.id_tracker,
        "hnsw_config": _diff(qm.HnswConfigDiff, config.hnsw_config),
        "optimizers_config": _diff(qm.OptimizersConfigDiff, config.optimizer_config),
        "wal_config": _diff(qm.WalConfigDiff, config.wal_config),
        "quantization_config": config.quantization_config,
        "strict_mode_config": _diff(qm.StrictModeConfig, config.strict_mode_config),
    }


def payload_indexes(info: qm.CollectionInfo) -> dict:
    """{field: schema} of the source's payload indexes, as create_payload_index takes them (the
    parameters when the index has any, e.g. a tenant keyword index; else its type)."""
    return {name: (index.params if index.params is not None else index.data_type)
            for name, index in (info.payload_schema or {}).items()}


def create_like(client, source: str, target: str, metadata: dict, is_local: bool) -> None:
    """Create `target` with `source`'s configuration and payload indexes, and `metadata` as its own."""
    info = client.get_collection(source)
    client.create_collection(target, metadata=metadata, **creation_kwargs(info.config))
    if is_local:
        return      # local mode keeps no payload indexes (and warns on each); filters work without
    for name, schema in payload_indexes(info).items():
        client.create_payload_index(target, name, field_schema=schema, wait=True)


def write_page(client, target: str, records) -> None:
    """One page of the copy: the points as scrolled, vectors and payload unchanged."""
    points = [qm.PointStruct(id=rec.id, vector=rec.vector, payload=rec.payload or {}) for rec in records]
    client.upsert(target, points=points, wait=True)


def copy_points(client, lock, source: str, target: str, page: int | None = None) -> int:
    """Copy every point of `source` into `target`; returns how many were copied. `lock` serialises
    the calls on a shared local-mode client (a null context on a server)."""
    page = page or COPY_PAGE
    offset, copied = None, 0
    while True:
        with lock:
            records, offset = client.scroll(source, limit=page, offset=offset, with_payload=True, with_vectors=True)
        if records:
            with lock:
                write_page(client, target, records)
            copied += len(records)
        if offset is None:
            log.info("copied %d points from %s to %s", copied, source, target)
            return copied
