"""Val mean AP against training time for several tagger runs, from their report.json files.

    .venv/bin/python experiments/tagger_runs_plot.py runs/tagger_fp32 runs/tagger_bf16_8 runs/tagger \
        --labels "24-48-96, float32, 8 epochs" "24-48-96, bf16, 8 epochs" "16-32-64, bf16, 12 epochs" \
        --out docs/img/tagger_bf16.png
"""

from __future__ import annotations

import argparse
import json
from itertools import accumulate
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="Tagger output directories (each with report.json).")
    parser.add_argument("--labels", nargs="+", help="One legend label a run (default: the directory names).")
    parser.add_argument("--out", required=True, help="PNG to write.")
    args = parser.parse_args()
    labels = args.labels or [Path(run).name for run in args.runs]
    if len(labels) != len(args.runs):
        parser.error(f"{len(args.runs)} runs but {len(labels)} labels")
    figure, axis = plt.subplots(figsize=(6, 3.4))
    for run, label in zip(args.runs, labels):
        history = json.loads((Path(run) / "report.json").read_text())["history"]
        minutes = [s / 60 for s in accumulate(r["seconds"] for r in history)]
        axis.plot(minutes, [r["val_mAP"] for r in history], marker="o", label=label)
    axis.set(xlabel="training minutes (two CPU cores)", ylabel="val mean AP over tags",
             title="Photo tagger: val mean AP against training time")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right", fontsize=7.5)
    figure.tight_layout()
    figure.savefig(args.out, dpi=100)


if __name__ == "__main__":
    main()
