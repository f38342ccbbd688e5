"""The products' words in the store: sparse BM25 vectors, hybrid and MMR searches, on both backends.

References are computed independently in numpy: BM25 with Qdrant's IDF over the stored term weights,
the formula ranking (similarity + weight * BM25 inside each named-values level), and plain search.
"""

import math

import numpy as np
import pytest
import qdrant_edge as qe
from qdrant_client import models as qm

from fashion_search.store import Filters, StoreError, lexical, open_store
from fashion_search.store.hybrid import Fusion

N, DIM = 240, 12
DETAILS = ["Striped", "Checked", "Printed", "Solid", "Graphic", "Floral"]
TYPES = ["Tshirts", "Shirts", "Dresses"]
COLOURS = ["Red", "Blue", "Black"]


@pytest.fixture(scope="module")
def catalog():
    rng = np.random.default_rng(3)
    ids = list(range(1000, 1000 + N))
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    payloads = []
    for i in range(N):
        p = {"articleType": TYPES[i % 3], "baseColour": COLOURS[(i // 3) % 3], "gender": "Men"}
        if i % 11:                      # every 11th product has no name, hence no words
            p["name"] = f"Brand{i % 7} Men {DETAILS[(i // 9) % 6]} {COLOURS[(i // 3) % 3]} {TYPES[i % 3][:-1]}"
        payloads.append(p)
    return ids, vectors, payloads


@pytest.fixture(scope="module", params=["edge", "local"])
def store(request, tmp_path_factory, catalog):
    ids, vectors, payloads = catalog
    location = str(tmp_path_factory.mktemp("hybrid")) if request.param == "edge" else ":memory:"
    s = open_store(location, collection="hybrid")
    s.ensure_collection(DIM)
    s.upsert(ids, vectors, payloads)
    s.optimize()
    yield s
    s.close()


def reference(catalog, query_vec, words, boost=(), flt=None, weight=1.0, context=None, context_weight=0.0):
    """(ids in order, scores): (named matches desc, cosine + weight * BM25 desc) over every product.
    Context words add context_weight x their BM25 terms, only to products holding a query word."""
    ids, vectors, payloads = catalog
    docs = [lexical.document_vector(p) for p in payloads]
    with_words = [d for d in docs if d]
    qterms = set(lexical.query_vector(words)[0])
    cterms = set(lexical.query_vector(context)[0]) - qterms if context else set()
    df = {t: sum(t in d[0] for d in with_words) for t in qterms | cterms}
    idf = {t: math.log(1 + (len(with_words) - n + 0.5) / (n + 0.5)) for t, n in df.items()}
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ (query_vec / np.linalg.norm(query_vec))
    bm25 = np.array([sum(idf[t] * w for t, w in zip(*d) if t in qterms) if d else 0.0 for d in docs])
    extra = np.array([sum(idf[t] * w for t, w in zip(*d) if t in cterms) if d else 0.0 for d in docs])
    score = cosine + weight * (bm25 + np.where(bm25 > 0, context_weight * extra, 0.0))
    matched = np.array([sum(p.get(k) == v for k, v in boost) for p in payloads])
    allowed = np.array([all(p.get(k) in v for k, v in (flt or {}).items()) for p in payloads])
    order = [i for i in np.lexsort((-score, -matched)) if allowed[i]]
    return [ids[i] for i in order], score[order]


CASES = [
    ("striped shirt", (), None),
    ("floral dress", [("articleType", "Dresses")], None),
    ("graphic print tee", [("articleType", "Tshirts"), ("baseColour", "Red")], None),
    ("checked", (), {"articleType": ["Shirts", "Dresses"]}),
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("weight", [1.0, 0.05])
def test_hybrid_formula_equals_numpy_reference(store, catalog, case, weight):
    words, boost, flt = CASES[case]
    query = np.random.default_rng(case).normal(size=DIM)
    want_ids, want_scores = reference(catalog, query, words, boost, flt, weight)
    hits = store.search(query, Filters(flt or {}), limit=15, exact=True, boost=boost, words=words,
                        fusion=Fusion(word_weight=weight, prefetch=10_000))
    assert [h.id for h in hits] == want_ids[:15]
    np.testing.assert_allclose([h.score for h in hits], want_scores[:15], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_context_words_rescore_the_words_candidates_as_the_numpy_reference(store, catalog, case):
    """Context words ("men", a colour, a type) add context_weight x their BM25 to the products the
    query's words found, and fetch none of their own: a product holding only context words keeps its
    image score."""
    words, boost, flt = CASES[case]
    context = f"{words} men black shirt dress"
    query = np.random.default_rng(20 + case).normal(size=DIM)
    want_ids, want_scores = reference(catalog, query, words, boost, flt, 0.3, context, 0.2)
    hits = store.search(query, Filters(flt or {}), limit=15, exact=True, boost=boost, words=words,
                        context_words=context, fusion=Fusion(word_weight=0.3, prefetch=10_000, context_weight=0.2))
    assert [h.id for h in hits] == want_ids[:15]
    np.testing.assert_allclose([h.score for h in hits], want_scores[:15], rtol=1e-4, atol=1e-4)
    plain = reference(catalog, query, words, boost, flt, 0.3)[0]
    assert want_ids != plain                         # the context words change this order
    off = store.search(query, Filters(flt or {}), limit=15, exact=True, boost=boost, words=words,
                       context_words=context, fusion=Fusion(word_weight=0.3, prefetch=10_000, context_weight=0.0))
    assert [h.id for h in off] == plain[:15]


def test_context_words_alone_rank_by_image(store):
    query = np.random.default_rng(31).normal(size=DIM)
    plain = store.search(query, limit=10, exact=True)
    assert store.search(query, limit=10, exact=True, words=None, context_words="striped men") == plain
    assert store.search(query, limit=10, exact=True, words="the of", context_words="striped men") == plain
    with pytest.raises(StoreError, match="context_words"):
        store.search(query, limit=10, words="striped", context_words=["men"])


def test_words_change_the_ranking_toward_names_that_hold_them(store, catalog):
    _, _, payloads = catalog
    query = np.random.default_rng(9).normal(size=DIM)
    plain = store.search(query, limit=10, exact=True)
    hybrid = store.search(query, limit=10, exact=True, words="striped", fusion=Fusion(word_weight=1.0, prefetch=10_000))
    assert all("Striped" in h.payload.get("name", "") for h in hybrid)
    assert sum("Striped" in h.payload.get("name", "") for h in plain) < 10
    assert store.search(query, limit=10, exact=True, words="the of") == plain        # no word survives: image only


def test_both_backends_rank_hybrid_alike_with_the_default_prefetch(tmp_path, catalog):
    """Same order and scores from Edge and local mode. (Where the words' prefetch cuts through products
    tied on BM25, each backend keeps its own tied ones: docs/hybrid.md; this catalog has no such cut.)"""
    ids, vectors, payloads = catalog
    stores = [open_store(str(tmp_path), collection="a"), open_store(":memory:", collection="a")]
    try:
        for s in stores:
            s.ensure_collection(DIM)
            s.upsert(ids, vectors, payloads)
        for case, (words, boost, flt) in enumerate(CASES):
            query = np.random.default_rng(50 + case).normal(size=DIM)
            got = [[(h.id, round(h.score, 4)) for h in s.search(query, Filters(flt or {}), limit=12, exact=True,
                                                                   boost=boost, words=words, fusion=Fusion())]
                   for s in stores]
            assert got[0] == got[1]
            context = [[(h.id, round(h.score, 4)) for h in s.search(query, Filters(flt or {}), limit=12, exact=True,
                                                                       boost=boost, words=words, fusion=Fusion(),
                                                                       context_words=f"{words} men red shirt")]
                       for s in stores]
            assert context[0] == context[1]
            mmr = [[h.id for h in s.search(query, limit=10, exact=True, words=words, diversity=0.3)] for s in stores]
            assert mmr[0] == mmr[1]
    finally:
        for s in stores:
            s.close()


def test_mmr_diversity_zero_is_plain_order_and_keeps_filters(store):
    query = np.random.default_rng(4).normal(size=DIM)
    plain = store.search(query, limit=10, exact=True)
    assert [h.id for h in store.search(query, limit=10, exact=True, diversity=0.0)] == [h.id for h in plain]
    diverse = store.search(query, Filters({"articleType": ["Shirts"]}), limit=10, exact=True, diversity=0.5,
                           boost=[("baseColour", "Red")])
    assert len(diverse) == 10 and all(h.payload["articleType"] == "Shirts" for h in diverse)
    reds = [h.payload["baseColour"] == "Red" for h in diverse]
    assert reds == sorted(reds, reverse=True)          # named values still first under MMR


def test_unnamed_products_are_found_by_image(store, catalog):
    ids, vectors, payloads = catalog
    unnamed = [i for i, p in enumerate(payloads) if "name" not in p]
    hits = store.search(vectors[unnamed[0]], limit=1, exact=True, words="striped shirt", fusion=Fusion(word_weight=0.0))
    assert hits[0].id == ids[unnamed[0]]
    back = store.retrieve([ids[unnamed[0]]], with_vectors=True)[0]
    np.testing.assert_allclose(back.payload["_vector"], vectors[unnamed[0]] / np.linalg.norm(vectors[unnamed[0]]),
                               atol=1e-5)


@pytest.mark.parametrize("bad", [dict(diversity=1.0), dict(diversity=-0.1), dict(diversity="x"),
                                 dict(fusion=Fusion(prefetch=5), diversity=True)])
def test_bad_ranking_arguments_refused(store, bad):
    with pytest.raises(StoreError):
        store.search(np.ones(DIM), words="striped", **bad)
    for kwargs in (dict(method="magic"), dict(rrf_k=0), dict(prefetch=0), dict(word_weight=-1),
                   dict(context_weight=1.5), dict(context_weight=True)):
        with pytest.raises(StoreError):
            Fusion(**kwargs)


@pytest.mark.parametrize("backend", ["edge", "local"])
def test_store_built_without_words_still_searches_by_image(tmp_path, catalog, backend):
    """A collection created before the words existed: no sparse vector; words are ignored, writes work."""
    if backend == "edge":
        shard = qe.EdgeShard.create(str(tmp_path / "old"),
                                    qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine)))
        shard.close()
        store = open_store(str(tmp_path), collection="old")
    else:
        store = open_store(":memory:", collection="old")
        store.client.create_collection("old", vectors_config=qm.VectorParams(size=DIM, distance=qm.Distance.COSINE))
    try:
        _assert_image_only(store, catalog, seed=1)
    finally:
        store.close()


def _assert_image_only(store, catalog, seed: int) -> None:
    """The collection holds no words, takes the catalog's writes, and a search given words ranks (ids
    and scores) exactly as the image-only search."""
    store.ensure_collection(DIM)
    assert not store.has_words
    store.upsert(*catalog)
    query = np.random.default_rng(seed).normal(size=DIM)
    plain = store.search(query, limit=10, exact=True)
    got = store.search(query, limit=10, exact=True, words="striped shirt")
    assert [(h.id, round(h.score, 5)) for h in got] == [(h.id, round(h.score, 5)) for h in plain]


def test_new_collections_hold_words(store):
    assert store.has_words


def test_matched_words_share_the_tokenizer():
    assert lexical.matched_words("stripes t-shirt", "Nike Men Striped T-shirt") == ["stripes", "t-shirt"]
    assert lexical.matched_words("red summer dress", "Blue Denim Jeans") == []
    assert lexical.matched_words("the, Floral!", "Floral Print Kurta") == ["Floral!"]
    assert lexical.matched_words("striped", None) == []
    assert lexical.document_vector({"name": "  "}) is None and lexical.query_vector("the of") is None
    assert lexical.document_text({"name": "Striped Tee", "description": "cotton"}) == "Striped Tee cotton"


@pytest.mark.parametrize("backend", ["edge", "local"])
def test_words_off_creates_an_image_only_collection(tmp_path, catalog, backend):
    """open_store(words=False): no sparse vector although the products have names; searches by image."""
    location = str(tmp_path) if backend == "edge" else ":memory:"
    store = open_store(location, collection="plain", words=False)
    try:
        _assert_image_only(store, catalog, seed=2)
    finally:
        store.close()
    if backend == "edge":  # the layout is the collection's: reopened with the default, it stays image-only
        with open_store(location, collection="plain") as reopened:
            assert not reopened.has_words and reopened.count() == N
    with pytest.raises(StoreError, match="words"):
        open_store(str(tmp_path / "bad"), collection="bad", words="no")
