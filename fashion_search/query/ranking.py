"""How a text query is ranked: one object the page, the CLI, the API, evaluation and the bench share.

    Searcher.text("striped t-shirt", filters, limit=24)                       # as the page ranks (default)
    Searcher.text("striped t-shirt", options=RankingOptions(words=False))     # word match off (sidebar)
    Searcher.text("striped t-shirt", options=IMAGE_ONLY)                      # the image vector alone

The default is the page's: catalog values the query names first (store/boost.py), and within each
level the image similarity fused with the BM25 match of the query's words in the product's name
(store/hybrid.py), by the fusion measured best in docs/hybrid.md. A store built before the words
existed ranks by the image alone (Searcher.text says so in SearchResult.note).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fashion_search.store.hybrid import FUSIONS, Fusion

REBUILD_HINT = ("this store was built without the products' words, so word match is off; rebuild it with "
                "`make ingest ARGS=--recreate` to rank by the words in product names too")


@dataclass(frozen=True)
class RankingOptions:
    """words: match the query's words in the products' names (hybrid; needs a store built with words).
    named_values_first: products with more of the catalog values the query names come first.
    match_named_words: also match in the names the words that name a value ranked first or filtered on
        ("men", "black", "casual shoes" in "men black casual shoes"); off, only the other words are
        matched ("striped" in "striped t-shirt"), the levels rank by those values already.
    named_word_weight: with match_named_words off, those words still re-score the candidates the other
        words found (fetching none), at this weight relative to a matched word (store/hybrid.py's context
        words), so a pasted "Puma Men Black Casual Shoes" ranks the name saying "casual shoes" first;
        0 = ignore them. Measured: docs/hybrid.md ("Words that name catalog values").
    diversity: None, or MMR's diversity in [0, 1) (0 = relevance only) over each level's candidates.
    fusion / rrf_k / word_weight / prefetch: how image and words are fused inside Qdrant (store/hybrid.py)."""

    words: bool = True
    named_values_first: bool = True
    match_named_words: bool = False          # measured: docs/hybrid.md ("Words that name catalog values")
    diversity: float | None = None
    fusion: str = Fusion.method              # the store's defaults, chosen by measurement (docs/hybrid.md)
    rrf_k: int = Fusion.rrf_k
    word_weight: float = Fusion.word_weight
    prefetch: int = Fusion.prefetch
    named_word_weight: float = Fusion.context_weight

    def __post_init__(self) -> None:
        for name in ("words", "named_values_first", "match_named_words"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"RankingOptions.{name} must be True or False, got {getattr(self, name)!r}")
        if self.diversity is not None and (isinstance(self.diversity, bool)
                                           or not isinstance(self.diversity, (int, float))
                                           or not 0.0 <= self.diversity < 1.0):
            raise ValueError(f"diversity must be None or a number in [0, 1), got {self.diversity!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        if isinstance(self.word_weight, bool) or not isinstance(self.word_weight, (int, float)) \
                or not self.word_weight >= 0:
            raise ValueError(f"word_weight must be a number >= 0, got {self.word_weight!r}")
        if isinstance(self.named_word_weight, bool) or not isinstance(self.named_word_weight, (int, float)) \
                or not 0 <= self.named_word_weight <= 1:
            raise ValueError(f"named_word_weight must be a number in [0, 1], got {self.named_word_weight!r}")
        for name in ("rrf_k", "prefetch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"RankingOptions.{name} must be a positive integer, got {value!r}")

    def store_fusion(self) -> Fusion:
        return Fusion(self.fusion, self.rrf_k, self.word_weight, self.prefetch, self.named_word_weight)

    def with_(self, **changes) -> RankingOptions:
        return replace(self, **changes)


PAGE_DEFAULT = RankingOptions()
IMAGE_ONLY = RankingOptions(words=False, named_values_first=False)
