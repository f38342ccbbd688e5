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
WORD_FIELDS = ("name", "description")       # payload fields whose text it holds, when present
# {word: probability} a photo tagger read off the photo (tagging/, ingest --tagger). A tag's term gets the
# probability x a tag weight, beside the name's BM25 term weights (about 1 for a word of a name of average
# length), so the words' prefetch brings the surest first. Not BM25 over the tag words: their count would
# set the length normalisation, and a photo with one tag would outrank a surer one with three.
# Without a name a sure tag counts like a word of the name: the photo is all there is to go by. Beside a
# name or description the catalog's own words rank alone (the tags are still stored and shown): at a
# quarter of a name's word, tags lowered the held-out descriptive P@10 from 0.708 to 0.631 and at a full
# one to 0.600, because a name that says "striped" is surer than a photo that looks it (docs/tagging.md).
PHOTO_TAGS_KEY = "photo_tags"
TAG_WEIGHT, TAG_WEIGHT_BESIDE_NAME = 1.0, 0.0
# BM25's expected document length in tokens. Product names are short (median 6 tokens after stopwords
# in the 41k catalog); with the library's default of 256 every name would count as "very short" and
# length normalisation would vanish, so a long brand-heavy name would weigh a word as much as "Striped Tee".
AVG_NAME_TOKENS = 6.0

_BM25 = qe.Bm25(qe.Bm25Config(avg_len=AVG_NAME_TOKENS))


def document_text(payload: dict, with_tags: bool = True) -> str:
    """The words of a product: its name plus a free-text description when the catalog has one, plus the
    words a photo tagger read off its photo (with_tags, when it has any)."""
    parts = [payload.get(f) for f in WORD_FIELDS] + ([photo_tag_text(payload)] if with_tags else [])
    return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


def photo_tags(payload: dict) -> dict[str, float]:
    """The payload's {tag word: probability}, anything malformed left out (a hand-edited payload)."""
    tags = payload.get(PHOTO_TAGS_KEY)
    if not isinstance(tags, dict):
        return {}
    return {w: float(p) for w, p in tags.items()
            if isinstance(w, str) and isinstance(p, (int, float)) and not isinstance(p, bool) and 0 < p <= 1}


def photo_tag_text(payload: dict) -> str:
    return " ".join(photo_tags(payload))


def document_vector(payload: dict) -> tuple[list[int], list[float]] | None:
    """(indices, term weights) of a product's words, None when it has none (no name, no photo tags)."""
    weights: dict[int, float] = {}
    text = document_text(payload, with_tags=False)
    if text:
        vector = _BM25.embed_document(text)
        weights = dict(zip(vector.indices, vector.values))
    tag_weight = TAG_WEIGHT_BESIDE_NAME if weights else TAG_WEIGHT
    for word, probability in photo_tags(payload).items() if tag_weight > 0 else ():
        for term in word_terms(word):
            weights[term] = weights.get(term, 0.0) + tag_weight * probability
    return (list(weights), list(weights.values())) if weights else None


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
