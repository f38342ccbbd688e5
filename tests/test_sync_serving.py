"""Serving while writing: 4 reader threads query the store while a sync and a rebuild with another
model run to the end on it (Edge, and the qdrant-client local-mode path). Zero failed queries, one
version per answer, after the switch every answer is the new catalog; the switch delay is measured."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from test_sync import Shop, location
from tiny_model import build_tiny_clip

from fashion_search.ingest.config import parse_config
from fashion_search.ingest.runner import run_ingest
from fashion_search.store import open_store

READERS = 4


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("clip")
    return (str(build_tiny_clip(root / "a")),
            str(build_tiny_clip(root / "b", captions=["a red shirt", "blue jeans for men"] * 20)))


class Readers:
    """READERS threads answering queries until stopped; each answer is recorded with its version."""

    def __init__(self, store, dim: int):
        self.store, self.dim = store, dim
        self.answers: list[tuple[float, float, str, frozenset]] = []   # (started, ended, version, seasons)
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(seed,)) for seed in range(READERS)]

    def _loop(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        while not self.stop.is_set():
            started = time.time()
            try:
                with self.store.pinned() as (version, backend):
                    hits = backend.search(rng.normal(size=self.dim), limit=10)
                assert len(hits) == 10 and len({h.id for h in hits}) == 10
                self.answers.append((started, time.time(), version, frozenset(h.payload["season"] for h in hits)))
            except BaseException as err:       # counted: the test requires none
                self.errors.append(err)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join()


def run(shop: Shop, store: str, model: str, tmp_path, base_store, *extra) -> dict:
    cfg = parse_config(["--catalog", str(shop.root), "--store", store, "--model", model, "--batch-size", "8",
                        "--num-workers", "0", "--report", str(tmp_path / "r.json"), *extra])
    return run_ingest(cfg, base_store=base_store)


def first_answer_after(readers: Readers, switched_at: float, version: str) -> float:
    return min(ended for started, ended, v, _ in readers.answers if v == version and ended >= switched_at) - switched_at


@pytest.mark.parametrize("backend", ["edge", "local"])
@pytest.mark.timeout(300)
def test_readers_never_fail_during_sync_and_rebuild(tmp_path, models, backend):
    shop = Shop(tmp_path / "shop", 40)
    store_location = location(backend, tmp_path / "store")
    reader = open_store(store_location)
    base = reader.versions.base if backend == "local" else None     # local mode: one client per directory
    run(shop, store_location, models[0], tmp_path, base)
    shop.add(1040)
    for row in shop.rows.values():
        row[6] = "Winter"                          # every product re-labelled: a payload-only sync
    shop.save()

    with Readers(reader, dim=16) as readers:
        time.sleep(0.3)
        synced = run(shop, store_location, models[0], tmp_path, base)
        time.sleep(0.3)
        rebuilt = run(shop, store_location, models[1], tmp_path, base)
        time.sleep(0.3)
    assert not readers.errors, readers.errors[:3]
    assert synced["sync"]["payload_updated"] == 40 and synced["sync"]["added"] == 1
    assert rebuilt["version"]["kind"] == "rebuild" and rebuilt["version"]["switched"]
    by_version = {}
    for _, _, version, seasons in readers.answers:
        by_version.setdefault(version, set()).update(seasons)
    # Both backends publish the sync as a new version: every answer is all-old or all-new, never a mix.
    assert synced["version"]["version"] == "v0002" and rebuilt["version"]["version"] == "v0003"
    assert synced["version"]["kind"] == "sync" and synced["version"]["switched"]
    assert all(len(seasons) == 1 for *_, seasons in readers.answers)
    assert by_version == {"v0001": {"Summer"}, "v0002": {"Winter"}, "v0003": {"Winter"}}
    switched = synced["version"]["switched_at"]
    delay = first_answer_after(readers, switched, "v0002")
    # Until the reader has loaded the new version (the delay), answers come whole from the old
    # one; once it has, every answer is the new catalog.
    loaded = switched + delay
    assert all(seasons == {"Winter"} for started, _, _, seasons in readers.answers if started > loaded)
    if backend == "edge":
        assert all(started < rebuilt["version"]["switched_at"] for started, _, v, _ in readers.answers if v == "v0001")
    else:
        # While one reader opens the new version the others answer whole from the old one, so an old
        # answer may start inside the delay, never after the new version is loaded.
        assert all(started <= loaded for started, _, v, _ in readers.answers if v == "v0001")
    assert 0 <= delay < 2.0
    print(f"{backend}: {len(readers.answers)} answers, 0 failed, switch-to-first-new-answer {delay * 1000:.1f} ms")
    reader.close()
