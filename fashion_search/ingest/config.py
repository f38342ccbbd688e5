"""The ingest job's one config: a dataclass validated up front, parsed from the CLI.

Two modes share it: *ingest* (``--catalog``: catalog -> embeddings -> store) and *migrate*
(``--from`` + ``--to``: copy an already embedded collection to another store, no model needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fashion_search.cli import ConfigError, option, parse_dataclass

QUANTIZATION_CHOICES = ("none", "int8")


@dataclass
class IngestConfig:
    catalog: str | None = option(None, "Catalog to ingest: Kaggle dir (styles.csv + images/) or parquet dir/file.")
    model: str | None = option(None, "CLIP model: a local save_pretrained dir or a HF id "
                                   "(default fashion_search.model.clip.DEFAULT_MODEL).")
    store: str | None = option(None, "Vector store: an Edge dir, http(s)://HOST:PORT for a Qdrant server, or "
                                   "local:PATH / :memory: for qdrant-client local mode "
                                   "(default: $QDRANT_URL, else $QDRANT_PATH, else .qdrant).")
    collection: str | None = option(None, "Collection name (default: $QDRANT_COLLECTION, else products).")
    batch_size: int = option(64, "Images per embedding batch (and per upsert).")
    num_workers: int = option(2, "DataLoader workers decoding + preprocessing images (0 = in the main process).")
    split: str | None = option(None, "Only ingest the ids of this split (train/val/test) of --splits-file.")
    splits_file: str | None = option(None, "Split file written by fashion_search.catalog.splits.save_splits.")
    limit: int | None = option(None, "Only consider the first N catalog products (after --split).")
    recreate: bool = option(False, "Same as --rebuild (kept for old scripts): the served index is no longer dropped.")
    rebuild: bool = option(False, "Re-embed everything into a new index version beside the served one, switched to "
                                "when complete (a new model does this by itself).")
    max_delete_share: float = option(0.10, "Stop, before writing anything, if the sync would delete more than this "
                                         "share of the stored products (an emptied or mistyped catalog).")
    keep: int | None = option(None, "After the switch, delete all but the newest N complete index versions "
                                  "(the served one always stays; default: keep all, for rollback).")
    device: str | None = option(None, "Torch device (default: the accelerate process device, else cuda if available).")
    hnsw_m: int | None = option(None, "HNSW m passed to open_store (default: the store's).")
    hnsw_ef_construct: int | None = option(None, "HNSW ef_construct passed to open_store (default: the store's).")
    quantization: str | None = option(None, "Vector quantization passed to open_store.", choices=QUANTIZATION_CHOICES)
    words: bool = option(True, "Store each product's name as a sparse BM25 vector beside the image vector, so searches "
                               "match the query's words (docs/hybrid.md). --no-words builds an image-only version; "
                               "like the HNSW flags it counts when a version is created (first ingest, new model, "
                               "--rebuild): a sync keeps the served version's layout.")
    tagger: str | None = option(None, "Photo tagger directory (make tagger): each product's photo tags (\"striped\", \"polo\") "
                                    "are stored and matched as words beside its name (docs/tagging.md). Adding, "
                                    "changing or dropping it builds a new version.")
    from_store: str | None = option(None, "Migrate mode: source store location.", flag="--from")
    to_store: str | None = option(None, "Migrate mode: destination store location.", flag="--to")
    report: str = option("reports/ingest_report.json", "Where the JSON report (counts, timings, skipped ids) goes.")
    max_batches: int | None = option(None, "Stop after N batches per process (smoke runs; a rerun resumes).")

    @property
    def migrate_mode(self) -> bool:
        return self.from_store is not None or self.to_store is not None

    def __post_init__(self) -> None:
        if self.store is None or self.collection is None:
            # Environment defaults come from the one settings module, which fails fast on a bad variable.
            from fashion_search.settings import load_settings

            settings = load_settings()
            self.store = self.store or settings.location
            self.collection = self.collection or settings.collection
        if self.migrate_mode:
            self._validate_migrate()
        else:
            self._validate_ingest()
        if not 0.0 <= self.max_delete_share <= 1.0:
            raise ConfigError(f"--max-delete-share must be between 0 and 1, got {self.max_delete_share}")
        for name in ("batch_size", "limit", "hnsw_m", "hnsw_ef_construct", "max_batches", "keep"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be > 0, got {value}")
        if self.num_workers < 0:
            raise ConfigError(f"--num-workers must be >= 0, got {self.num_workers}")
        if self.quantization is not None and self.quantization not in QUANTIZATION_CHOICES:
            raise ConfigError(f"--quantization must be one of {QUANTIZATION_CHOICES}, got {self.quantization!r}")

    def _validate_migrate(self) -> None:
        if not (self.from_store and self.to_store):
            raise ConfigError("migration needs both --from SOURCE and --to DESTINATION")
        if self.from_store == self.to_store:
            raise ConfigError(f"--from and --to are the same store ({self.from_store}); pick another destination")
        if self.catalog or self.split or self.model or self.tagger:
            raise ConfigError("--from/--to copies stored vectors: drop --catalog/--split/--model/--tagger "
                              "(or drop --from/--to to embed a catalog)")

    def _validate_ingest(self) -> None:
        if not self.catalog:
            raise ConfigError("nothing to do: pass --catalog PATH to ingest, or --from SRC --to DST to migrate")
        if not Path(self.catalog).exists():
            raise ConfigError(f"--catalog {self.catalog} does not exist (run `make data` or point at a catalog)")
        if (self.split is None) != (self.splits_file is None):
            raise ConfigError("--split and --splits-file go together (e.g. --split test --splits-file splits.json)")
        if self.tagger is not None and not Path(self.tagger).is_dir():
            raise ConfigError(f"--tagger {self.tagger} is not a directory: train one with `make tagger` "
                              "(train/train_tagger.py) or drop --tagger")
        if self.splits_file and not Path(self.splits_file).is_file():
            raise ConfigError(f"--splits-file {self.splits_file} not found (write it with fashion_search.catalog.splits)")

    def store_options(self) -> dict:
        """HNSW/quantization/words settings for open_store; unset flags stay out so the store's defaults apply."""
        options = {"hnsw_m": self.hnsw_m, "hnsw_ef_construct": self.hnsw_ef_construct}
        options = {key: value for key, value in options.items() if value is not None}
        if self.quantization is not None:
            options["quantization"] = None if self.quantization == "none" else self.quantization
        if not self.words:
            options["words"] = False
        return options


def parse_config(argv: list[str] | None = None) -> IngestConfig:
    # ConfigError reaches the caller: ingest/ingest.py reports it as one line.
    return parse_dataclass(IngestConfig, argv, prog="ingest",
                           description="Embed a fashion catalog's images into a Qdrant collection "
                                       "(resumable, idempotent), or copy a collection with --from/--to.",
                           exit_on_error=False)
