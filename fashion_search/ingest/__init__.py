"""Ingest: catalog -> image embeddings -> Qdrant (resumable, idempotent), and store-to-store migration.

Read (reader.py, dataset.py) -> embed (runner.py) -> write (writer.py); config.py parses the CLI.
"""

from .cli import main
from .config import ConfigError, IngestConfig, parse_config
from .migrate import run_migration
from .reader import batches_per_process, missing_ids, select_products, shard_ids
from .runner import run_ingest
from .writer import build_payload, needs_single_writer

__all__ = ["ConfigError", "IngestConfig", "batches_per_process", "build_payload", "main", "missing_ids",
           "needs_single_writer", "parse_config", "run_ingest", "run_migration", "select_products", "shard_ids"]
