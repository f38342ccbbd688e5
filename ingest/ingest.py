"""Ingest entry point: catalog -> image embeddings -> Qdrant, resumable and idempotent.

    python ingest/ingest.py --catalog data/catalog --model runs/small/best --store .qdrant
    accelerate launch --num_processes 2 ingest/ingest.py --catalog ...  # each process embeds a shard
    python ingest/ingest.py --from .qdrant --to http://localhost:6333   # move vectors, no re-embedding

All the work lives in fashion_search.ingest; `python ingest/ingest.py --help` lists every flag.
"""

import sys

from fashion_search.ingest import main

if __name__ == "__main__":
    from fashion_search.catalog.products import CatalogError
    from fashion_search.ingest import ConfigError
    from fashion_search.model.clip import ModelLoadError
    from fashion_search.settings import SettingsError
    from fashion_search.store import StoreError

    try:
        main()
    except (ConfigError, SettingsError, CatalogError, ModelLoadError, StoreError) as error:
        # Expected failures carry their fix in the message; a traceback would only bury it.
        sys.exit(f"error: {error}")
