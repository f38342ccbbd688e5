"""Content fingerprints: what sync compares to decide, per product, embed / re-embed / update payload / keep.

Each stored point carries two fingerprints in its payload: one of its image bytes (a change means a new
vector) and one of the rest of its payload (a change means a payload update, no model needed). Both are
keyed blake2b digests; the scheme name is recorded with every index version, so a future change of
scheme is seen as "everything changed" instead of silently comparing apples with pears.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

FINGERPRINT_SCHEME = "blake2b-128/image-bytes+payload-json/v1"
IMAGE_KEY = "fingerprint_image"
METADATA_KEY = "fingerprint_metadata"
FINGERPRINT_KEYS = (IMAGE_KEY, METADATA_KEY)
# hashlib releases the GIL on buffers over 2 KB, so a few threads overlap file reads and hashing.
HASH_THREADS = 4


def _digest(data: bytes, person: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16, person=person).hexdigest()


def image_fingerprint(data: bytes) -> str:
    return _digest(data, b"fs-image")


def metadata_fingerprint(payload: dict) -> str:
    """Of the payload as it will be stored, minus the fingerprints themselves (canonical JSON)."""
    plain = {key: value for key, value in payload.items() if key not in FINGERPRINT_KEYS}
    return _digest(json.dumps(plain, sort_keys=True, separators=(",", ":"), default=str).encode(), b"fs-meta")


@dataclass(frozen=True)
class Fingerprint:
    image: str | None   # None: the image bytes could not be read (counted as unreadable, never embedded)
    metadata: str


def catalog_fingerprints(catalog, products: dict, payload_for, threads: int = HASH_THREADS) -> tuple[dict, list]:
    """{product id: Fingerprint} for every candidate, and [{"id", "reason"}] for images whose bytes
    cannot be read. Reads every image's bytes once (no decoding): seconds for the 41k catalog."""
    from fashion_search.catalog.products import ImageError

    def one(product_id: int) -> tuple[int, Fingerprint, str | None]:
        meta = metadata_fingerprint(payload_for(product_id))
        try:
            return product_id, Fingerprint(image_fingerprint(catalog.image_bytes(products[product_id])), meta), None
        except ImageError as error:
            return product_id, Fingerprint(None, meta), f"image: {error}"

    ids = list(products)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = list(pool.map(one, ids, chunksize=256))
    fingerprints = {product_id: fingerprint for product_id, fingerprint, _ in results}
    unreadable = [{"id": product_id, "reason": reason} for product_id, _, reason in results if reason]
    return fingerprints, unreadable


def with_fingerprint(payload: dict, fingerprint: Fingerprint) -> dict:
    return {**payload, IMAGE_KEY: fingerprint.image, METADATA_KEY: fingerprint.metadata}


def stored_fingerprints(store, page: int = 1024) -> dict[int, tuple[str | None, str | None]]:
    """{point id: (image fingerprint, metadata fingerprint)} of everything stored; a point written
    before fingerprints existed has (None, None) and is re-embedded once."""
    out: dict[int, tuple[str | None, str | None]] = {}
    for hits in store.scroll(batch=page, with_vectors=False):
        for hit in hits:
            out[hit.id] = (hit.payload.get(IMAGE_KEY), hit.payload.get(METADATA_KEY))
    return out
