"""The Streamlit page shares one Edge store between sessions (st.cache_resource), so reads must stay
correct while another thread writes and optimizes."""

import threading

import numpy as np
import pytest

from fashion_search.store import Filters, open_store

DIM, START, TOTAL, READERS = 32, 2000, 5000, 8
GENDERS = ["Men", "Women", "Boys", "Girls", "Unisex"]


def _data(seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(TOTAL, DIM)).astype(np.float32)
    payloads = [{"gender": GENDERS[i % 5], "year": 2008 + i % 9} for i in range(TOTAL)]
    return vectors, payloads


@pytest.mark.timeout(120)
def test_searches_stay_well_formed_while_upserting_and_optimizing(tmp_path):
    vectors, payloads = _data()
    store = open_store(tmp_path, "busy", indexing_threshold_kb=50, full_scan_threshold_kb=50, segments=2)
    store.ensure_collection(DIM)
    store.upsert(np.arange(START), vectors[:START], payloads[:START])
    writer_done = threading.Event()
    errors: list[BaseException] = []
    checked = [0] * READERS

    def write():
        try:
            for start in range(START, TOTAL, 250):
                ids = np.arange(start, min(start + 250, TOTAL))
                store.upsert(ids, vectors[ids], [payloads[i] for i in ids])
                if start == 3500:
                    store.optimize()            # segments merge and graphs build under the readers
            store.upsert(np.arange(500), vectors[:500], payloads[:500])    # rewrites must not duplicate
            store.optimize()
        except BaseException as err:            # reported by the main thread below
            errors.append(err)
        finally:
            writer_done.set()

    def read(worker: int):
        rng = np.random.default_rng(100 + worker)
        previous_count = 0
        try:
            while not writer_done.is_set() or checked[worker] < 20:
                chosen = [GENDERS[j] for j in rng.choice(5, size=2, replace=False)]
                f = Filters({"gender": chosen}, year_min=2010)
                hits = store.search(rng.normal(size=DIM), f, limit=10)
                assert 1 <= len(hits) <= 10
                assert len({h.id for h in hits}) == len(hits)
                assert all(0 <= h.id < TOTAL for h in hits)
                assert all(h.payload == payloads[h.id] for h in hits)       # the payload of that very id
                assert all(h.payload["gender"] in chosen and h.payload["year"] >= 2010 for h in hits)
                scores = [h.score for h in hits]
                assert scores == sorted(scores, reverse=True)
                count = store.count()
                assert previous_count <= count <= TOTAL       # points only ever appear
                previous_count = count
                facets = dict(store.facets("gender"))
                assert set(facets) <= set(GENDERS) and sum(facets.values()) <= TOTAL
                checked[worker] += 1
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read, args=(w,)) for w in range(READERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]
    assert min(checked) >= 20
    assert store.count() == TOTAL
    assert dict(store.facets("gender")) == {g: TOTAL // 5 for g in GENDERS}
    assert store.stats()["indexed_vectors"] == TOTAL
    query = vectors[42]
    assert store.search(query, limit=1)[0].id == 42
    store.close()
