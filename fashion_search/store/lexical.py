"""The product's own words as a sparse BM25 vector, stored beside the image vector.

One tokenizer for documents and queries on both backends: Qdrant Edge's `Bm25` (lowercase, English
stopwords and Snowball stemmer, hashed token ids), importable wherever the store is. It turns text into
term-frequency weights only; the IDF is Qdrant's (the sparse vector is created with `modifier=idf`),
so it follows the collection as products are added, on Edge and server alike. Computing the vectors
here rather than with a server's own BM25 inference keeps the Edge store, qdrant-client's local mode
and a server ranking identically (the store contract suite checks it).

A lexical tokenizer, not a model: store/ still knows nothing of CLIP.
"""

from __future__ import annotations

from functools import lru_cache

import qdrant_edge as qe

WORDS_VECTOR = "name_bm25"                  # the named sparse vector of every collection built with words
PHOTO_TAGS_KEY = "photo_tags"               # detail words a photo tagger read off the photo (tagging/)
WORD_FIELDS = ("name", "description", PHOTO_TAGS_KEY)  # payload fields whose text it holds, when present
CATALOG_WORD_FIELDS = WORD_FIELDS[:2]        # the catalog's own words, without what a tagger added
# BM25's expected document length in tokens. Product names are short (median 6 tokens after stopwords
# in the 41k catalog); with the library's default of 256 every name would count as "very short" and
# length normalisation would vanish, so a long brand-heavy name would weigh a word as much as "Striped Tee".
AVG_NAME_TOKENS = 6.0

_BM25 = qe.Bm25(qe.Bm25Config(avg_len=AVG_NAME_TOKENS))


def document_text(payload: dict, fields: tuple[str, ...] = WORD_FIELDS) -> str:
    """The words of a product: its name plus a free-text description when the catalog has one, plus the
    tags a photo tagger read off its photo when the store was built with one."""
    parts = [payload.get(f) for f in fields]
    return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


def document_vector(payload: dict) -> tuple[list[int], list[float]] | None:
    """(indices, term weights) of a product's words, None when it has no words (no name)."""
    text = document_text(payload)
    if not text:
        return None
    vector = _BM25.embed_document(text)
    return (list(vector.indices), list(vector.values)) if vector.indices else None


def query_vector(text: str) -> tuple[list[int], list[float]] | None:
    """(indices, weight 1 each) of a query's words, None when none survives (only stopwords, empty)."""
    vector = _BM25.embed_query(text or "")
    return (list(vector.indices), list(vector.values)) if vector.indices else None


def with_context(words: tuple[list[int], list[float]], context: str, context_weight: float):
    """`words` (a query_vector) plus the context's other words at `context_weight` (a hybrid search's
    context words, store/hybrid.py); None when the context adds no word."""
    weights = dict(zip(*words))
    for term in (query_vector(context) or ((), ()))[0]:
        weights.setdefault(term, float(context_weight))
    return (list(weights), list(weights.values())) if len(weights) > len(words[0]) else None


@lru_cache(maxsize=4096)
def word_terms(word: str) -> frozenset[int]:
    """The BM25 term ids of one word (one for most words, none for a stopword): words with the same
    terms are the same word to the store ("stripes", "striped")."""
    return frozenset(_BM25.embed_query(word).indices)


def matched_words(query: str, text: str | None) -> list[str]:
    """The query's words that occur in `text` under the same tokenizer ("stripes" matches "Striped"),
    in query order: what a result card marks as matched."""
    if not text:
        return []
    have = set(_BM25.embed_document(text).indices)
    out: list[str] = []
    for word in (query or "").split():
        terms = word_terms(word.strip(",.;:!?\"'()").lower())
        if terms and terms <= have and word not in out:
            out.append(word)
    return out
