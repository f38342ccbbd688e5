"""kill -9 at random points of a sync and of a rebuild: after every kill readers are served a complete
version (the old catalog or the new one, never a half-written mix), and a rerun makes the store equal
a clean ingest. The ingest runs as a subprocess killed with SIGKILL. Edge, and a sync on the server
path (qdrant-client local mode: the copy of the served collection, its sync and the alias switch)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_sync import Shop, assert_same_contents, contents, ingest, mutate
from tiny_model import build_tiny_clip

REPO = Path(__file__).resolve().parents[1]
KILLS = 5
STARTED_MARKER = "candidate products"      # logged once imports are done and the real work begins

pytestmark = pytest.mark.slow


def command(shop: Shop, store: str, model: str, report: Path, *extra) -> list[str]:
    return [sys.executable, str(REPO / "ingest" / "ingest.py"), "--catalog", str(shop.root), "--store", store,
            "--model", model, "--batch-size", "2", "--num-workers", "0", "--report", str(report), *extra]


def run_until(cmd: list[str], kill_after: float | None) -> float:
    """Run; once the work has started, SIGKILL after `kill_after` s (None: to the end). Returns the
    seconds from the start marker to the exit."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(cmd, env=env, cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    lines: list[str] = []   # what the job logged, for the failure message
    for line in process.stderr:
        lines.append(line)
        if STARTED_MARKER in line:
            break
    started = time.perf_counter()
    threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True).start()   # keep draining
    if kill_after is not None:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
    code = process.wait(timeout=300)
    assert code in (0, -signal.SIGKILL), f"exit {code}:\n" + "".join(lines[-30:])
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("clip")
    return (str(build_tiny_clip(root / "a")),
            str(build_tiny_clip(root / "b", captions=["a red shirt", "blue jeans for men"] * 20)))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("scenario", ["sync", "rebuild", "server-sync"])
def test_kill_9_anywhere_then_rerun_equals_a_clean_ingest(tmp_path, models, scenario):
    shop = Shop(tmp_path / "shop", 40)
    prefix = "local:" if scenario.startswith("server") else ""
    store = tmp_path / "store"
    ingest(shop, prefix + str(store), models[0], tmp_path / "r0.json")
    if scenario.endswith("sync"):
        mutate(shop)
        model, extra = models[0], ()
    else:
        model, extra = models[1], ("--rebuild",)
    old = contents(prefix + str(store))
    ingest(shop, prefix + str(tmp_path / "clean"), model, tmp_path / "rc.json")
    new = contents(prefix + str(tmp_path / "clean"))

    probe = tmp_path / "probe"
    shutil.copytree(store, probe)
    duration = run_until(command(shop, prefix + str(probe), model, tmp_path / "rp.json", *extra), None)
    rng = random.Random(0)
    for kill in range(KILLS):
        run_until(command(shop, prefix + str(store), model, tmp_path / f"rk{kill}.json", *extra),
                  rng.uniform(0.05, 1.0) * duration)
        served = contents(prefix + str(store))
        assert _close_to(served, old) or _close_to(served, new), f"kill {kill}: readers saw a mix"
    run_until(command(shop, prefix + str(store), model, tmp_path / "rf.json", *extra), None)
    assert_same_contents(contents(prefix + str(store)), new)


def _close_to(got: dict, expected: dict) -> bool:
    try:
        assert_same_contents(got, expected)
        return True
    except AssertionError:
        return False
