"""The one place that turns a query (text, image or product id) plus filters into ranked hits.

Used by the search page, evaluation and benchmarks. Knows the embedder and the store contract,
nothing about Streamlit. Hits become typed `ProductHit` objects for display; images are resolved
only from catalog roots the caller allows, never from a path a payload merely claims.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashion_search.catalog.products import KEYWORD_FIELDS, Catalog, CatalogError, ImageError, open_catalog
from fashion_search.query.named_values import SUGGEST_FIELDS, suggest_from_index, value_index, words_not_naming
from fashion_search.query.ranking import PAGE_DEFAULT, REBUILD_HINT, RankingOptions
from fashion_search.store.base import Filters, Hit
from fashion_search.store.lexical import document_text, matched_words, photo_tag_text

# Keyword fields and the year: the year's facet gives the range for the page's year slider.
FACET_FIELDS = KEYWORD_FIELDS + ("year",)

log = logging.getLogger(__name__)

# Shown as chips on a result card, most telling first; name and score have their own places.
CARD_FIELDS = ("articleType", "baseColour", "gender", "usage", "season", "year")


@dataclass
class SearchResult:
    hits: list[Hit]
    encode_ms: float  # time to turn the query into a vector (0 for more-like-this: stored vector)
    search_ms: float  # time spent in the store
    cached: bool = False  # the query vector came from a TextVectorCache, not the encoder
    boosted: list[tuple[str, str]] = field(default_factory=list)  # (field, value) pairs ranked first
    words: str | None = None   # the query text whose words were matched in names (None: image only)
    note: str | None = None    # why a requested ranking was not available (a store without words)

    @property
    def products(self) -> list[ProductHit]:
        return [ProductHit.from_hit(h, self.words) for h in self.hits]


@dataclass(frozen=True)
class ProductHit:
    """A search hit as the page shows it: typed fields instead of a raw payload dict."""

    id: int
    score: float
    name: str | None
    gender: str | None = None
    masterCategory: str | None = None
    subCategory: str | None = None
    articleType: str | None = None
    baseColour: str | None = None
    season: str | None = None
    usage: str | None = None
    year: int | None = None
    caption: str | None = None
    image_ref: str | None = None
    catalog: str | None = None
    matched_words: tuple[str, ...] = ()   # the query's words this product's name holds (hybrid ranking)
    photo_words: tuple[str, ...] = ()     # the other query words its photo tags hold (ingest --tagger)

    @classmethod
    def from_hit(cls, hit: Hit, words: str | None = None) -> ProductHit:
        p = hit.payload or {}
        year = p.get("year")
        in_name = tuple(matched_words(words, document_text(p, with_tags=False))) if words else ()
        in_photo = matched_words(words, photo_tag_text(p)) if words else []
        return cls(
            matched_words=in_name,
            photo_words=tuple(w for w in in_photo if w not in in_name),
            id=int(hit.id),
            score=float(hit.score),
            name=p.get("name"),
            year=int(year) if year is not None else None,
            caption=p.get("caption"),
            image_ref=p.get("image_ref"),
            catalog=p.get("catalog"),
            **{f: p.get(f) for f in KEYWORD_FIELDS},
        )

    @property
    def title(self) -> str:
        return self.name or self.caption or f"Product {self.id}"

    def attributes(self) -> list[tuple[str, str]]:
        """(field, value) pairs worth a chip, in display order; missing values left out."""
        values = ((f, getattr(self, f)) for f in CARD_FIELDS)
        return [(f, str(v)) for f, v in values if v not in (None, "")]


def _elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


class TextVectorCache:
    """The vectors of recently searched texts (least recently used out first), safe to share between threads.

    Why: a faceted page runs the same text again on every filter click, page size change or "back";
    only the text goes through the encoder, so those reruns cost the store query alone. Keyed by the
    exact query text and meant for one model: build one per embedder (the search page keeps it beside
    the model). Vectors are read-only arrays.
    """

    def __init__(self, max_entries: int = 1024):
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    def get_or_encode(self, text: str, encode: Callable[[str], np.ndarray]) -> tuple[np.ndarray, bool]:
        """(vector, whether it was cached). `encode` runs outside the lock: sessions encoding
        different texts never wait on each other (two encoding the same new text both encode it)."""
        with self._lock:
            vector = self._vectors.get(text)
            if vector is not None:
                self._vectors.move_to_end(text)
                self.hits += 1
                return vector, True
        vector = np.array(encode(text), dtype=np.float32)  # our own copy, so read-only is safe
        vector.setflags(write=False)
        with self._lock:
            self.misses += 1
            self._vectors[text] = vector
            self._vectors.move_to_end(text)
            while len(self._vectors) > self.max_entries:
                self._vectors.popitem(last=False)
        return vector, False


class Searcher:
    """Text / image / product-id search over a VectorStore, with the time each stage took.

    text_cache: optional TextVectorCache for text queries (the search page passes one; evaluation and
    the benchmark's end-to-end figure use none, so every query pays for its encoding).
    """

    def __init__(self, embedder, store, text_cache: TextVectorCache | None = None):
        self.embedder = embedder
        self.store = store
        self.text_cache = text_cache
        self._values: dict | None = None  # the store's values per SUGGEST_FIELDS field, as a phrase index
        self._values_lock = threading.Lock()

    def named_values(self, query: str, filters: Filters | None = None) -> list[tuple[str, str]]:
        """The catalog values the query's words name (query/named_values.py), minus those already filtered on.

        The value index is read from the store's facets once per Searcher (the page keeps one per
        store), so values added by a later ingest are named after the page restarts.
        """
        return suggest_from_index(query, self._value_index(), (filters or Filters()).values)

    def _value_index(self) -> dict:
        with self._values_lock:
            if self._values is None:
                self._values = value_index({f: [v for v, _ in self.store.facets(f, limit=10_000)]
                                            for f in SUGGEST_FIELDS})
            return self._values

    def words_to_match(self, query: str, filters: Filters | None, boost, options: RankingOptions) -> str | None:
        """The text whose words the store matches in product names: the query, or with
        options.match_named_words off, the query minus the words naming a value ranked first or filtered
        on (named_values.words_not_naming); None when no word is left."""
        if options.match_named_words:
            return query
        ranked = [*boost, *((f, v) for f, values in (filters or Filters()).values.items() for v in values)]
        return words_not_naming(query, self._value_index(), ranked) or None

    def text(self, query: str, filters: Filters | None = None, limit: int = 24, boost=None,
             options: RankingOptions = PAGE_DEFAULT) -> SearchResult:
        """Ranked as `options` say (query/ranking.py; the default is the search page's).
        boost: (field, value) pairs ranked first (store/boost.py); None = named_values(query) when
        options.named_values_first, else none. result.boosted repeats them so the page can say what it did."""
        query = (query or "").strip()
        if not query:
            raise ValueError("empty query: type a few words, e.g. 'red summer dress'")
        if not isinstance(options, RankingOptions):
            raise ValueError(f"options must be a RankingOptions, got {type(options).__name__}")
        if boost is None:
            boost = self.named_values(query, filters) if options.named_values_first else []
        start = time.perf_counter()
        if self.text_cache is None:
            vector, cached = self.embedder.encode_texts([query])[0], False  # (D,)
        else:
            vector, cached = self.text_cache.get_or_encode(query, lambda text: self.embedder.encode_texts([text])[0])
        encode_ms = _elapsed_ms(start)
        # Read once: on a served store each read asks the version serving now, and one answer should
        # see one version's schema.
        has_words = self.store.has_words
        words = query if options.words and has_words else None
        start = time.perf_counter()
        matched = self.words_to_match(query, filters, boost, options) if words else None
        # The words left to the levels still re-score the words' candidates, fetching none (store/hybrid.py).
        hits = self.store.search(vector, filters=filters, limit=limit, boost=list(boost), words=matched,
                                 fusion=options.store_fusion(), diversity=options.diversity, context_words=query)
        return SearchResult(hits=hits, encode_ms=encode_ms, search_ms=_elapsed_ms(start), cached=cached,
                            boosted=list(boost), words=words,
                            note=REBUILD_HINT if options.words and not has_words else None)

    def image(self, image, filters: Filters | None = None, limit: int = 24) -> SearchResult:
        start = time.perf_counter()
        vector = self.embedder.encode_images([image.convert("RGB")])[0]  # (D,)
        encode_ms = _elapsed_ms(start)
        return self._search(vector, filters, limit, encode_ms)

    def more_like_this(self, product_id: int, filters: Filters | None = None, limit: int = 24) -> SearchResult:
        # The store reuses the product's stored image vector, so there is nothing to encode.
        start = time.perf_counter()
        hits = self.store.more_like_this(int(product_id), filters=filters, limit=limit)
        return SearchResult(hits=hits, encode_ms=0.0, search_ms=_elapsed_ms(start))

    def _search(self, vector, filters, limit, encode_ms, boost=()) -> SearchResult:
        start = time.perf_counter()
        hits = self.store.search(vector, filters=filters, limit=limit, boost=boost)
        return SearchResult(hits=hits, encode_ms=encode_ms, search_ms=_elapsed_ms(start), boosted=list(boost))

    def product(self, product_id: int) -> ProductHit | None:
        hits = self.store.retrieve([int(product_id)])
        return ProductHit.from_hit(hits[0]) if hits else None

    def facets(self, field: str, filters: Filters | None = None, limit: int = 200) -> list[tuple[str, int]]:
        return self.store.facets(field, filters=filters, limit=limit)

    def facets_for_filters(self, filters: Filters | None, fields=FACET_FIELDS, limit: int = 200) -> dict:
        """{field: [(value, count), ...]}, each field's counts computed under the *other* fields' selections.

        Leaving a field's own selection out keeps its other values visible (OR within a field),
        while the other fields narrow it: choosing Footwear narrows articleType to footwear types.
        """
        filters = filters or Filters()
        return {f: self.facets(f, filters=filters.without(f), limit=limit) for f in fields}


def catalog_root_from_model_info(model_info: dict | None) -> str | None:
    """The catalog root the ingest job recorded with the collection, if any."""
    if not model_info:
        return None
    for key in ("catalog", "catalog_root"):
        if model_info.get(key):
            return str(model_info[key])
    return None


class CatalogImages:
    """Image bytes for hits, read only from catalog roots this object was told to trust.

    A payload names its catalog root, but a payload is data, not configuration: a hit whose
    `catalog` is not one of `allowed_roots` gets no image (counted and logged), and
    `Catalog.image_bytes` itself refuses refs escaping the root.
    """

    def __init__(self, allowed_roots):
        self.refused = 0  # hits whose payload names a catalog nobody configured
        self.missing = 0  # hits whose image is absent or unreadable
        self.problems: list[str] = []  # configured roots that could not be opened
        self._catalogs: dict[str, Catalog] = {}
        for root in dict.fromkeys(str(r) for r in allowed_roots if r):
            try:
                catalog = open_catalog(root)
            except (CatalogError, OSError) as err:
                self.problems.append(f"catalog {root} cannot be opened: {err}")
                log.warning(self.problems[-1])
                continue
            # Both spellings match: the configured path and the root the catalog resolved it to
            # (a parquet catalog given as dir/ may root itself at dir/data/).
            for spelling in (root, catalog.root):
                self._catalogs[_canonical(spelling)] = catalog

    @property
    def roots(self) -> list[str]:
        return sorted({str(c.root) for c in self._catalogs.values()})

    def _catalog_for(self, root: str | None) -> Catalog | None:
        if root is None:  # no recorded root: only unambiguous with a single configured catalog
            distinct = {id(c): c for c in self._catalogs.values()}
            return next(iter(distinct.values())) if len(distinct) == 1 else None
        return self._catalogs.get(_canonical(root))

    def allows(self, product: ProductHit) -> bool:
        """Whether this hit's catalog is a configured root (its image may be shown at all)."""
        return self._catalog_for(product.catalog) is not None

    def image_bytes(self, product: ProductHit) -> bytes | None:
        """Encoded image bytes, or None (logged and counted) when it cannot or may not be shown."""
        if not product.image_ref:
            self.missing += 1
            return None
        catalog = self._catalog_for(product.catalog)
        if catalog is None:
            self.refused += 1
            log.warning("image of product %s not shown: its catalog %r is not a configured root %s",
                        product.id, product.catalog, self.roots)
            return None
        try:
            return catalog.image_bytes(product.image_ref)
        except ImageError as err:
            self.missing += 1
            log.warning("image of product %s unavailable: %s", product.id, err)
            return None


def _canonical(path) -> str:
    return str(Path(path).expanduser().resolve())
