"""The tags a photo tagger predicts: the detail words of training product names, one per BM25 term.

"Striped", "stripes" and "stripe" are one term for the store's tokenizer (store/lexical.py stems them
alike), so they are one tag, written as the spelling names use most ("striped"): a query for any of
them matches it, and the network is not asked to tell apart three spellings of one look.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from fashion_search.catalog.name_words import detail_words
from fashion_search.catalog.products import Product
from fashion_search.store.lexical import word_terms


def tag_vocabulary(products: Iterable[Product], min_products: int, max_tags: int) -> list[str]:
    """The tags: terms of detail words that at least `min_products` names hold, most frequent first,
    at most `max_tags`; each written as its most frequent spelling."""
    spellings: dict[frozenset, Counter] = defaultdict(Counter)
    products_with: Counter = Counter()
    for product in products:
        terms_here = set()
        for word in detail_words(product):
            terms = word_terms(word)
            if len(terms) == 1:          # a stopword has none; a hyphen-split word two: neither is one tag
                spellings[terms][word] += 1
                terms_here.add(terms)
        products_with.update(terms_here)
    frequent = [t for t, n in products_with.most_common() if n >= min_products][:max_tags]
    return [spellings[t].most_common(1)[0][0] for t in frequent]


def tag_targets(products: Sequence[Product], vocabulary: Sequence[str]) -> np.ndarray:
    """(N, T) float32: 1 where the product's name holds the tag's term (in any spelling), else 0."""
    column = {word_terms(tag): k for k, tag in enumerate(vocabulary)}
    targets = np.zeros((len(products), len(vocabulary)), np.float32)
    for row, product in enumerate(products):
        for word in detail_words(product):
            k = column.get(word_terms(word))
            if k is not None:
                targets[row, k] = 1.0
    return targets
