"""The per-epoch table of a training run, saved as JSON + CSV + markdown, and a PNG of the curves.

A history row is a flat dict: {"epoch": 0, "train_loss": None, "val_loss": ..., "t2i/R@1": ...};
epoch 0 is the zero-shot baseline measured before any training step.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path

log = logging.getLogger(__name__)

# (history key, column title) for the markdown table; the CSV and JSON keep every key.
TABLE_COLUMNS = (
    ("epoch", "epoch"),
    ("train_loss", "avg loss"),
    ("val_loss", "val loss"),
    ("t2i/R@1", "val R@1"),
    ("t2i/R@5", "val R@5"),
    ("t2i/R@10", "val R@10"),
    ("t2i/MRR", "val MRR"),
    ("i2t/R@1", "i2t R@1"),
    ("i2t/R@10", "i2t R@10"),
    ("P@10/articleType", "P@10 articleType"),
    ("P@10/baseColour", "P@10 baseColour"),
    ("logit_scale", "logit scale"),
)
REPORT_FILES = ("report.json", "report.csv", "report.md", "curves.png")


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def markdown_table(history: list[dict]) -> str:
    """Rows of history as a markdown table with TABLE_COLUMNS ("-" where a value is absent)."""
    header = "| " + " | ".join(title for _, title in TABLE_COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in TABLE_COLUMNS) + "|"
    rows = ["| " + " | ".join(_cell(row.get(key)) for key, _ in TABLE_COLUMNS) + " |" for row in history]
    return "\n".join([header, rule, *rows])


def write_csv(history: list[dict], path: Path) -> None:
    keys = list(dict.fromkeys(key for row in history for key in row))  # union, first-seen order
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        for row in history:
            writer.writerow({key: row.get(key) for key in keys})


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, (loss_ax, metric_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("train_loss", "train (epoch avg)"), ("val_loss", "val")):
        points = [(e, row[key]) for e, row in zip(epochs, history) if row.get(key) is not None]
        if points:
            loss_ax.plot(*zip(*points), marker="o", label=label)
    loss_ax.set(xlabel="epoch", ylabel="InfoNCE loss", title="loss")
    loss_ax.legend()
    for key in ("t2i/R@1", "t2i/R@10", "i2t/R@10", "P@10/articleType", "P@10/baseColour"):
        points = [(e, row[key]) for e, row in zip(epochs, history) if row.get(key) is not None]
        if points:
            metric_ax.plot(*zip(*points), marker="o", label=key)
    metric_ax.set(xlabel="epoch (0 = zero-shot)", ylabel="score", title="val retrieval", ylim=(0, 1))
    metric_ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(history: list[dict], out_dir) -> dict[str, Path]:
    """Write report.json / .csv / .md and curves.png into out_dir; returns {file name: path}."""
    if not history:
        raise ValueError("no evaluated epochs to report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in REPORT_FILES}
    paths["report.json"].write_text(json.dumps(history, indent=2))
    write_csv(history, paths["report.csv"])
    paths["report.md"].write_text(markdown_table(history) + "\n")
    plot_curves(history, paths["curves.png"])
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths
