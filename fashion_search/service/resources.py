"""What the API holds while it runs: the store, the query encoder, the Searcher over them, the catalog
roots images may come from, and the values each filter field has. Opened once at start-up.

`build_embedder` is the one place a query encoder is built: the --text-encoder choice lands here.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import torch

from fashion_search.model import query_encoder
from fashion_search.model.embed import Embedder
from fashion_search.query.search import (
    CatalogImages,
    Searcher,
    TextVectorCache,
    catalog_root_from_model_info,
)
from fashion_search.service.config import ServiceConfig, ServiceConfigError
from fashion_search.store import StoreError, VectorStore, open_store

log = logging.getLogger(__name__)


def build_embedder(model: str, text_encoder: str = "torch", torch_threads: int = 1) -> tuple[Embedder, dict]:
    """(embedder, {"name", "weights_hash"}) for `model`, its text tower run by `text_encoder`."""
    if not torch.cuda.is_available():
        # Requests run in parallel on the server's thread pool; one intra-op thread each keeps them
        # from fighting over the cores (make bench: 4.8 ms with 1 thread vs ~300 ms with 2 on a busy host).
        # ONNX Runtime sessions take the same thread count.
        torch.set_num_threads(torch_threads)
    return query_encoder.build_embedder(model, text_encoder)


@dataclass
class Resources:
    config: ServiceConfig
    store: VectorStore
    embedder: Embedder
    identity: dict
    searcher: Searcher
    images: CatalogImages
    model_info: dict | None
    problems: list[str] = field(default_factory=list)  # shown by /healthz
    _values: dict[str, frozenset[str]] | None = None
    _values_lock: threading.Lock = field(default_factory=threading.Lock)

    def known_values(self) -> dict[str, frozenset[str]]:
        """Every value each keyword field has in the collection (read once; restart after a re-ingest,
        as for the page's named values)."""
        with self._values_lock:
            if self._values is None:
                from fashion_search.catalog.products import KEYWORD_FIELDS

                self._values = {f: frozenset(v for v, _ in self.store.facets(f, limit=10_000)) for f in KEYWORD_FIELDS}
        return self._values

    def close(self) -> None:
        self.store.close()


def open_resources(config: ServiceConfig) -> Resources:
    """Open the store and load the model the collection was built with (or config.model); raises
    StoreError / ModelLoadError / ServiceConfigError with a message naming the fix."""
    store = open_store(config.store, collection=config.collection)
    try:
        if store.count() == 0:  # also raises CollectionNotFound, naming the ingest job
            raise StoreError(f"collection {config.collection!r} at {config.store} is empty: run `make ingest` "
                             "(or ingest/ingest.py) into it first")
        model_info = store.model_info()
        model = config.model or (model_info or {}).get("name")
        if not model:
            raise ServiceConfigError("no model to encode queries with: pass --model DIR (or set FASHION_MODEL); "
                                     "this collection does not record the model it was built with")
        embedder, identity = build_embedder(model, config.text_encoder, config.torch_threads)
    except BaseException:
        store.close()
        raise
    problems = []
    recorded = (model_info or {}).get("weights_hash")
    if recorded and recorded != identity["weights_hash"]:
        problems.append(f"model {model} is not the one the collection was built with ({model_info.get('name')}): "
                        "results will not be meaningful")
        log.warning(problems[-1])
    cache = TextVectorCache(config.text_cache_size) if config.text_cache_size else None
    images = CatalogImages(r for r in (config.catalog, catalog_root_from_model_info(model_info)) if r)
    problems += images.problems
    resources = Resources(config=config, store=store, embedder=embedder, identity=identity,
                          searcher=Searcher(embedder, store, text_cache=cache), images=images, model_info=model_info,
                          problems=problems)
    # Read the filter values and the named-value index now, not in the first shopper's request.
    resources.known_values()
    resources.searcher.named_values("warm up")
    return resources
