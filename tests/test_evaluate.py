"""Retrieval evaluation: exact numbers on hand-made embeddings, and the whole job on a tiny catalog."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fashion_search.catalog.products import Product
from fashion_search.catalog.splits import save_splits, split_ids
from fashion_search.evaluation import run as evaluate
from fashion_search.evaluation import scoring as eval_scoring
from fashion_search.evaluation import tasks as eval_tasks
from fashion_search.store import Hit


def _product(i, article, gender="Men", sub=None, name=None):
    return Product(id=1000 + i, gender=gender, masterCategory="Apparel", subCategory=sub, articleType=article,
                   baseColour="Black", season=None, usage=None, year=2012, name=f"item {i}" if name is None else name,
                   image_ref=f"images/{1000 + i}.jpg")


# Hand-made corpus (24 products) where every expected number can be worked out on paper.
# Dims: 0 = "Tshirts" concept, 1 = "Jeans" concept, 2 = a direction no image has, 3.. = one per product.
#   Tshirts 0-7   : concept T             -> score 1/sqrt(2) = 0.707 for a Tshirts query
#   Tshirts 8-11  : 0.1 T + 0.5 J          -> 0.089 for Tshirts, 0.445 for Jeans
#   Jeans 0-9     : concept J             -> 0.707 for Jeans
#   Jeans 10-11   : 0.5 T, gender Women   -> 0.447 for Tshirts
# so "Tshirts" top-10 = 8 Tshirts + 2 Women's Jeans (P@10 0.8, P@1 1); "Jeans" top-10 = 10 Jeans (1.0).
# With the filter gender=Men (compound) or subCategory=Topwear (articleType's parent) the 2 Jeans drop
# out and Tshirts 8-9 take their places: P@10 1.0.
N_PRODUCTS, T, J, NOWHERE = 24, 0, 1, 2


def _hand_made():
    products, images = [], []
    for i in range(12):
        products.append(_product(i, "Tshirts", sub="Topwear"))
        images.append({T: 1.0} if i < 8 else {T: 0.1, J: 0.5})
    for i in range(12, 24):
        women = i >= 22
        products.append(_product(i, "Jeans", gender="Women" if women else "Men", sub="Bottomwear"))
        images.append({T: 0.5} if women else {J: 1.0})
    for i, image in enumerate(images):
        image[3 + i] = 1.0  # a unique direction, so the name query of product i finds it
    return products, images


class OneHotEmbedder:
    """Texts and images -> hand-made vectors; image 'objects' here are dicts {dim: weight}."""

    dim = 3 + N_PRODUCTS

    def __init__(self, products, wrong_name_product: int):
        self.name_dim = {p.name: 3 + i for i, p in enumerate(products)}
        # Product 0's name points at product 1's direction: its own image scores 0 against it.
        self.name_dim[products[wrong_name_product].name] = 3 + wrong_name_product + 1

    def _unit(self, weights: dict) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for d, w in weights.items():
            v[d] = w
        return v / np.linalg.norm(v)

    def encode_images(self, images, progress=False):
        return np.stack([self._unit(image) for image in images])

    def encode_texts(self, texts):
        out = []
        for text in texts:
            if text in self.name_dim:
                out.append(self._unit({self.name_dim[text]: 1.0}))
            elif "tshirts" in text.lower():
                out.append(self._unit({T: 1.0}))
            elif "jeans" in text.lower():
                out.append(self._unit({J: 1.0}))
            else:  # "Apparel", "Black", "Men": every product is relevant, the vector is irrelevant
                out.append(self._unit({NOWHERE: 1.0}))
        return np.stack(out)


@pytest.fixture(scope="module")
def hand_made_results(tmp_path_factory):
    products, images = _hand_made()
    cfg = evaluate.EvalConfig(model="unused", data=str(tmp_path_factory.mktemp("data")), min_products=10)
    tasks = eval_tasks.build_tasks(products, cfg.min_products)
    return evaluate.evaluate_embedder(OneHotEmbedder(products, wrong_name_product=0), products, images, tasks, cfg)


def test_hand_made_precision_is_exact_for_brute_force_and_store(hand_made_results):
    m = hand_made_results["metrics"]
    for variant in ("exact", "store"):
        assert m["category/articleType/P@10"][variant] == pytest.approx(0.9)  # (0.8 + 1.0) / 2
        assert m["category/articleType/P@1"][variant] == pytest.approx(1.0)
        assert m["category/articleType+filters/P@10"][variant] == pytest.approx(1.0)
        assert m["compound/P@10"][variant] == pytest.approx(0.9)
        assert m["compound+filters/P@10"][variant] == pytest.approx(1.0)
        assert m["category/masterCategory/P@10"][variant] == pytest.approx(1.0)  # all Apparel
    assert m["compound/P@10"]["store_minus_exact"] == pytest.approx(0.0, abs=1e-9)
    # Fields with queries: masterCategory 1.0, subCategory 0.5 (an all-tied query keeps corpus order:
    # "Topwear" gets the 10 first products, all Tshirts; "Bottomwear" gets the same, none Jeans),
    # articleType 0.9, baseColour 1.0.
    assert m["category/mean/P@10"]["exact"] == pytest.approx((1.0 + 0.5 + 0.9 + 1.0) / 4)
    per_value = hand_made_results["per_value"]["category/articleType"]
    assert per_value["Tshirts"]["exact/P@10"] == pytest.approx(0.8)
    assert per_value["Jeans"]["store/P@10"] == pytest.approx(1.0)
    # Only Men|Black|Tshirts (12) and Men|Black|Jeans (10) reach 10 products; Women's Jeans (2) don't.
    assert hand_made_results["queries"]["compound"] == 2
    assert hand_made_results["skipped"]["compound"]["combos_under_min_products"] == 1
    # 95% bootstrap intervals over the queries, exact scores only. articleType has two queries
    # (0.8, 1.0): a resample's mean is 0.8, 0.9 or 1.0, with 1/4 at each end.
    assert m["category/articleType/P@10"]["exact_ci95"] == pytest.approx([0.8, 1.0])
    assert m["category/masterCategory/P@10"]["exact_ci95"] == pytest.approx([1.0, 1.0])
    assert "store_ci95" not in m["category/articleType/P@10"]
    # Name queries: 23 of 24 at rank 1, product 0's name at the bottom; resampling can only drop it
    # (upper 1.0) or draw it several times (lower at least 2 more misses below the estimate).
    low, high = m["name_to_image/R@1"]["exact_ci95"]
    assert m["name_to_image/R@1"]["exact"] == pytest.approx(23 / 24)
    assert high == pytest.approx(1.0) and low <= 21 / 24
    assert "exact_ci95" in m["name_to_image/MRR"] and "exact_ci95" not in m["category/mean/P@10"]
    low, high = m["name_to_image/MRR@100"]["exact_ci95"]
    assert low <= m["name_to_image/MRR@100"]["exact"] <= high == pytest.approx(1.0)
    # season/usage are empty everywhere: no queries, so no keys
    assert not any(key.startswith("category/season") for key in m)


def test_hand_made_name_ranks_are_pessimistic_and_match_the_store(hand_made_results):
    m = hand_made_results["metrics"]
    # 23 names find their product at rank 1; product 0's own image scores 0, tied with 22 unrelated
    # images and below product 1's, so its pessimistic rank is 24 (every image scores >= it).
    expected_mrr = (23 + 1 / 24) / 24
    for variant in ("exact", "store"):
        assert m["name_to_image/R@1"][variant] == pytest.approx(23 / 24)
        assert m["name_to_image/R@10"][variant] == pytest.approx(23 / 24)
        assert m["name_to_image/MRR@100"][variant] == pytest.approx(expected_mrr)  # 24 products < 100
    assert set(m["name_to_image/MRR"]) == {"exact", "exact_ci95"}  # full depth: brute force only
    assert m["name_to_image/MRR"]["exact"] == pytest.approx(expected_mrr)


def test_store_hits_missing_the_relevant_product_count_as_rank_infinity():
    products, _ = _hand_made()
    task = eval_tasks.name_task(products[:2])
    hit = type("H", (), {})
    found, other = hit(), hit()
    found.id, found.score, other.id, other.score = products[0].id, 0.9, 999, 0.95
    label_of = dict(zip((p.id for p in products), task.doc_labels))
    scores = eval_scoring.score_hits(task, [[other, found], [other]], label_of, rank_cutoff=2)
    assert scores["R@1"] == 0.0 and scores["R@10"] == 0.5
    assert scores["MRR@2"] == pytest.approx((1 / 2 + 0) / 2) and "MRR" not in scores


def test_exact_mrr_at_cutoff_ignores_deeper_ranks(monkeypatch):
    monkeypatch.setattr(eval_scoring, "RANK_CHUNK", 2)  # 3 queries -> two similarity blocks
    products, _ = _hand_made()
    task = eval_tasks.name_task(products[:3])
    image_emb = np.eye(3, dtype=np.float32)
    text_emb = np.array([[1, 0, 0], [0.5, 0.9, 0], [0.9, 0.5, 0.1]], dtype=np.float32)  # ranks 1, 1, 3
    scores = eval_scoring.score_exact(task, text_emb, image_emb, rank_cutoff=2)
    assert scores["MRR"] == pytest.approx((1 + 1 + 1 / 3) / 3)
    assert scores["MRR@2"] == pytest.approx((1 + 1 + 0) / 3)


def test_task_construction_counts_what_it_skips():
    products = [_product(i, "Tshirts", name="") for i in range(3)] + [_product(3, "Tshirts", name="Same")]
    products += [_product(4, "Jeans", name="Same")]
    name = eval_tasks.name_task(products)
    assert [q.text for q in name.queries] == ["Same", "Same"]
    assert name.skipped == {"no_name": 3, "name_shared_with_other_products(kept)": 2}
    category = eval_tasks.category_task(products, "articleType", min_products=4)
    assert [q.text for q in category.queries] == ["Tshirts"]
    assert category.skipped["values_under_min_products"] == 1
    compound = eval_tasks.compound_task(products, min_products=4)
    assert [(q.text, q.filtered_text, q.filters) for q in compound.queries] == [
        ("men black tshirts", "tshirts", {"gender": "Men", "baseColour": "Black"})]


def test_corpus_sample_is_deterministic_and_splits_select_the_test_ids(tmp_path):
    products = [_product(i, "Tshirts") for i in range(50)]
    cfg = evaluate.EvalConfig(model=str(tmp_path / "m"), data=str(tmp_path), max_products=10, seed=3)
    first, info = evaluate.select_corpus(products[::-1], cfg)
    second, _ = evaluate.select_corpus(products, cfg)
    assert [p.id for p in first] == [p.id for p in second] and len(first) == 10 and info["source"] == "sample"
    # Found beside the model (splits="auto"); a few ids beyond the catalog are counted, not fatal.
    drawn = split_ids([p.id for p in products] + list(range(5000, 5010)), seed=0, val_frac=0.2, test_frac=0.3)
    save_splits(tmp_path / "m" / "splits.json", drawn)
    expected = [i for i in drawn["test"] if i < 5000]
    cfg = evaluate.EvalConfig(model=str(tmp_path / "m"), data=str(tmp_path))
    chosen, info = evaluate.select_corpus(products, cfg)
    assert [p.id for p in chosen] == expected and 0 < len(expected) < 50
    assert info["source"] == "test split"
    assert info["split_ids_not_in_catalog"] == len(drawn["test"]) - len(expected)
    # A model trained on another catalog: its split shares ids only by accident -> the sample.
    foreign = split_ids(list(range(1040, 1050)) + list(range(6000, 6100)), seed=0, val_frac=0.2, test_frac=0.3)
    save_splits(tmp_path / "m" / "splits.json", foreign)
    chosen, info = evaluate.select_corpus(products, cfg)
    assert info["source"] == "sample" and len(chosen) == 50 and "splits_ignored" in info


def test_config_errors_name_the_fix(tmp_path):
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--data", str(tmp_path)])
    with pytest.raises(ValueError, match="--data"):
        evaluate.EvalConfig(model="m", data=str(tmp_path / "absent"))


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    from tiny_model import build_tiny_clip

    from fashion_search.catalog.synthetic.generate import write_synthetic_catalog

    root = tmp_path_factory.mktemp("eval")
    catalog = write_synthetic_catalog(root / "catalog", n=160, seed=1)
    model = build_tiny_clip(root / "clip")
    return root, catalog, model


def test_eval_job_writes_side_by_side_reports(tiny_setup, tmp_path):
    _, catalog, model = tiny_setup
    out = tmp_path / "reports"
    argv = ["--model", str(model), "--baseline", str(model), "--data", str(catalog), "--out-dir", str(out),
            "--max-products", "120", "--batch-size", "32", "--min-products", "3"]
    assert evaluate.main(argv) == 0
    report = json.loads((out / "eval.json").read_text())
    assert set(report["models"]) == {"model", "baseline"} and report["corpus"]["products"] == 120
    metrics = report["models"]["model"]["metrics"]
    for key in ("name_to_image/R@1", "name_to_image/R@10", "name_to_image/MRR@100", "category/articleType/P@10",
                "category/baseColour/P@1", "category/mean/P@10", "compound/P@10", "compound+filters/P@10"):
        assert set(metrics[key]) >= {"exact", "store", "store_minus_exact"}, key
    # The ranking forms: each query set as the page ranks it, through the same Searcher.text.
    for key in ("compound+image/P@10", "compound+named/P@10", "compound+page/P@10", "name_to_image+page/R@10",
                "name_to_image+image/R@10", "compound+page+mmr/distinct@10"):
        assert set(metrics[key]) >= {"exact", "store", "store_minus_exact"}, key
    assert metrics["compound+named/P@10"]["exact"] >= metrics["compound+image/P@10"]["exact"]
    for entry in metrics.values():
        for variant in set(entry) & {"exact", "store"}:
            assert 0.0 <= entry[variant] <= 1.0
    # The same weights twice: the baseline column must repeat the model column exactly.
    assert report["models"]["baseline"]["metrics"] == metrics
    table = (out / "eval.md").read_text()
    assert "| name_to_image/MRR@100 |" in table and "baseline store" in table and "model exact 95% CI" in table
    low, high = metrics["category/articleType/P@10"]["exact_ci95"]
    assert low <= metrics["category/articleType/P@10"]["exact"] <= high


def test_exact_store_search_equals_brute_force(tiny_setup):
    from fashion_search.catalog.products import open_catalog
    from fashion_search.model.clip import load_clip
    from fashion_search.model.embed import Embedder

    _, catalog_dir, model_dir = tiny_setup
    catalog = open_catalog(catalog_dir)
    cfg = evaluate.EvalConfig(model=str(model_dir), data=str(catalog_dir), max_products=100)
    products, _ = evaluate.select_corpus(list(catalog.products()), cfg)
    products, images, skipped = evaluate.load_corpus_images(catalog, products)
    assert skipped == 0
    embedder = Embedder(*load_clip(str(model_dir)), device="cpu", batch_size=50)
    tasks = eval_tasks.build_tasks(products, cfg.min_products)
    results = evaluate.evaluate_embedder(embedder, products, images, tasks, cfg, store_exact=True)
    assert len(results["metrics"]) > 10
    for key, entry in results["metrics"].items():
        if not key.endswith("/MRR"):  # the full-depth MRR (with or without filters) has no store variant
            assert math.isclose(entry["store"], entry["exact"], abs_tol=1e-6), (key, entry)


@pytest.mark.realdata
def test_protocol_on_the_real_catalog_sample(real_parquet_dir, tmp_path):
    from fashion_search.catalog.products import open_catalog

    products = list(open_catalog(real_parquet_dir).products())
    cfg = evaluate.EvalConfig(model=str(tmp_path / "none"), data=str(real_parquet_dir), splits="none")
    corpus, info = evaluate.select_corpus(products, cfg)
    assert len(corpus) == 2000 and info == {"catalog_products": len(products), "source": "sample", "sampled_to": 2000}
    tasks = {t.name: t for t in eval_tasks.build_tasks(corpus)}
    assert len(tasks["name_to_image"].queries) == 2000  # this copy has a name for every product
    assert {"Apparel", "Footwear", "Accessories"} <= {q.text for q in tasks["category/masterCategory"].queries}
    compound = tasks["compound"]
    assert len(compound.queries) >= 20 and "men black casual shoes" in {q.text for q in compound.queries}
    for query in compound.queries:  # every compound query has >= 10 relevant products, each matching all three
        assert sum(label == query.label for label in compound.doc_labels) >= 10
        assert eval_scoring.filter_mask(corpus, query.filters).sum() >= 10


def test_no_store_gives_brute_force_scores_only(tmp_path):
    products, images = _hand_made()
    cfg = evaluate.EvalConfig(model="unused", data=str(tmp_path), no_store=True)
    tasks = eval_tasks.build_tasks(products, cfg.min_products)
    results = evaluate.evaluate_embedder(OneHotEmbedder(products, wrong_name_product=0), products, images, tasks, cfg)
    assert results["metrics"]["compound+filters/P@10"] == {"exact": pytest.approx(1.0),
                                                           "exact_ci95": pytest.approx([1.0, 1.0])}
    assert all(set(entry) <= {"exact", "exact_ci95"} for entry in results["metrics"].values())


def test_name_queries_with_the_offered_filters_rank_within_them():
    men_tee, women_tee, men_jeans = (_product(0, "Tshirts", name="Acme Men Black Tshirt"),
                                     _product(1, "Tshirts", gender="Women", name="Acme Men Tshirt"),
                                     _product(2, "Jeans", name="Acme Jeans or Tshirts"))
    products = [men_tee, women_tee, men_jeans]
    values = {"gender": ["Men", "Women"], "articleType": ["Tshirts", "Jeans"], "baseColour": ["Black"]}
    task = eval_tasks.name_task(products, values)
    assert [q.filters for q in task.queries] == [
        {"gender": ["Men"], "baseColour": ["Black"], "articleType": ["Tshirts"]},
        {"gender": ["Men"], "articleType": ["Tshirts"]},      # its own label says Women: filtered out
        {"articleType": ["Jeans", "Tshirts"]}]                # two values of one field: OR
    images = np.eye(3, dtype=np.float32)
    # Query 0 scores the Women's T-shirt above its own product: rank 2 plain, 1 once gender=Men applies.
    # Query 2 scores its own product lowest of three, and both article types pass: rank 3 either way.
    texts = np.array([[0.5, 0.9, 0.0], [0.0, 1.0, 0.0], [0.9, 0.8, 0.1]], dtype=np.float32)
    plain = eval_scoring.score_exact(task, texts, images)
    filtered = eval_scoring.score_exact(task, texts, images, products, filtered=True, rank_cutoff=100)
    assert plain["R@1"] == pytest.approx(1 / 3) and plain["MRR"] == pytest.approx((1 / 2 + 1 + 1 / 3) / 3)
    assert filtered["R@1"] == pytest.approx(1 / 3)  # query 0 gains rank 1, query 1 is lost (rank infinity)
    assert filtered["MRR"] == pytest.approx((1 + 0 + 1 / 3) / 3)
    with pytest.raises(ValueError, match="needs the corpus products"):
        eval_scoring.score_exact(task, texts, images, filtered=True)


def test_name_queries_with_the_offered_values_as_boosts_rank_matches_first():
    """The same corpus as above with the offers boosted instead of filtered (store/boost.py's order):
    query 0's product matches all three boosts (rank 1); query 1's product, which the filter lost,
    matches one of two and ranks 2nd behind the Men's T-shirt; query 2's boosts (Jeans OR Tshirts) match
    every product once, so similarity decides (rank 3)."""
    products = [_product(0, "Tshirts", name="Acme Men Black Tshirt"),
                _product(1, "Tshirts", gender="Women", name="Acme Men Tshirt"),
                _product(2, "Jeans", name="Acme Jeans or Tshirts")]
    values = {"gender": ["Men", "Women"], "articleType": ["Tshirts", "Jeans"], "baseColour": ["Black"]}
    task = eval_tasks.name_task(products, values)
    texts = np.array([[0.5, 0.9, 0.0], [0.0, 1.0, 0.0], [0.9, 0.8, 0.1]], dtype=np.float32)
    boosted = eval_scoring.score_boosted(task, texts, np.eye(3, dtype=np.float32), products, rank_cutoff=100)
    assert boosted["R@1"] == pytest.approx(1 / 3) and boosted["R@10"] == pytest.approx(1.0)
    assert boosted["MRR"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    # The store's boosted hit lists are ranked by position, not by their (similarity) scores.
    hits = [[Hit(1000, 0.5, {}), Hit(1001, 0.9, {})], [Hit(1000, 0.0, {}), Hit(1001, 1.0, {})],
            [Hit(1000, 0.9, {}), Hit(1001, 0.8, {}), Hit(1002, 0.1, {})]]
    label_of = dict(zip((p.id for p in products), task.doc_labels))
    store = eval_scoring.score_hits(task, hits, label_of, rank_cutoff=100, by_position=True)
    assert store["R@1"] == pytest.approx(1 / 3) and store["MRR@100"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    by_score = eval_scoring.score_hits(task, hits, label_of, rank_cutoff=100)
    assert by_score["MRR@100"] == pytest.approx((1 / 2 + 1 + 1 / 3) / 3)  # what reading scores would claim


def test_shopper_queries_plain_and_boosted_on_a_hand_made_corpus(tmp_path):
    """6 red dresses and 6 red tops, one-hot images; "red dress" scores every top 0.9 and every dress 0.5.
    Plain: top-10 = 6 tops + 4 dresses -> P@1 0, P@10 0.4. Boosted (Red + Dresses named): the dresses
    match both, the tops one -> P@1 1, P@10 0.6 (all 6 dresses, then 4 tops). "red frock" (same vector)
    names Dresses only through the shopper vocabulary: boosted 1 / 0.6, with the catalog's words only
    (Red alone, which every product matches) the plain 0 / 0.4. A query with fewer than 5 relevant
    products is skipped and counted. The store gives the same numbers."""
    from fashion_search.evaluation import shopper as eval_shopper
    from fashion_search.store import open_store

    products = [_product(i, "Dresses" if i < 6 else "Tops") for i in range(12)]
    products = [p.__class__(**{**p.__dict__, "baseColour": "Red"}) for p in products]
    images = np.eye(12, dtype=np.float32)
    red_dress = np.array([0.5] * 6 + [0.9] * 6, dtype=np.float32)
    red_dress /= np.linalg.norm(red_dress)
    queries = (("red dress", {"articleType": ["Dresses"], "baseColour": ["Red"]}),
               ("blue jeans", {"articleType": ["Jeans"]}),
               ("red frock", {"articleType": ["Dresses"], "baseColour": ["Red"]}))

    def encode(texts):
        return np.stack([red_dress if t.startswith("red") else np.ones(12, np.float32) / np.sqrt(12) for t in texts])

    with open_store(str(tmp_path / "edge"), collection="shop") as store:
        store.ensure_collection(12)
        store.upsert([p.id for p in products], images, [evaluate.payload_of(p) for p in products])
        scores, info = eval_shopper.shopper_scores(products, images, encode, store, exact=True, queries=queries)
    assert info["queries"] == 2 and info["skipped_queries"] == ["blue jeans"]
    for variant in ("exact", "store"):
        assert scores["shopper"][variant]["P@1"] == 0.0 and scores["shopper"][variant]["P@10"] == pytest.approx(0.4)
        assert scores["shopper+boost"][variant]["P@1"] == 1.0
        assert scores["shopper+boost"][variant]["P@10"] == pytest.approx(0.6)
        assert scores["shopper+boost_catalog_words"][variant]["P@1"] == 0.5
        assert scores["shopper+boost_catalog_words"][variant]["P@10"] == pytest.approx(0.5)
    assert scores["shopper+boost"]["exact"]["per_value"] == {"red dress": {"P@1": 1.0, "P@10": pytest.approx(0.6)},
                                                             "red frock": {"P@1": 1.0, "P@10": pytest.approx(0.6)}}
    assert scores["shopper+boost_catalog_words"]["exact"]["per_value"]["red frock"] == {
        "P@1": 0.0, "P@10": pytest.approx(0.4)}
