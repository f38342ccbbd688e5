"""The store interface both backends implement, plus the validation they share.

Semantics live here once (what a filter means, what a valid batch is, when a model identity
conflicts) so the Edge and the server backend cannot drift apart; each backend only translates.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np

# The filterable payload fields and their index types. The store owns this schema (it creates the
# indexes); it mirrors catalog.KEYWORD_FIELDS but is not imported from there so that store/ stays
# independent of the catalog and model code.
KEYWORD_INDEX_FIELDS = ("gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage")
INTEGER_INDEX_FIELDS = ("year",)
FILTER_FIELDS = KEYWORD_INDEX_FIELDS + INTEGER_INDEX_FIELDS
# Keyword indexes created with is_tenant: Qdrant then stores points that share the value together, so
# the filtered search that serves a shopper's narrowed query (a gender and an article type: a few
# thousand of 41k points, scanned; or an HNSW walk at 1M) reads them close together. Measured on the
# bench's synthetic stores (bench/points.py), gender + articleType filters, 300 queries paired:
#   41k x 512-d: p50 1.65 -> 1.17 ms (articleType alone 1.27); 41k x 128-d: 1.09 -> 0.85 ms (alike);
#   1M x 128-d: p50 4.55 -> 3.48 ms, p95 19.4 -> 7.1 ms, boosted p50 20.0 -> 10.3 ms, recall@24 0.955 -> 0.966.
TENANT_INDEX_FIELDS = ("gender", "articleType")

FACET_FIELDS = FILTER_FIELDS

DISTANCE = "Cosine"          # CLIP embeddings are compared by cosine similarity, nothing else
VECTOR_KEY = "_vector"       # where retrieve/scroll put the vector in Hit.payload when asked
TYPE_COLOUR_KEY = "_type_colour"    # the store's own derived keyword (store/type_colour.py)
RESERVED_PAYLOAD_KEYS = (VECTOR_KEY, TYPE_COLOUR_KEY)


def index_kind(name: str) -> str:
    """The payload index a filter field gets: "integer", "tenant keyword" or "keyword". Each backend
    turns it into its client's types (edge_requests / server_requests.payload_index_schema)."""
    if name in INTEGER_INDEX_FIELDS:
        return "integer"
    return "tenant keyword" if name in TENANT_INDEX_FIELDS else "keyword"


class StoreError(Exception):
    """Unreachable server, schema or model mismatch, missing collection. The message names the fix."""


class CollectionNotFound(StoreError):
    """The collection has not been created yet (nothing ingested): callers may offer to ingest."""


@dataclass
class Filters:
    """AND across fields, OR within a field; an empty value list means "no constraint"."""

    values: dict[str, list[str]] = field(default_factory=dict)
    year_min: int | None = None
    year_max: int | None = None

    def is_empty(self) -> bool:
        return not any(self.values.values()) and self.year_min is None and self.year_max is None

    def without(self, field_name: str) -> "Filters":
        """A copy without the constraint on one field: for disjunctive facets, where a field's
        own selection should not hide its other values."""
        values = {k: list(v) for k, v in self.values.items() if k != field_name}
        if field_name == "year":
            return Filters(values, None, None)
        return Filters(values, self.year_min, self.year_max)

    def clauses(self) -> list[tuple]:
        """Backend-neutral form, validated: ("any", field, [values]) and ("range", "year", gte, lte).
        Every clause must hold (AND); inside an "any" clause one value suffices (OR)."""
        out: list[tuple] = []
        for name, chosen in sorted(self.values.items()):
            if name not in KEYWORD_INDEX_FIELDS:
                raise StoreError(
                    f"cannot filter on {name!r}: filterable keyword fields are {', '.join(KEYWORD_INDEX_FIELDS)} "
                    "(use year_min/year_max for the year)")
            if isinstance(chosen, str):
                raise StoreError(f"filter values for {name!r} must be a list of strings, got the string {chosen!r}")
            chosen = [str(v) for v in chosen]
            if chosen:
                out.append(("any", name, sorted(set(chosen))))
        for label, bound in (("year_min", self.year_min), ("year_max", self.year_max)):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, np.integer))):
                raise StoreError(f"{label} must be an integer year, got {bound!r}")
        if self.year_min is not None and self.year_max is not None and self.year_min > self.year_max:
            raise StoreError(f"year_min {self.year_min} is after year_max {self.year_max}; swap them")
        if self.year_min is not None or self.year_max is not None:
            out.append(("range", "year",
                        None if self.year_min is None else int(self.year_min),
                        None if self.year_max is None else int(self.year_max)))
        return out


@dataclass
class Hit:
    id: int
    score: float
    payload: dict


def hit_of(point, score: float | None = None) -> Hit:
    """A Qdrant point (Edge or qdrant-client: id, score, payload) as the store's callers see it: its
    payload without the store's own keyword (store/type_colour.py). score: for records, which have none."""
    payload = dict(point.payload or {})
    payload.pop(TYPE_COLOUR_KEY, None)
    return Hit(int(point.id), float(point.score if score is None else score), payload)


@dataclass(frozen=True)
class IndexOptions:
    """HNSW and quantization knobs, the same names for both backends (open_store **kw).

    Defaults are Qdrant's (m=16, ef_construct=100); search_ef=None lets Qdrant pick ef per query.
    quantization="int8" keeps a scalar-quantized copy in RAM and rescores with the originals.
    acorn=True lets filtered searches use ACORN (Qdrant >= 1.16): the UI combines several facets, and
    measured on 41k 512-d vectors a two-field filter (Women AND Apparel, 20% of points) had recall@10
    0.92 without it and 1.00 with it, for ~10 ms instead of ~0.6 ms (still far below text encoding).
    The thresholds (KB of vectors) decide when a segment gets an HNSW graph and below which
    filtered candidate count Qdrant scans instead; None keeps Qdrant's defaults (10000 KB).
    words=False creates a collection without the products' words (store/lexical.py's sparse vector):
    image-only, as a catalog without useful names may want. Like the HNSW knobs it counts when a
    collection is created; an existing collection keeps the layout it was built with.
    """

    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    search_ef: int | None = None
    quantization: str | None = None
    full_scan_threshold_kb: int | None = None
    indexing_threshold_kb: int | None = None
    acorn: bool = True
    words: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.words, bool):
            raise StoreError(f"words must be True or False, got {self.words!r}")
        for name in ("hnsw_m", "hnsw_ef_construct"):
            if getattr(self, name) < 1:
                raise StoreError(f"{name} must be a positive integer, got {getattr(self, name)}")
        for name in ("search_ef", "full_scan_threshold_kb", "indexing_threshold_kb"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise StoreError(f"{name} must be a positive integer or None, got {value}")
        if self.quantization not in (None, "int8"):
            raise StoreError(f"quantization must be None or 'int8', got {self.quantization!r}")


def check_limit(limit) -> int:
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise StoreError(f"limit must be a positive integer, got {limit!r}")
    return int(limit)


def check_facet_field(field_name: str) -> str:
    if field_name not in FACET_FIELDS:
        raise StoreError(f"cannot facet on {field_name!r}: indexed fields are {', '.join(FACET_FIELDS)}")
    return field_name


def check_dim(dim) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim <= 0:
        raise StoreError(f"vector size must be a positive integer, got {dim!r}")
    return int(dim)


def check_model_identity(model) -> dict | None:
    if model is None:
        return None
    if not isinstance(model, dict) or not {"name", "weights_hash"} <= set(model):
        raise StoreError(f'model identity must be a dict with "name" and "weights_hash", got {model!r}')
    return dict(model)


def same_model(recorded: dict, wanted: dict) -> bool:
    """Vectors are comparable when the weights are: the name (a path that may move) and extra fields
    such as the catalog an ingest came from are informational."""
    return recorded.get("weights_hash") == wanted.get("weights_hash")


def model_conflict_message(collection: str, where: str, recorded: dict, wanted: dict) -> str:
    return (f"collection {collection!r} at {where} was built with model {recorded.get('name')!r} "
            f"(weights {recorded.get('weights_hash')!r}), but this run uses {wanted.get('name')!r} "
            f"(weights {wanted.get('weights_hash')!r}); vectors from different models are not comparable. "
            "Pass --recreate to rebuild the collection, or use another collection name.")


def dim_conflict_message(collection: str, where: str, have_size: int, have_distance: str, dim: int) -> str:
    return (f"collection {collection!r} at {where} holds {have_size}-d vectors with {have_distance} distance, "
            f"but {dim}-d {DISTANCE} vectors were requested (a different model?). "
            "Pass --recreate to rebuild it, or use another collection name.")


def check_point_ids(ids) -> list[int]:
    out = []
    for raw in ids:
        if isinstance(raw, bool) or not isinstance(raw, (int, np.integer)) or raw < 0:
            raise StoreError(f"point ids must be non-negative integers (the product id), got {raw!r}")
        out.append(int(raw))
    return out


def check_vectors(vectors, dim: int, n: int | None = None) -> np.ndarray:
    """(N, dim) float32, finite, no zero rows (a zero vector has no cosine direction)."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise StoreError(f"vectors must have shape (N, {dim}) for this collection, got {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise StoreError(f"got {n} ids but {arr.shape[0]} vectors; they must pair up one to one")
    if not np.isfinite(arr).all():
        raise StoreError("vectors contain NaN or inf; fix the embedding step before writing")
    if (np.linalg.norm(arr, axis=1) == 0).any():
        raise StoreError("a vector is all zeros and has no cosine direction; fix the embedding step")
    return arr


def check_query_vector(vector, dim: int) -> list[float]:
    arr = np.asarray(vector, dtype=np.float32).reshape(-1)
    return check_vectors(arr[None, :], dim)[0].tolist()


def _plain(value):
    """JSON-safe payload value: numpy scalars become Python scalars, None means absent."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def clean_payloads(payloads: Sequence[dict], n: int) -> list[dict]:
    """Drop None/NaN values (the payload contract is "str or absent", so facets never count nulls),
    coerce numpy scalars, and check the year is an integer so the integer index accepts it."""
    if len(payloads) != n:
        raise StoreError(f"got {n} ids but {len(payloads)} payloads; they must pair up one to one")
    out = []
    for payload in payloads:
        if not isinstance(payload, dict):
            raise StoreError(f"each payload must be a dict, got {type(payload).__name__}")
        clean = {k: v for k, v in ((str(k), _plain(v)) for k, v in payload.items()) if v is not None}
        for key in RESERVED_PAYLOAD_KEYS:
            clean.pop(key, None)
        year = clean.get("year")
        if year is not None:
            if isinstance(year, float) and year.is_integer():
                clean["year"] = int(year)
            elif isinstance(year, bool) or not isinstance(year, int):
                raise StoreError(f"payload year must be an integer, got {year!r}")
        out.append(clean)
    return out


def sort_facets(pairs: Iterable[tuple], limit: int) -> list[tuple]:
    """Most frequent first, ties by value, so both backends agree on order."""
    return sorted(pairs, key=lambda vc: (-vc[1], str(vc[0])))[:limit]


def batched(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class VectorStore(ABC):
    """One collection of product vectors. Point id = product id, so re-ingesting overwrites."""

    collection: str

    @abstractmethod
    def ensure_collection(self, dim: int, model: dict | None = None, recreate: bool = False) -> None:
        """Create the collection (cosine, `dim`) and its payload indexes if missing; refuse a
        mismatching size/distance or model identity unless recreate=True. Never deletes otherwise."""

    @abstractmethod
    def upsert(self, ids, vectors: np.ndarray, payloads: list[dict]) -> None: ...

    # Whether the collection holds the products' words (store/lexical.py's sparse vector). A collection
    # built before it existed has none: searches then rank by the image alone, and a rebuild adds it.
    has_words: bool = False

    @abstractmethod
    def search(self, vector, filters: Filters | None = None, limit: int = 10, exact: bool = False,
               boost=(), words: str | None = None, fusion=None, diversity: float | None = None,
               context_words: str | None = None) -> list[Hit]:
        """Nearest products passing `filters`. boost: (field, value) pairs; products matching more of
        them come first, then by similarity (store/boost.py). Hit scores are the similarity, unless
        `words` (the query's text; used only when has_words) or `diversity` ask for a ranked search
        (store/hybrid.py): its fused or MMR scores order each level, `fusion` (hybrid.Fusion) says how.
        context_words: words that only re-score the words' candidates (hybrid.py), never fetch any."""

    def more_like_this(self, product_id: int, filters: Filters | None = None, limit: int = 10) -> list[Hit]:
        """Neighbours of a stored product's vector, the product itself excluded."""
        (pid,) = check_point_ids([product_id])
        found = self.retrieve([pid], with_vectors=True)
        if not found:
            raise StoreError(f"product {pid} is not in collection {self.collection!r}")
        return self._search_excluding(found[0].payload[VECTOR_KEY].tolist(), filters, pid, check_limit(limit))

    @abstractmethod
    def _search_excluding(self, vector: list[float], filters: Filters | None, exclude_id: int, limit: int) -> list[Hit]:
        """Approximate search under `filters` that never returns point `exclude_id`."""

    @abstractmethod
    def facets(self, field: str, filters: Filters | None = None, limit: int = 200) -> list[tuple[str, int]]:
        """(value, count) pairs, most frequent first; `year` values are ints."""

    @abstractmethod
    def retrieve(self, ids, with_vectors: bool = False) -> list[Hit]:
        """Hits in the order asked, missing ids left out; score 0, payload["_vector"] if asked."""

    @abstractmethod
    def count(self, filters: Filters | None = None) -> int: ...

    @abstractmethod
    def existing_ids(self, ids) -> set[int]: ...

    @abstractmethod
    def scroll(self, batch: int = 256, with_vectors: bool = True) -> Iterator[list[Hit]]: ...

    @abstractmethod
    def model_info(self) -> dict | None: ...

    def delete(self, ids) -> None:
        """Remove points by id (ids not stored are ignored): catalog sync drops discontinued products."""
        raise StoreError(f"{type(self).__name__} cannot delete points")

    def overwrite_payloads(self, ids, payloads: list[dict]) -> None:
        """Replace each point's whole payload, vector untouched: a metadata fix needs no re-embed."""
        raise StoreError(f"{type(self).__name__} cannot update payloads")

    @abstractmethod
    def optimize(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "VectorStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
