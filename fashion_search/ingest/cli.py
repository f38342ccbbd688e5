"""`python ingest/ingest.py ...` / `accelerate launch ingest/ingest.py ...`: parse, validate, run."""

from __future__ import annotations

import logging

import torch

from fashion_search.ingest.config import ConfigError, parse_config
from fashion_search.ingest.distributed import current_process_group
from fashion_search.ingest.migrate import run_migration
from fashion_search.ingest.runner import run_ingest


def main(argv: list[str] | None = None) -> dict:
    """Returns the final report (also logged and written to --report)."""
    cfg = parse_config(argv)
    group = current_process_group()
    logging.basicConfig(
        level=logging.INFO if group.is_main else logging.WARNING,  # one rank narrates; the others only warn
        format=f"%(asctime)s %(levelname)s [rank {group.rank}] %(name)s: %(message)s")
    if cfg.migrate_mode:
        if group.distributed:
            raise ConfigError("--from/--to migration runs in one process: start it without accelerate/torchrun")
        return run_migration(cfg)
    try:
        return run_ingest(cfg, group)
    finally:
        if group.distributed and torch.distributed.is_initialized():
            # Tear the gloo group down on every rank before exit: a rank that exits while its peer's
            # group is still alive can abort the peer (SIGABRT seen under heavy CPU load).
            torch.distributed.destroy_process_group()
