"""Sync vs full ingest on a real catalog, with 4 reader threads (another process) querying throughout.

    python experiments/sync_measure.py --shop /tmp/sync_bench/shop --store /tmp/sync_bench/store \
        --model runs/small/best --other-model runs/small/base_model --out /tmp/sync_bench/result.json

1. full ingest (the baseline); 2. mutate 1% of the catalog (a quarter each: new products, removed
products, re-labelled, re-shot images); 3. sync; 4. rebuild with another model. Steps 3-4 run while a
reader process (4 threads, one store) queries; its log gives queries served / failed and the delay
from each switch to the first answer from the new version. Results go to docs/sync.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import time
from pathlib import Path

READER = r'''
import json, sys, threading, time
import numpy as np
from fashion_search.store import open_store
store = open_store(sys.argv[1]); stop = time.time() + float(sys.argv[3]); out = []; lock = threading.Lock()
def loop(seed):
    rng = np.random.default_rng(seed)
    while time.time() < stop and not __import__("os").path.exists(sys.argv[4]):
        t0 = time.time()
        try:
            with store.pinned() as (version, backend):
                hits = backend.search(rng.normal(size=backend.stats()["dim"]), limit=24)
            ok = len(hits) == 24
        except Exception as err:
            version, ok = repr(err)[:200], False
        with lock:
            out.append((t0, time.time(), version, ok))
threads = [threading.Thread(target=loop, args=(s,)) for s in range(4)]
[t.start() for t in threads]; [t.join() for t in threads]
json.dump(out, open(sys.argv[2], "w"))
'''


def ingest(shop: Path, store: Path, model: str, report: Path, *extra) -> dict:
    command = [sys.executable, "ingest/ingest.py", "--catalog", str(shop), "--store", str(store), "--model", model,
               "--report", str(report), *extra]
    started = time.time()
    subprocess.run(command, check=True)
    result = json.loads(report.read_text())
    result["wall_s"] = round(time.time() - started, 2)
    return result


def mutate(shop: Path, share: float, seed: int = 0) -> dict:
    from PIL import Image

    rows = list(csv.reader(open(shop / "styles.csv", newline="")))
    header, body = rows[0], rows[1:]
    rng = random.Random(seed)
    k = max(4, int(len(body) * share)) // 4
    picked = rng.sample(range(len(body)), 3 * k)
    removed, relabelled, reshot = picked[:k], picked[k:2 * k], picked[2 * k:]
    def repaint(src: Path, dst: Path, salt: int) -> None:
        image = Image.open(src).convert("RGB")
        image.putpixel((salt % image.width, salt % image.height), (255, 0, 255))
        image.save(dst, quality=95)
    for index in relabelled:
        body[index][5] = "Magenta"
    for index in reshot:
        path = shop / "images" / f"{body[index][0]}.jpg"
        repaint(path, path, index)
    new_rows = []
    for n, index in enumerate(rng.sample(range(len(body)), k)):
        row = list(body[index])
        row[0] = str(9_000_000 + n)
        repaint(shop / "images" / f"{body[index][0]}.jpg", shop / "images" / f"{row[0]}.jpg", n)
        new_rows.append(row)
    body = [row for i, row in enumerate(body) if i not in set(removed)] + new_rows
    with open(shop / "styles.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([header] + body)
    return {"new": k, "removed": k, "relabelled": k, "reshot": k, "catalog": len(body)}


def first_new_answer(answers, switched_at: float, version: str) -> float | None:
    after = [ended for started, ended, v, ok in answers if ok and v == version and ended >= switched_at]
    return round(min(after) - switched_at, 4) if after else None


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--shop", "--store", "--model", "--other-model", "--out"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--share", type=float, default=0.01)
    args = parser.parse_args()
    shop, store, out = Path(args.shop), Path(args.store), Path(args.out)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    result["full"] = ingest(shop, store, args.model, out.with_suffix(".full.json"))
    result["mutation"] = mutate(shop, args.share)
    stopfile = out.with_suffix(".stop")
    stopfile.unlink(missing_ok=True)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(store), str(out.with_suffix(".answers.json")),
                               "3600", str(stopfile)])
    time.sleep(5)
    result["sync"] = ingest(shop, store, args.model, out.with_suffix(".sync.json"))
    time.sleep(2)
    result["rebuild"] = ingest(shop, store, args.other_model, out.with_suffix(".rebuild.json"))
    time.sleep(2)
    stopfile.touch()
    reader.wait()
    answers = json.loads(out.with_suffix(".answers.json").read_text())
    result["readers"] = {
        "served": sum(1 for a in answers if a[3]), "failed": sum(1 for a in answers if not a[3]),
        "failures": sorted({a[2] for a in answers if not a[3]})[:5],
        "versions": sorted({a[2] for a in answers if a[3]}),
        "sync_switch_delay_s": first_new_answer(answers, result["sync"]["version"]["switched_at"],
                                                result["sync"]["version"]["version"]),
        "rebuild_switch_delay_s": first_new_answer(answers, result["rebuild"]["version"]["switched_at"],
                                                   result["rebuild"]["version"]["version"]),
        "p50_ms": round(sorted((a[1] - a[0]) * 1000 for a in answers)[len(answers) // 2], 2),
    }
    result["ratio_sync_over_full"] = round(result["sync"]["wall_s"] / result["full"]["wall_s"], 4)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k not in ("full", "sync", "rebuild")}, indent=2))


if __name__ == "__main__":
    main()
