"""How a store ranks with the query's words: the backend-neutral part of a hybrid search.

A hybrid search is one Qdrant query per boost level (store/boost.py): two prefetches under the level's
filter, the `prefetch` nearest images (dense, cosine) and the `prefetch` best BM25 matches of the query's
words in the products' words (sparse, IDF by Qdrant), fused inside Qdrant. Levels keep the named-values
order (more named values matched first), so words and image only order products within a level: a word
match can never lift a product of the wrong type above the type the query names.

Fusions (which one the page uses is query/ranking.py's choice, by measurement, docs/hybrid.md):
  "formula" similarity + word_weight * BM25, a Qdrant formula query. Its candidates are both channels'
          prefetches; the image similarity is computed for all of them (a nested prefetch re-scores the
          union by the image vector), the BM25 score is 0 for an image candidate outside the words'
          prefetch. Products whose names hold the same words tie on BM25 and are ordered by similarity,
          so both backends agree on the order (rank fusions order such ties arbitrarily).
          Context words (a search's `context_words`) only re-score the words' candidates: each adds
          context_weight x its BM25 term to their score, but no product is fetched for them, so a
          frequent word's long posting list is never read and a product holding only context words
          is never lifted (the page passes the words naming the values its levels rank by: "casual
          shoes" then orders "Puma Men Black Casual Shoes" above "Puma Men Black Sneakers" in the
          Casual Shoes level, while "striped t-shirt" still fetches by "striped" alone);
  "rrf"   Qdrant's reciprocal rank fusion, sum of 1 / (k + rank) over the channels;
  "dbsf"  Qdrant's distribution-based score fusion, each channel's scores normalised by mean +- 3 sd.
Optional diversity: Qdrant's MMR over the fused candidates, re-ranked by the image vector.
Edge and server build the same request from these settings (edge_requests / server_requests).
"""

from __future__ import annotations

from dataclasses import dataclass

from fashion_search.store import lexical
from fashion_search.store.base import StoreError

FUSIONS = ("formula", "rrf", "dbsf")


@dataclass(frozen=True)
class Fusion:
    """How the image and the words channel are fused inside Qdrant."""

    method: str = "formula"
    rrf_k: int = 60            # RRF's rank offset; larger flattens the head of each list
    word_weight: float = 0.3   # formula: similarity + word_weight * BM25 score (docs/hybrid.md: measured)
    prefetch: int = 100        # candidates per channel and level (at least the page's limit is used)
    context_weight: float = 1.0   # formula: a context word's BM25 weight relative to a query word's (measured)

    def __post_init__(self) -> None:
        if self.method not in FUSIONS:
            raise StoreError(f"fusion must be one of {', '.join(FUSIONS)}, got {self.method!r}")
        if isinstance(self.rrf_k, bool) or not isinstance(self.rrf_k, int) or self.rrf_k < 1:
            raise StoreError(f"rrf_k must be a positive integer, got {self.rrf_k!r}")
        if isinstance(self.word_weight, bool) or not isinstance(self.word_weight, (int, float)) \
                or not self.word_weight >= 0:
            raise StoreError(f"word_weight must be a number >= 0, got {self.word_weight!r}")
        if isinstance(self.context_weight, bool) or not isinstance(self.context_weight, (int, float)) \
                or not 0 <= self.context_weight <= 1:
            raise StoreError(f"context_weight must be a number in [0, 1], got {self.context_weight!r}")
        if isinstance(self.prefetch, bool) or not isinstance(self.prefetch, int) or self.prefetch < 1:
            raise StoreError(f"prefetch must be a positive integer, got {self.prefetch!r}")


def check_diversity(diversity) -> float | None:
    """MMR's diversity in [0, 1) (Qdrant's server term: 0 = relevance only), or None for no MMR."""
    if diversity is None:
        return None
    if isinstance(diversity, bool) or not isinstance(diversity, (int, float)) or not 0.0 <= diversity < 1.0:
        raise StoreError(f"diversity must be a number in [0, 1) or None, got {diversity!r}")
    return float(diversity)


def mmr_candidates(limit: int, prefetch: int) -> int:
    """How many candidates MMR picks from: the head of the level's fused list, twice the page. MMR
    re-ranks by the image vector alone, so a deeper pool would let it trade the words' matches away."""
    return min(2 * limit, max(limit, prefetch))


def ranking(words: str | None, context_words: str | None, fusion: Fusion | None, diversity) -> tuple:
    """What a store's search hands its request builder: (the words' query vector or None, the fusion,
    the diversity or None, the words' candidates re-scored with the context words, or None)."""
    fusion = fusion or Fusion()
    if context_words is not None and not isinstance(context_words, str):
        raise StoreError(f"context_words must be text or None, got {context_words!r}")
    vector = lexical.query_vector(words) if words else None
    rescore = None
    if vector is not None and context_words and fusion.context_weight > 0:
        rescore = lexical.with_context(vector, context_words, fusion.context_weight)
    return vector, fusion, check_diversity(diversity), rescore
