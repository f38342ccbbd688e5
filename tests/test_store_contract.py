"""One contract, two backends: Qdrant Edge on disk and qdrant-client local mode (the server code path).

Every answer is checked against an independent reference: numpy brute force for search, pandas for
counts and facets, the written arrays for retrieve/scroll.
"""

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fashion_search.store import CollectionNotFound, Filters, StoreError, open_store

N, DIM = 300, 16
MODEL = {"name": "tiny-clip", "weights_hash": "abc123"}
VOCAB = {
    "gender": ["Men", "Women", "Boys", "Girls", "Unisex"],
    "masterCategory": ["Apparel", "Accessories", "Footwear"],
    "subCategory": ["Topwear", "Bottomwear", "Shoes", "Watches"],
    "articleType": ["Tshirts", "Shirts", "Jeans", "Casual Shoes", "Watches", "Handbags"],
    "baseColour": ["Black", "White", "Blue", "Navy Blue", "Red"],
    "season": ["Summer", "Winter", "Fall", "Spring"],
    "usage": ["Casual", "Formal", "Sports"],
}
FILTER_CASES = [
    Filters(),
    Filters({"gender": ["Men"]}),
    Filters({"gender": ["Men", "Women"]}),                       # OR within a field
    Filters({"gender": ["Women"], "masterCategory": ["Footwear", "Apparel"]}),   # AND across fields
    Filters({"baseColour": []}),                                 # empty selection = no constraint
    Filters(year_min=2011, year_max=2013),
    Filters(year_min=2014),
    Filters({"season": ["Summer"], "usage": ["Casual", "Sports"]}, year_max=2012),
    Filters({"articleType": ["Jeans"], "baseColour": ["Red"], "gender": ["Girls"]}),   # may match nothing
]


@pytest.fixture(scope="module")
def catalog():
    rng = np.random.default_rng(7)
    ids = rng.choice(np.arange(1, 100_000), size=N, replace=False)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    payloads = []
    for i in range(N):
        p = {f: str(rng.choice(v)) for f, v in VOCAB.items()}
        p["year"] = int(rng.integers(2008, 2017))
        p["name"] = f"product {ids[i]}"
        if i % 17 == 0:
            p["baseColour"] = None               # absent values must not match nor be faceted
        if i % 23 == 0:
            del p["year"]
        payloads.append(p)
    frame = pd.DataFrame(payloads, index=ids)
    return ids, vectors, payloads, frame


def mask_of(frame: pd.DataFrame, f: Filters) -> np.ndarray:
    mask = np.ones(len(frame), dtype=bool)
    for field, values in f.values.items():
        if values:
            mask &= frame[field].isin(values).to_numpy()
    years = frame["year"].to_numpy(dtype=float)      # NaN where absent: fails every comparison
    if f.year_min is not None:
        mask &= years >= f.year_min
    if f.year_max is not None:
        mask &= years <= f.year_max
    return mask


def brute_force(vectors, ids, query, mask, limit, exclude=None):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = unit @ (query / np.linalg.norm(query))
    order = [i for i in np.argsort(-scores) if mask[i] and ids[i] != exclude]
    return [int(ids[i]) for i in order[:limit]], scores[order[:limit]]


def make_store(backend, root, collection="products", persistent=False, **kw):
    """Local mode stays in memory unless the test needs the disk: its on-disk mode commits every
    point to sqlite, which is slow on a shared machine and adds nothing to the contract."""
    if backend == "edge":
        return open_store(root / "edge", collection, **kw)
    return open_store(f"local:{root / 'local'}" if persistent else ":memory:", collection, **kw)


def fill(store, catalog):
    ids, vectors, payloads, _ = catalog
    store.ensure_collection(DIM, MODEL)
    store.upsert(ids, vectors, payloads)
    return store


def _scratch_dir(fallback: Path):
    """Edge fsyncs each payload index and WAL write: about 2 s per new collection on this shared disk,
    ~20 ms on tmpfs. The files and the close/reopen cycle are the same, so use /dev/shm when there is one."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield fallback
        return
    path = Path(tempfile.mkdtemp(dir=shm, prefix="fashion-store-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def store_dir(tmp_path):
    yield from _scratch_dir(tmp_path)


@pytest.fixture(scope="module", params=["edge", "local"])
def backend(request):
    return request.param


@pytest.fixture(scope="module")
def readonly(backend, tmp_path_factory, catalog):
    """Shared by the tests that only read, so the store is written once per backend."""
    for root in _scratch_dir(tmp_path_factory.mktemp(backend)):
        store = fill(make_store(backend, root), catalog)
        yield store
        store.close()


@pytest.fixture
def filled(backend, store_dir, catalog):
    store = fill(make_store(backend, store_dir), catalog)
    yield store
    store.close()


@pytest.mark.parametrize("case", range(len(FILTER_CASES)))
def test_exact_filtered_search_equals_numpy_brute_force(readonly, catalog, case):
    ids, vectors, _, frame = catalog
    f = FILTER_CASES[case]
    query = np.random.default_rng(case).normal(size=DIM)
    want_ids, want_scores = brute_force(vectors, ids, query, mask_of(frame, f), 10)
    hits = readonly.search(query, f, limit=10, exact=True)
    assert [h.id for h in hits] == want_ids
    np.testing.assert_allclose([h.score for h in hits], want_scores, atol=1e-5)
    assert all(h.payload["name"] == f"product {h.id}" for h in hits)


BOOST_CASES = [
    (Filters(), [("baseColour", "Red")]),
    (Filters(), [("baseColour", "Red"), ("articleType", "Jeans")]),
    (Filters({"gender": ["Men", "Women"]}), [("articleType", "Watches"), ("usage", "Formal"), ("season", "Winter")]),
    (Filters(year_min=2012), [("baseColour", "Red"), ("baseColour", "Blue")]),   # two values of one field: OR
    (Filters(), [("articleType", "Jeans"), ("baseColour", "Red"), ("gender", "Girls")]),  # few match all three
    # "kids sneakers": 4 pairs in 2 fields, so 3 match levels (store/boost.max_matches), not 5
    (Filters(), [("gender", "Boys"), ("gender", "Girls"), ("articleType", "Casual Shoes"), ("articleType", "Jeans")]),
]


@pytest.mark.parametrize("case", range(len(BOOST_CASES)))
def test_boosted_search_ranks_by_matches_then_similarity(readonly, catalog, case):
    """Reference: numpy over every point, sorted by (boost pairs matched desc, cosine desc)."""
    ids, vectors, payloads, frame = catalog
    f, boost = BOOST_CASES[case]
    query = np.random.default_rng(100 + case).normal(size=DIM)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ (query / np.linalg.norm(query))
    matched = np.array([sum(p.get(k) == v for k, v in boost) for p in payloads])
    allowed = np.flatnonzero(mask_of(frame, f))
    order = allowed[np.lexsort((-cosine[allowed], -matched[allowed]))][:12]
    hits = readonly.search(query, f, limit=12, exact=True, boost=boost)
    assert [h.id for h in hits] == [int(ids[i]) for i in order]
    np.testing.assert_allclose([h.score for h in hits], cosine[order], atol=1e-5)   # the similarity, not the formula
    plain = allowed[np.argsort(-cosine[allowed])][:12]
    assert list(order) != list(plain) and matched[order[0]] == matched[allowed].max() > 0   # the boost mattered


def test_boost_without_matches_equals_plain_search_and_bad_boosts_refused(readonly):
    query = np.random.default_rng(5).normal(size=DIM)
    plain = readonly.search(query, limit=10, exact=True)
    boosted = readonly.search(query, limit=10, exact=True, boost=[("articleType", "No Such Type")])
    assert [(h.id, round(h.score, 5)) for h in boosted] == [(h.id, round(h.score, 5)) for h in plain]
    too_many = [("baseColour", f"colour {i}") for i in range(33)]
    for bad in ([("name", "x")], [("baseColour", "")], [("baseColour",)], [("baseColour", 3)], too_many):
        with pytest.raises(StoreError):
            readonly.search(query, boost=bad)


@pytest.mark.parametrize("case", range(len(FILTER_CASES)))
def test_count_equals_mask(readonly, catalog, case):
    assert readonly.count(FILTER_CASES[case]) == int(mask_of(catalog[3], FILTER_CASES[case]).sum())


@pytest.mark.parametrize("case", [0, 1, 3, 5, 8])
def test_facets_equal_pandas_value_counts(readonly, catalog, case):
    frame, f = catalog[3], FILTER_CASES[case]
    for field in list(VOCAB) + ["year"]:
        want = frame[mask_of(frame, f)][field].dropna().value_counts()
        got = readonly.facets(field, f)
        assert dict(got) == {int(k) if field == "year" else k: int(c) for k, c in want.items()}, field
        assert [c for _, c in got] == sorted((c for _, c in got), reverse=True)
        assert readonly.facets(field, f, limit=2) == got[:2]


def test_facets_narrow_under_filter_and_without_drops_own_field(readonly, catalog):
    frame = catalog[3]
    footwear = Filters({"masterCategory": ["Footwear"], "gender": ["Men"]})
    narrowed = dict(readonly.facets("articleType", footwear))
    assert sum(narrowed.values()) == int(mask_of(frame, footwear).sum())
    own_field_free = dict(readonly.facets("masterCategory", footwear.without("masterCategory")))
    assert own_field_free == frame[frame.gender == "Men"].masterCategory.value_counts().to_dict()


def test_retrieve_keeps_order_skips_missing_and_returns_unit_vectors(readonly, catalog):
    ids, vectors, payloads, _ = catalog
    asked = [int(ids[5]), 999_999, int(ids[0]), int(ids[17])]
    hits = readonly.retrieve(asked, with_vectors=True)
    assert [h.id for h in hits] == [asked[0], asked[2], asked[3]]
    for hit, row in zip(hits, [5, 0, 17]):
        np.testing.assert_allclose(hit.payload.pop("_vector"), vectors[row] / np.linalg.norm(vectors[row]), atol=1e-5)
        assert hit.payload == {k: v for k, v in payloads[row].items() if v is not None}
        assert hit.score == 0.0
    assert "_vector" not in readonly.retrieve([int(ids[5])])[0].payload


def test_upsert_twice_is_idempotent_and_overwrites(filled, catalog):
    ids, vectors, payloads, _ = catalog
    before = filled.retrieve(ids[:50], with_vectors=True)
    filled.upsert(ids, vectors, payloads)
    assert filled.count() == N
    after = filled.retrieve(ids[:50], with_vectors=True)
    for a, b in zip(before, after):
        np.testing.assert_allclose(a.payload["_vector"], b.payload["_vector"], atol=1e-6)
    changed = dict(payloads[0], gender="Unisex")
    filled.upsert([ids[0]], vectors[1:2], [changed])
    hit = filled.retrieve([ids[0]], with_vectors=True)[0]
    assert hit.payload["gender"] == "Unisex" and filled.count() == N
    np.testing.assert_allclose(hit.payload["_vector"], vectors[1] / np.linalg.norm(vectors[1]), atol=1e-5)


def test_model_identity_recorded_and_mismatch_refused(filled):
    assert filled.model_info() == MODEL
    filled.ensure_collection(DIM, MODEL)                 # same identity: accepted, nothing deleted
    filled.ensure_collection(DIM, None)                  # no identity given: no check
    filled.ensure_collection(DIM, dict(MODEL, name="/moved/tiny-clip"))   # same weights, moved path: fine
    assert filled.count() == N
    with pytest.raises(StoreError, match="--recreate") as err:
        filled.ensure_collection(DIM, {"name": "tiny-clip", "weights_hash": "other"})
    assert "other" in str(err.value) and "abc123" in str(err.value)
    assert filled.count() == N and filled.model_info() == MODEL


def test_dimension_mismatch_refused(filled):
    with pytest.raises(StoreError, match=r"16-d.*32-d.*--recreate"):
        filled.ensure_collection(32, MODEL)
    assert filled.count() == N


def test_recreate_replaces_collection(filled):
    other = {"name": "bigger", "weights_hash": "f00"}
    filled.ensure_collection(32, other, recreate=True)
    assert filled.count() == 0 and filled.model_info() == other
    filled.upsert([1], np.ones((1, 32)), [{"gender": "Men"}])
    assert filled.facets("gender") == [("Men", 1)]


def test_more_like_this_excludes_itself(readonly, catalog):
    ids, vectors, _, frame = catalog
    for row, f in [(3, None), (4, Filters({"gender": ["Men", "Women"]}, year_min=2010))]:
        hits = readonly.more_like_this(int(ids[row]), f, limit=8)
        want, _ = brute_force(vectors, ids, vectors[row], mask_of(frame, f or Filters()), 8, exclude=ids[row])
        assert int(ids[row]) not in [h.id for h in hits]
        assert [h.id for h in hits] == want
    with pytest.raises(StoreError, match="not in collection"):
        readonly.more_like_this(999_999)


def test_existing_ids(readonly, catalog):
    ids = catalog[0]
    assert readonly.existing_ids([int(ids[0]), 999_999, int(ids[9])]) == {int(ids[0]), int(ids[9])}
    assert readonly.existing_ids([]) == set()


@pytest.mark.parametrize("target_backend", ["edge", "local"])
def test_scroll_round_trip_into_another_store(readonly, catalog, store_dir, target_backend):
    ids, vectors, _, _ = catalog
    target = make_store(target_backend, store_dir / "target")
    target.ensure_collection(DIM, readonly.model_info())
    batches = list(readonly.scroll(batch=64))
    assert len(batches) == 5 and sum(map(len, batches)) == N
    for batch in batches:
        target.upsert([h.id for h in batch], np.stack([h.payload["_vector"] for h in batch]),
                      [{k: v for k, v in h.payload.items() if k != "_vector"} for h in batch])
    assert target.count() == N and target.model_info() == MODEL
    for f in FILTER_CASES[:4]:
        assert dict(target.facets("articleType", f)) == dict(readonly.facets("articleType", f))
        q = vectors[11]
        assert [h.id for h in target.search(q, f, exact=True)] == [h.id for h in readonly.search(q, f, exact=True)]
    target.close()


def test_persistence_after_close_and_reopen(backend, store_dir, catalog):
    ids, vectors, payloads, _ = catalog
    store = fill(make_store(backend, store_dir, persistent=True), catalog)
    store.optimize()
    before = [h.id for h in store.search(vectors[2], FILTER_CASES[3], exact=True)]
    store.close()
    store.close()                                        # closing twice is harmless
    with pytest.raises(StoreError, match="closed"):
        store.count()
    reopened = make_store(backend, store_dir, persistent=True)
    assert reopened.count() == N and reopened.model_info() == MODEL
    assert [h.id for h in reopened.search(vectors[2], FILTER_CASES[3], exact=True)] == before
    reopened.ensure_collection(DIM, MODEL)               # reopening never deletes
    assert reopened.count() == N
    reopened.close()


def test_collections_are_separate(backend, store_dir):
    a = make_store(backend, store_dir, "alpha", persistent=True)
    a.ensure_collection(4)
    a.upsert([1, 2], np.eye(4)[:2], [{}, {}])
    a.close()
    b = make_store(backend, store_dir, "beta", persistent=True)
    for read in (b.count, lambda: b.search(np.ones(4)), lambda: b.facets("gender"), lambda: b.retrieve([1])):
        with pytest.raises(CollectionNotFound, match="does not exist.*ingest"):
            read()
    assert b.model_info() is None
    b.close()


@pytest.mark.parametrize("bad", [
    lambda s: s.upsert([1], np.ones((1, DIM + 1)), [{}]),
    lambda s: s.upsert([1, 2], np.ones((1, DIM)), [{}, {}]),
    lambda s: s.upsert([1], np.full((1, DIM), np.nan), [{}]),
    lambda s: s.upsert([1], np.zeros((1, DIM)), [{}]),
    lambda s: s.upsert([-5], np.ones((1, DIM)), [{}]),
    lambda s: s.upsert([1], np.ones((1, DIM)), [{"year": "2012a"}]),
    lambda s: s.search(np.ones(DIM), Filters({"colour": ["Red"]})),
    lambda s: s.search(np.ones(DIM), Filters({"gender": "Men"})),
    lambda s: s.search(np.ones(DIM), Filters(year_min=2015, year_max=2010)),
    lambda s: s.search(np.ones(DIM), limit=0),
    lambda s: s.facets("name"),
    lambda s: s.ensure_collection(DIM, {"name": "no hash"}),
], ids=["dim", "pairing", "nan", "zero", "negative-id", "year", "field", "string-values", "year-order",
        "limit", "facet-field", "model-shape"])
def test_bad_input_raises_store_error(readonly, bad):
    with pytest.raises(StoreError):
        bad(readonly)
    assert readonly.count() == N


def test_edge_refuses_second_opener(store_dir):
    first = open_store(store_dir, "products")
    first.ensure_collection(4)
    with pytest.raises(StoreError, match="open in another process"):
        open_store(store_dir, "products")
    first.close()
    open_store(store_dir, "products").close()            # free again once closed


def _mixture(n, dim, clusters, seed):
    """Clustered vectors (a gaussian mixture), like real embeddings, not uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    vectors = centres[rng.integers(0, clusters, n)] + 0.6 * rng.normal(size=(n, dim))
    queries = centres[rng.integers(0, clusters, 40)] + 0.6 * rng.normal(size=(40, dim))
    genders = np.array(VOCAB["gender"])
    seasons = np.array(VOCAB["season"])
    payloads = [{"gender": str(g), "season": str(s), "year": int(y)} for g, s, y
                in zip(genders[rng.integers(0, 5, n)], seasons[rng.integers(0, 4, n)], rng.integers(2008, 2017, n))]
    return vectors.astype(np.float32), queries, payloads


def _mean_recall_at_10(store, queries, f):
    recalls = []
    for q in queries:
        approx = {h.id for h in store.search(q, f, limit=10)}
        exact = {h.id for h in store.search(q, f, limit=10, exact=True)}
        recalls.append(len(approx & exact) / 10)
    return float(np.mean(recalls))


def test_edge_hnsw_recall_after_optimize(store_dir):
    n, dim = 5000, 64
    vectors, queries, payloads = _mixture(n, dim, clusters=40, seed=3)
    recall_filters = [None, Filters({"gender": ["Men", "Women"]}), Filters({"gender": ["Girls"]}, 2010, 2014),
                      Filters({"gender": ["Women", "Men"], "season": ["Summer", "Winter"]})]
    # Small thresholds so a test-sized collection gets HNSW graphs (Qdrant's default wants 10 MB).
    small = dict(indexing_threshold_kb=100, full_scan_threshold_kb=100, segments=2)
    store = open_store(store_dir, "recall", **small)
    store.ensure_collection(dim)
    store.upsert(np.arange(n), vectors, payloads)
    store.optimize()
    assert store.stats()["indexed_vectors"] == n          # the graph exists: queries are ANN, not a scan
    for f in recall_filters:
        assert _mean_recall_at_10(store, queries, f) >= 0.98, f
    store.close()
    # int8 quantization: ANN keeps its recall (oversampling + rescoring), exact ignores the int8 copy.
    quantized = open_store(store_dir, "int8", quantization="int8", **small)
    quantized.ensure_collection(dim)
    quantized.upsert(np.arange(n), vectors, payloads)
    quantized.optimize()
    assert _mean_recall_at_10(quantized, queries, None) >= 0.98
    want, _ = brute_force(vectors, np.arange(n), queries[0], np.ones(n, dtype=bool), 10)
    assert [h.id for h in quantized.search(queries[0], limit=10, exact=True)] == want
    quantized.close()
    # Control: a deliberately starved graph loses recall, which proves exact=False really went
    # through HNSW above (a silent brute-force fallback would score 1.0 here too).
    weak = open_store(store_dir, "weak", hnsw_m=2, hnsw_ef_construct=4, search_ef=4, **small)
    weak.ensure_collection(dim)
    weak.upsert(np.arange(n), vectors, payloads)
    weak.optimize()
    assert _mean_recall_at_10(weak, queries, recall_filters[1]) < 0.9
    weak.close()


def test_edge_boosted_search_keeps_its_recall_through_hnsw(store_dir):
    """Forced HNSW (1 KB thresholds) on 20k clustered points: a query near the T-shirt cluster boosting a
    type + colour pair that 0.2-1% of the points have. The level filtered to that pair must be searched
    with ACORN; when Edge ignored the params set on the prefetches alone, recall@10 here was 0.44."""
    from fashion_search.bench.points import PointGenerator, build_store

    n, dim = 20_000, 32
    generator = PointGenerator(n, dim, seed=0)
    ids, vectors, payloads = [], [], []
    for chunk_ids, chunk_vectors, chunk_payloads in generator.chunks():
        ids += chunk_ids
        vectors.append(chunk_vectors)
        payloads += chunk_payloads
    ids, vectors = np.array(ids), np.concatenate(vectors)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    pairs = Counter((p["articleType"], p["baseColour"]) for p in payloads)
    rare = [pair for pair, c in pairs.most_common() if 0.002 * n < c < 0.01 * n and pair[0] != "Tshirts"][:10]
    assert len(rare) == 10
    store, _ = build_store(str(store_dir), generator, indexing_threshold_kb=1, full_scan_threshold_kb=1)
    try:
        # n image vectors + n word vectors (every synthetic product has a name)
        assert store.stats()["indexed_vectors"] == 2 * n
        recall = []
        for k, (article, colour) in enumerate(rare):
            query = generator.direction("articleType", "Tshirts") + 0.3 * np.random.default_rng(k).normal(size=dim)
            cosine = unit @ (query / np.linalg.norm(query))
            matched = np.array([(p["articleType"] == article) + (p["baseColour"] == colour) for p in payloads])
            want = set(ids[np.lexsort((-cosine, -matched))[:10]].tolist())
            hits = store.search(query, limit=10, boost=[("articleType", article), ("baseColour", colour)])
            recall.append(len(want & {h.id for h in hits}) / 10)
        assert np.mean(recall) >= 0.95, recall
    finally:
        store.close()
