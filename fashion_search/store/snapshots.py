"""Backup and restore of the served index version.

  Edge          a tar of the version's shard directory (segments, HNSW graphs, payload indexes) plus its
                version record; the served version is never written after its switch, so the copy is
                consistent while readers keep querying it.
  Qdrant server the collection snapshot API (create, download over HTTP; restore = upload into a new
                version collection, then the alias switch). Exercised only against a real server.
  local mode    qdrant-client's local mode has no snapshot API: a portable dump (ids, vectors, payloads,
                model identity in one .npz), restored by upsert.
Restore always lands as a new version and is switched to like a build, so it also works on a store
that is serving something else, and rolls back like any version.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tarfile
import time
from pathlib import Path

import numpy as np

from fashion_search.store.base import VECTOR_KEY, StoreError
from fashion_search.store.versions import EdgeVersions, Version

log = logging.getLogger(__name__)

RECORD = "version.json"
SHARD = "shard"


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%S")


def create(versions, serving: Version, out_dir: str | os.PathLike) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = {"format": 1, "collection": versions.collection, "version": serving.name, "model": serving.model,
              "info": serving.info}
    if isinstance(versions, EdgeVersions):
        path = out / f"{versions.collection}-{serving.name}-{_stamp()}.edge.tar"
        tmp = path.with_suffix(".partial")
        with tarfile.open(tmp, "w") as tar:
            data = json.dumps(record, indent=2).encode()
            info = tarfile.TarInfo(RECORD)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            tar.add(versions.path_of(serving), arcname=SHARD)
        os.replace(tmp, path)       # a half-written snapshot never carries the final name
    elif versions.base.is_local:
        path = out / f"{versions.collection}-{serving.name}-{_stamp()}.points.npz"
        _dump_points(versions.open(serving), record, path)
    else:
        path = _server_snapshot(versions, serving, out)
    log.info("snapshot of %s written to %s", serving.name, path)
    return path


def restore(versions, snapshot: str | os.PathLike) -> dict:
    """Brings the snapshot back as a new version and switches readers to it."""
    snapshot = Path(snapshot)
    if not snapshot.is_file():
        raise StoreError(f"snapshot {snapshot} not found; write one with `manage snapshot`")
    if isinstance(versions, EdgeVersions):
        record, version = _restore_edge(versions, snapshot)
    elif versions.base.is_local:
        record, version = _restore_points(versions, snapshot)
    else:
        record, version = _restore_server(versions, snapshot)
    with versions.open(version) as store:
        points = store.count()
    versions.switch(version, info={"points": points})
    log.info("restored %s of %s as %s (%d points)", record.get("version"), record.get("collection"), version.name, points)
    return {"version": version.name, "from": record.get("version"), "points": points}


def _begin(versions, record: dict, snapshot: Path) -> Version:
    info = {**(record.get("info") or {}), "kind": "restore", "restored_from": str(snapshot)}
    info.pop("switched", None)
    return versions.begin(record.get("model"), info)


def _restore_edge(versions: EdgeVersions, snapshot: Path) -> tuple[dict, Version]:
    with tarfile.open(snapshot) as tar:
        try:
            record = json.loads(tar.extractfile(RECORD).read())
        except KeyError:
            raise StoreError(f"{snapshot} is not an Edge snapshot (no {RECORD})") from None
        version = _begin(versions, record, snapshot)
        target = versions.path_of(version)
        tmp = target.with_name(f".{version.name}.restoring")
        shutil.rmtree(tmp, ignore_errors=True)
        tar.extractall(tmp, filter="data")     # "data": no absolute paths, links or devices out of the tar
    os.replace(tmp / SHARD, target)
    shutil.rmtree(tmp, ignore_errors=True)
    return record, version


def _dump_points(store, record: dict, path: Path) -> None:
    ids, vectors, payloads = [], [], []
    for hits in store.scroll(batch=1024, with_vectors=True):
        for hit in hits:
            ids.append(hit.id)
            vectors.append(hit.payload[VECTOR_KEY])
            payloads.append({k: v for k, v in hit.payload.items() if k != VECTOR_KEY})
    tmp = path.with_suffix(".partial.npz")
    np.savez(tmp, ids=np.asarray(ids, dtype=np.int64), vectors=np.asarray(vectors, dtype=np.float32),
             payloads=np.asarray(json.dumps(payloads)), record=np.asarray(json.dumps(record)))
    os.replace(tmp, path)


def _restore_points(versions, snapshot: Path) -> tuple[dict, Version]:
    with np.load(snapshot) as data:
        record = json.loads(str(data["record"]))
        ids, vectors, payloads = data["ids"].tolist(), data["vectors"], json.loads(str(data["payloads"]))
    version = _begin(versions, record, snapshot)
    store = versions.open(version)
    store.ensure_collection(vectors.shape[1], model=record.get("model"))
    versions.set_record(version)
    store.upsert(ids, vectors, payloads)
    return record, version


def _server_http(versions):
    import httpx

    api_key = getattr(versions.base, "api_key", None)
    headers = {"api-key": api_key} if api_key else {}
    return httpx.Client(base_url=versions.base.location, headers=headers, timeout=600)


def _server_snapshot(versions, serving: Version, out: Path) -> Path:
    with versions._lock():
        description = versions.client.create_snapshot(serving.location, wait=True)
    path = out / f"{versions.collection}-{serving.name}-{_stamp()}.server.snapshot"
    with _server_http(versions) as http, http.stream(
            "GET", f"/collections/{serving.location}/snapshots/{description.name}") as response:
        response.raise_for_status()
        with open(path.with_suffix(".partial"), "wb") as handle:
            for chunk in response.iter_bytes():
                handle.write(chunk)
    os.replace(path.with_suffix(".partial"), path)
    path.with_suffix(".json").write_text(json.dumps({"collection": versions.collection, "version": serving.name,
                                                     "model": serving.model, "info": serving.info}, indent=2))
    return path


def _restore_server(versions, snapshot: Path) -> tuple[dict, Version]:
    sidecar = snapshot.with_suffix(".json")
    record = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    version = _begin(versions, record, snapshot)
    with _server_http(versions) as http, open(snapshot, "rb") as handle:
        response = http.post(f"/collections/{version.location}/snapshots/upload", params={"priority": "snapshot"},
                             files={"snapshot": (snapshot.name, handle)})
    if response.status_code >= 300:
        raise StoreError(f"the server refused the snapshot upload: {response.status_code} {response.text[:300]}")
    versions.set_record(version)
    return record, version

