"""Serve section: the search API under load, on loopback, against the same Searcher run in-process.

1. In-process: Searcher.text (the page's default ranking: named values first) from 4 threads for a
   fixed time: queries per second with no HTTP at all.
2. API: `python -m fashion_search.service` under uvicorn on 127.0.0.1 (query cache off, so every
   request encodes, as in-process), driven by 1, 4 and 16 client threads for a fixed time each over
   keep-alive connections: QPS, p50/p95/p99, errors (target 0). While the 16 clients run, a probe
   times GET / of the search page (streamlit on 127.0.0.1) against the same GET with the API idle.
3. In-process again; its QPS is the mean of both, so drift on a shared machine hits both sides.
Ratio: API QPS at 4 clients / in-process QPS at 4 threads (target >= 0.80).

The store is a synthetic one of the model's width (bench/points.py, like the search section), or an
ingested collection given with --serve-store (e.g. the 41k real catalog). Everything stops by itself:
each level runs for --serve-seconds, and the servers are terminated in a finally.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from fashion_search.bench.points import PointGenerator, build_store
from fashion_search.bench.timing import ratio
from fashion_search.query.search import Searcher
from fashion_search.store import Filters, open_store

log = logging.getLogger(__name__)

RATIO_TARGET = 0.80
RATIO_CLIENTS = 4
PAGE_P95_TARGET_MS = 1000.0  # the page's server answers within a second while the API is saturated
RESULT_LIMIT = 24
QUERY_COUNT = 200
STARTUP_TIMEOUT_S = 180
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def store_queries(store, count: int) -> list[tuple[str, Filters]]:
    """("women red dresses", gender + articleType) from the store's own products, so filters always match."""
    out = []
    for batch in store.scroll(batch=256, with_vectors=False):
        for hit in batch:
            p = hit.payload
            if p.get("gender") and p.get("articleType") and p.get("baseColour"):
                out.append((f"{p['gender']} {p['baseColour']} {p['articleType']}".lower(),
                            Filters({"gender": [p["gender"]], "articleType": [p["articleType"]]})))
        if len(out) >= count * 7:
            break
    if not out:
        raise RuntimeError("the store has no products with gender, baseColour and articleType to query for")
    return out[::7][:count] or out[:count]  # spread over the store, not its first page


def _percentiles(latencies_ms: list[float]) -> dict:
    if not latencies_ms:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    values = np.asarray(latencies_ms)
    return {f"p{q}_ms": float(np.percentile(values, q)) for q in (50, 95, 99)}


def drive(call, clients: int, seconds: float, queries: list) -> dict:
    """`clients` threads each calling call(state, query) back to back for `seconds`; QPS, latency, errors."""
    stop_at = time.perf_counter() + seconds
    latencies, errors, lock = [], [], threading.Lock()

    def client(index: int) -> None:
        state, mine, failed, i = {}, [], [], index
        while time.perf_counter() < stop_at:
            query = queries[i % len(queries)]
            i += clients
            start = time.perf_counter()
            try:
                call(state, query)
                mine.append((time.perf_counter() - start) * 1000.0)
            except Exception as err:  # noqa: BLE001 (counted and reported: a bench must not hide a failing request)
                failed.append(f"{type(err).__name__}: {err}"[:200])
        with lock:
            latencies.extend(mine)
            errors.extend(failed)
        if "connection" in state:
            state["connection"].close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    elapsed = time.perf_counter() - started
    return {"clients": clients, "seconds": round(elapsed, 2), "requests": len(latencies), "errors": len(errors),
            "error_examples": sorted(set(errors))[:3], "qps": len(latencies) / elapsed, **_percentiles(latencies)}


def in_process_qps(embedder, store, queries, seconds: float) -> dict:
    searcher = Searcher(embedder, store)  # no text cache: every query is encoded, as the API is run here

    def call(_state, query):
        text, filters = query
        if not searcher.text(text, filters, RESULT_LIMIT, boost=searcher.named_values(text, filters)).hits:
            raise RuntimeError(f"no hits for {text!r}")

    searcher.named_values("warm up")
    return drive(call, RATIO_CLIENTS, seconds, queries)


def api_call(port: int):
    def call(state, query):
        text, filters = query
        if "connection" not in state:
            state["connection"] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = json.dumps({"query": text, "filters": filters.values, "limit": RESULT_LIMIT})
        try:
            state["connection"].request("POST", "/search", body, {"Content-Type": "application/json"})
            response = state["connection"].getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            state.pop("connection").close()  # reconnect next time; this request counts as an error
            raise
        if response.status != 200 or not json.loads(payload)["hits"]:
            raise RuntimeError(f"HTTP {response.status}: {payload[:120]!r}")
    return call


@contextmanager
def server(argv: list[str], health_url: str, log_path: Path, env=None):
    """A subprocess that must answer health_url with 200 within STARTUP_TIMEOUT_S; terminated on exit."""
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(argv, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{argv[2]} exited with {process.returncode}:\n{log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[2]} did not answer {health_url} in {STARTUP_TIMEOUT_S}s")
            if _get_ms(health_url) is not None:
                break
            time.sleep(0.3)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _get_ms(url: str) -> float | None:
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.partition(":")
    start = time.perf_counter()
    try:
        connection = http.client.HTTPConnection(name, int(port), timeout=10)
        connection.request("GET", "/" + rest)
        ok = connection.getresponse().status == 200
        connection.close()
    except OSError:
        return None
    return (time.perf_counter() - start) * 1000.0 if ok else None


def probe_page(url: str, stop: threading.Event, samples: list, interval_s: float = 0.2) -> None:
    while not stop.is_set():
        took = _get_ms(url)
        samples.append(float("inf") if took is None else took)
        stop.wait(interval_s)


def run(embedder, model_dir: str, points: int, seconds: float, clients=(1, 4, 16), store_location: str | None = None,
        collection: str = "products", seed: int = 0, page: bool = True) -> dict:
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the service runs its encoder (ServiceConfig.torch_threads)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp_name:
            tmp = Path(tmp_name)
            if store_location is None:
                store, _ = build_store(str(tmp / "store"), PointGenerator(points, embedder.dim, seed), collection="bench")
                store_location, collection = str(tmp / "store"), "bench"
            else:
                store = open_store(store_location, collection=collection)
            try:
                n_points, queries = store.count(), store_queries(store, QUERY_COUNT)
                before = in_process_qps(embedder, store, queries, seconds)
            finally:
                store.close()  # an Edge store opens in one process at a time: the server's turn
            api, page_figures = _api_levels(model_dir, store_location, collection, queries, clients, seconds, page, tmp)
            store = open_store(store_location, collection=collection)
            try:
                after = in_process_qps(embedder, store, queries, seconds)
            finally:
                store.close()
    finally:
        torch.set_num_threads(previous_threads)
    in_qps = (before["qps"] + after["qps"]) / 2
    at_ratio = next(level for level in api if level["clients"] == RATIO_CLIENTS)
    api_ratio = ratio(at_ratio["qps"], in_qps)
    return {"points": n_points, "dim": embedder.dim, "store": store_location, "collection": collection,
            "seconds_per_level": seconds, "limit": RESULT_LIMIT, "in_process": [before, after],
            "in_process_qps_4_threads": in_qps, "api": api, "api_qps_4_clients": at_ratio["qps"],
            "api_vs_in_process_qps": api_ratio, "ratio_target": RATIO_TARGET, "ratio_met": api_ratio >= RATIO_TARGET,
            "api_errors": sum(level["errors"] for level in api), **page_figures}


def _api_levels(model_dir, store_location, collection, queries, clients, seconds, page, tmp: Path):
    api_port = free_port()
    api_argv = [sys.executable, "-m", "fashion_search.service", "--host", "127.0.0.1", "--port", str(api_port),
                "--store", store_location, "--collection", collection, "--model", model_dir,
                "--text-cache-size", "0"]
    env = {"HF_HUB_OFFLINE": "1", "SEARCH_API_KEY": ""}
    with server(api_argv, f"http://127.0.0.1:{api_port}/healthz", tmp / "api.log", env):
        call = api_call(api_port)
        drive(call, RATIO_CLIENTS, min(seconds, 1.0), queries)  # warm-up: connections, thread pool, caches
        if not page:
            return [drive(call, n, seconds, queries) for n in clients], {}
        page_port = free_port()
        page_argv = [sys.executable, "-m", "streamlit", "run", str(REPO / "search_ui" / "app.py"),
                     "--server.headless", "true", "--server.port", str(page_port), "--server.address", "127.0.0.1",
                     "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", "--",
                     "--store", store_location, "--collection", collection, "--model", model_dir]
        page_url = f"http://127.0.0.1:{page_port}/"
        with server(page_argv, f"http://127.0.0.1:{page_port}/_stcore/health", tmp / "page.log", env):
            idle = [t for t in (_get_ms(page_url) for _ in range(10)) if t is not None]
            levels, loaded = [], []
            for n in clients:
                stop = threading.Event()
                prober = threading.Thread(target=probe_page, args=(page_url, stop, loaded), daemon=True)
                if n == max(clients):
                    prober.start()
                try:
                    levels.append(drive(call, n, seconds, queries))
                finally:
                    stop.set()
                    if prober.is_alive():
                        prober.join(15)
    idle_p, loaded_p = _percentiles(idle), _percentiles(loaded)
    met = bool(loaded) and loaded_p["p95_ms"] <= PAGE_P95_TARGET_MS
    return levels, {"page_get_idle": {**idle_p, "n": len(idle)}, "page_get_loaded": {**loaded_p, "n": len(loaded)},
                    "page_loaded_clients": max(clients), "page_p95_target_ms": PAGE_P95_TARGET_MS,
                    "page_responsive": met}
