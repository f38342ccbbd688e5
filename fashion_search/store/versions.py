"""Index versions: a new index is built beside the served one, and the name readers use moves to it in
one step once it is complete and optimized. Old versions stay until `cleanup(keep)`, so a bad model
rolls back in one command.

  Edge    <root>/<collection>.versions/vNNNN/ shard directories and one manifest.json, replaced with
          os.replace (atomic): its "serving" field is the pointer readers follow.
  server  collections <collection>__vNNNN and the alias <collection> (update_collection_aliases:
          the switch is one atomic request); each version's record lives in its collection metadata.

A store built before versions existed (an Edge shard at <root>/<collection>/, or a server collection
named <collection>) is read as-is and counts as version v0001; the first versioned write adopts it
(Edge: recorded in the manifest where it lies; server: copied to <collection>__v0001 before the alias
replaces the name, so it stays available for rollback).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fashion_search.store.base import StoreError

log = logging.getLogger(__name__)

VERSION_RE = re.compile(r"^v(\d{4,})$")
READY, BUILDING = "ready", "building"
# info["copy"] of a server sync's version: "partial" until every point of the served collection is in
# it; a partial copy is never resumed nor served (Edge copies a directory and renames it in one step).
COPY_PARTIAL, COPY_COMPLETE = "partial", "complete"


def version_name(number: int) -> str:
    return f"v{number:04d}"


def version_number(name: str) -> int:
    match = VERSION_RE.match(name)
    if not match:
        raise StoreError(f"{name!r} is not a version name (expected e.g. v0003)")
    return int(match.group(1))


@dataclass
class Version:
    name: str                     # "v0003"
    state: str                    # "building" until switched to (or marked ready)
    location: str                 # Edge: shard path relative to the store root; server: collection name
    model: dict | None = None     # the model identity (weights hash) the vectors come from
    info: dict = field(default_factory=dict)  # kind (rebuild|sync), catalog, fingerprint scheme, times, points

    @property
    def number(self) -> int:
        return version_number(self.name)


def _write_json_atomically(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)     # readers see the old manifest or the new one, never half of one
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)      # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


class EdgeVersions:
    """Versions of one Edge collection. Writers hold `writing()`; readers only read the manifest."""

    def __init__(self, root: str | os.PathLike, collection: str):
        self.root = Path(root)
        self.collection = collection
        self.dir = self.root / f"{collection}.versions"
        self.manifest_path = self.dir / "manifest.json"
        self.legacy_path = self.root / collection

    # --- reading ----------------------------------------------------------------------------
    def _manifest(self) -> dict:
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as err:
            raise StoreError(f"{self.manifest_path} is not valid JSON ({err}); restore it from a snapshot "
                             "or delete it to fall back to the unversioned store") from err

    def _legacy(self) -> Version | None:
        if not (self.legacy_path / "edge_config.json").is_file():
            return None
        sidecar = self.legacy_path / "fashion_search.json"
        model = json.loads(sidecar.read_text()).get("model") if sidecar.is_file() else None
        return Version("v0001", READY, self.collection, model, {"kind": "unversioned"})

    def versions(self) -> dict[str, Version]:
        manifest = self._manifest()
        if not manifest:
            legacy = self._legacy()
            return {legacy.name: legacy} if legacy else {}
        return {name: Version(**record) for name, record in manifest["versions"].items()}

    def serving(self) -> Version | None:
        manifest = self._manifest()
        if not manifest:
            return self._legacy()
        name = manifest.get("serving")
        return Version(**manifest["versions"][name]) if name else None

    def serving_key(self) -> tuple:
        """Changes whenever the manifest is replaced (cheap: one stat), for readers to poll."""
        try:
            st = self.manifest_path.stat()
            return ("manifest", st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            # The unversioned shard is opened once (it may not exist yet: then the store reports a
            # missing collection, and ensure_collection through the same object creates it).
            return ("legacy",)

    def path_of(self, version: Version) -> Path:
        return self.root / version.location

    def open(self, version: Version, **store_kw):
        from fashion_search.store.edge import EdgeStore

        path = self.path_of(version)
        return EdgeStore(path.parent, path.name, **store_kw)

    # --- writing (under the writer lock) ---------------------------------------------------------
    @contextmanager
    def writing(self):
        """One writer per collection: a second ingest fails fast instead of corrupting the manifest."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".writer.lock", "a") as handle:   # "a": no truncation, the file stays as it was
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(f"another ingest is writing {self.dir}; wait for it to finish") from None
            try:
                yield self
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _save(self, versions: dict[str, Version], serving: str | None) -> None:
        # The highest number of a version ever completed, kept when that version is removed: a served
        # number names one build only (readers key caches by it), so a cleanup after a rollback never
        # frees it again. (A leftover never served may be renumbered: no reader has seen it.)
        last = max([v.number for v in versions.values() if v.state == READY] + [self._manifest().get("last_number", 0)])
        _write_json_atomically(self.manifest_path, {"format": 1, "collection": self.collection, "serving": serving,
                                                    "last_number": last,
                                                    "versions": {n: asdict(v) for n, v in sorted(versions.items())}})

    def _serving_name(self) -> str | None:
        serving = self.serving()
        return serving.name if serving else None

    def begin(self, model: dict | None, info: dict, clone_from: Version | None = None) -> Version:
        """Register a new building version (so a kill leaves a known leftover), then create its files:
        a copy of `clone_from` (a sync of the served index) or nothing yet (a rebuild)."""
        versions = self.versions()
        number = max([v.number for v in versions.values()] + [self._manifest().get("last_number", 0)]) + 1
        name = version_name(number)
        version = Version(name, BUILDING, f"{self.dir.name}/{name}", model,
                          {**info, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                           **({"base": clone_from.name} if clone_from else {})})
        self._save({**versions, name: version}, self._serving_name())
        target = self.path_of(version)
        # Files under a new number belong to no registered version: a discarded leftover of a killed
        # run whose removal was cut short. Never build on them (nor copy onto them).
        shutil.rmtree(target, ignore_errors=True)
        if clone_from is not None:
            # The served version is never written after its switch, so its files are a consistent copy.
            tmp = target.with_name(f".{name}.copying")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(self.path_of(clone_from), tmp)
            os.replace(tmp, target)
        return version

    def discard(self, version: Version) -> None:
        versions = self.versions()
        if version.name == self._serving_name():
            raise StoreError(f"{version.name} is being served; switch or roll back first")
        versions.pop(version.name, None)
        self._save(versions, self._serving_name())
        shutil.rmtree(self.path_of(version), ignore_errors=True)
        shutil.rmtree(self.path_of(version).with_name(f".{version.name}.copying"), ignore_errors=True)

    def switch(self, version: Version, info: dict | None = None) -> None:
        """Mark ready and make it the served version in one os.replace."""
        versions = self.versions()
        record = versions[version.name]
        record.state = READY
        record.info.update(info or {}, switched=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self._save(versions, version.name)

    def update_info(self, version: Version, info: dict) -> None:
        versions = self.versions()
        versions[version.name].info.update(info)
        self._save(versions, self._serving_name())

    def remove_files(self, version: Version) -> None:
        shutil.rmtree(self.path_of(version), ignore_errors=True)


def pick_rollback(versions: dict[str, Version], serving: Version | None, to: str | None) -> Version:
    ready = sorted((v for v in versions.values() if v.state == READY), key=lambda v: v.number)
    if to is not None:
        chosen = versions.get(to)
        if chosen is None or chosen.state != READY:
            raise StoreError(f"no complete version {to!r}; complete versions: {[v.name for v in ready]}")
        return chosen
    older = [v for v in ready if serving is None or v.number < serving.number]
    if not older:
        raise StoreError(f"nothing to roll back to: complete versions are {[v.name for v in ready]}, "
                         f"serving {serving.name if serving else None}")
    return older[-1]


def to_remove(versions: dict[str, Version], serving: Version | None, keep: int) -> list[Version]:
    """Complete versions beyond the newest `keep` (the served one always stays and counts)."""
    if keep < 1:
        raise StoreError(f"--keep must be >= 1 (the served version always stays), got {keep}")
    ready = sorted((v for v in versions.values() if v.state == READY), key=lambda v: -v.number)
    kept = {serving.name} if serving else set()
    for version in ready:
        if len(kept) >= keep:
            break
        kept.add(version.name)
    return [v for v in ready if v.name not in kept]
