"""Ingest: catalog -> image embeddings -> Qdrant (a sync: resumable, idempotent), and store-to-store migration.

Read (reader.py, dataset.py) -> embed (runner.py) -> write (writer.py); config.py parses the CLI;
fingerprints.py + sync.py decide what changed; target.py picks the index version and switches to it.
"""

from fashion_search.ingest.cli import main
from fashion_search.ingest.config import ConfigError, IngestConfig, parse_config
from fashion_search.ingest.migrate import run_migration
from fashion_search.ingest.reader import batches_per_process, missing_ids, select_products, shard_ids
from fashion_search.ingest.runner import run_ingest
from fashion_search.ingest.writer import build_payload, needs_single_writer

__all__ = ["ConfigError", "IngestConfig", "batches_per_process", "build_payload", "main", "missing_ids",
           "needs_single_writer", "parse_config", "run_ingest", "run_migration", "select_products", "shard_ids"]
