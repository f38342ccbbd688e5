"""Stage timing and the final report (logged, written as JSON, returned from main)."""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

# The report lists every skipped id; the log shows only the first few so a bad catalog stays readable.
SKIPPED_SHOWN_IN_LOG = 10


class StageTimer:
    """Wall seconds per named stage, accumulated over the run."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] += seconds

    def as_dict(self) -> dict[str, float]:
        return {name: round(value, 4) for name, value in self.seconds.items()}


def merge_stage_seconds(per_process: list[dict[str, float]]) -> dict[str, float]:
    """Per stage, the slowest process: that is what the wall clock waited for."""
    merged: dict[str, float] = {}
    for stages in per_process:
        for name, value in stages.items():
            merged[name] = max(merged.get(name, 0.0), value)
    return merged


def write_report(report: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a report
    return path


def log_ingest_report(report: dict) -> None:
    logger.info(
        "ingest done: %d embedded, %d skipped, %d already present, %d total in %.1fs (%.1f images/s)%s",
        report["embedded"], report["skipped"], report["already_present"], report["total"],
        report["seconds"], report["images_per_s"],
        " [stopped early: rerun to finish]" if report.get("stopped_early") else "")
    sync, version = report.get("sync"), report.get("version") or {}
    if sync:
        logger.info("sync: %d added, %d re-embedded, %d payload updated, %d deleted, %d unchanged; "
                    "%d unreadable images; %d points in %s%s", sync["added"], sync["re_embedded"],
                    sync["payload_updated"], sync["deleted"], sync["unchanged"], report["skipped"],
                    report.get("points", 0), version.get("version"),
                    f" (readers switched from {version.get('served_before')})" if version.get("switched") else "")
    logger.info("stage seconds: %s", report["stages"])
    dropped = report.get("catalog_dropped") or {}
    if dropped.get("missing_image") or dropped.get("bad_image"):
        logger.warning("the catalog dropped %d products with a missing and %d with a bad image while listing "
                       "(never candidates); e.g. %s", dropped["missing_image"], dropped["bad_image"],
                       dropped["examples"])
    skipped = report.get("skipped_items", [])
    for item in skipped[:SKIPPED_SHOWN_IN_LOG]:
        logger.warning("skipped product %s: %s", item["id"], item["reason"])
    if len(skipped) > SKIPPED_SHOWN_IN_LOG:
        logger.warning("... and %d more skipped products (all listed in the report file)",
                       len(skipped) - SKIPPED_SHOWN_IN_LOG)
