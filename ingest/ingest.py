"""Ingest entry point: catalog -> image embeddings -> Qdrant, resumable and idempotent.

    python ingest/ingest.py --catalog data/catalog --model runs/small/model --store .qdrant
    accelerate launch --num_processes 2 ingest/ingest.py --catalog ... # each process embeds a shard
    python ingest/ingest.py --from .qdrant --to http://localhost:6333  # move vectors, no re-embedding

All the work lives in fashion_search.ingest; `python ingest/ingest.py --help` lists every flag.
"""

from fashion_search.ingest import main

if __name__ == "__main__":
    main()
