"""Retrieval metrics on hand-made similarity matrices whose answers are worked out by hand."""

import numpy as np
import pytest

from fashion_search.evaluation.metrics import (
    bidirectional_metrics,
    bootstrap_ci,
    metrics_from_similarity,
    precision_at_k,
    precision_at_k_per_query,
    ranks_from_similarity,
    retrieval_metrics,
    top_k_indices,
)


def test_perfect_diagonal_gives_rank_one_everywhere():
    sim = np.eye(4) + 0.1
    m = metrics_from_similarity(sim)
    assert m == {"R@1": 1.0, "R@5": 1.0, "R@10": 1.0, "MRR": 1.0, "mean_rank": 1.0, "median_rank": 1.0}


def test_known_ranks_give_known_recall_mrr_and_ranks():
    # Query 0: relevant doc 0 scores highest -> rank 1.
    # Query 1: relevant doc 1 scores 0.5, docs 0 and 2 above it -> rank 3.
    # Query 2: relevant doc 2 scores lowest of the 4 docs -> rank 4.
    sim = np.array(
        [
            [0.9, 0.1, 0.2, 0.0],
            [0.8, 0.5, 0.7, 0.1],
            [0.6, 0.5, 0.1, 0.9],
        ]
    )
    assert ranks_from_similarity(sim).tolist() == [1, 3, 4]
    m = metrics_from_similarity(sim, ks=(1, 3))
    assert m["R@1"] == pytest.approx(1 / 3)
    assert m["R@3"] == pytest.approx(2 / 3)
    assert m["MRR"] == pytest.approx((1 + 1 / 3 + 1 / 4) / 3)
    assert m["mean_rank"] == pytest.approx(8 / 3)
    assert m["median_rank"] == 3.0


def test_explicit_relevant_index_is_used():
    sim = np.array([[0.1, 0.9, 0.5], [0.9, 0.1, 0.5]])
    # Query 0's relevant doc is 1 (best), query 1's is 2 (second).
    assert ranks_from_similarity(sim, relevant=[1, 2]).tolist() == [1, 2]


def test_ties_count_against_the_query():
    # All scores equal (a collapsed model): every relevant doc gets the worst rank, D.
    sim = np.ones((3, 5))
    assert ranks_from_similarity(sim).tolist() == [5, 5, 5]
    assert metrics_from_similarity(sim)["R@1"] == 0.0
    # One tie with a single other doc: rank 2, not 1.
    sim = np.array([[0.5, 0.5, 0.1]])
    assert ranks_from_similarity(sim).tolist() == [2]


def test_retrieval_metrics_from_embeddings_uses_dot_product():
    docs = np.array([[1.0, 0.0], [0.0, 1.0], [0.7071, 0.7071]])
    queries = np.array([[0.0, 1.0], [1.0, 0.0]])
    # Query 0 = doc 1 exactly (rank 1); query 1's relevant doc 2 scores 0.707 < doc 0's 1.0 -> rank 2.
    m = retrieval_metrics(queries, docs, relevant=[1, 2], ks=(1,))
    assert m["R@1"] == 0.5 and m["mean_rank"] == 1.5 and m["MRR"] == pytest.approx(0.75)


def test_bidirectional_metrics_are_transposes_of_each_other():
    images = np.eye(3)
    # Text 0 is closer to image 1 than to image 0; texts 1, 2 are exact.
    texts = np.array([[0.6, 0.8, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    m = bidirectional_metrics(images, texts)
    # text->image: text 0 ranks image 0 second -> R@1 = 2/3.
    assert m["text_to_image/R@1"] == pytest.approx(2 / 3)
    # image->text: image 1 sees text 0 (0.8) below text 1 (1.0): rank 1; image 0 sees text 0
    # (0.6) as best -> all rank 1.
    assert m["image_to_text/R@1"] == 1.0
    assert m["text_to_image/mean_rank"] == pytest.approx(4 / 3)


def test_top_k_breaks_ties_by_document_index():
    sim = np.array([[0.2, 0.9, 0.9, 0.1, 0.9]])
    assert top_k_indices(sim, 2).tolist() == [[1, 2]]
    assert top_k_indices(sim, 10).tolist() == [[1, 2, 4, 0, 3]]


def test_precision_at_k_counts_matching_labels():
    doc_labels = ["Shirts", "Shirts", "Watches", "Shirts", "Watches"]
    query_labels = ["Shirts", "Watches"]
    sim = np.array(
        [
            [0.9, 0.8, 0.7, 0.1, 0.2],  # top 3: Shirts, Shirts, Watches -> 2/3
            [0.1, 0.2, 0.9, 0.3, 0.8],  # top 3: Watches, Watches, Shirts -> 2/3
        ]
    )
    assert precision_at_k_per_query(sim, query_labels, doc_labels, 3).tolist() == pytest.approx([2 / 3, 2 / 3])
    assert precision_at_k(sim, query_labels, doc_labels, 1) == 1.0
    assert precision_at_k(sim, query_labels, doc_labels, 5) == pytest.approx((3 / 5 + 2 / 5) / 2)
    # k larger than the catalog divides by the catalog size.
    assert precision_at_k(sim, query_labels, doc_labels, 50) == pytest.approx((3 / 5 + 2 / 5) / 2)


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match="one index per query"):
        ranks_from_similarity(np.eye(3), relevant=[0, 1])
    with pytest.raises(ValueError, match="must lie in"):
        ranks_from_similarity(np.eye(3), relevant=[0, 1, 3])
    with pytest.raises(ValueError, match="labels must match"):
        precision_at_k(np.eye(2), ["a"], ["a", "b"], 1)
    with pytest.raises(ValueError, match="widths differ"):
        retrieval_metrics(np.ones((2, 3)), np.ones((2, 4)))


def test_bootstrap_ci_of_constant_values_is_that_value():
    assert bootstrap_ci([0.7] * 20) == (pytest.approx(0.7), pytest.approx(0.7))


def test_bootstrap_ci_matches_the_normal_approximation_and_is_seeded():
    # 400 queries, half right: the mean's standard error is sqrt(0.25 / 400) = 0.025, so the 95%
    # interval is about 0.5 +- 1.96 * 0.025 = 0.451..0.549.
    values = np.array([0.0, 1.0] * 200)
    low, high = bootstrap_ci(values, resamples=4000)
    assert low == pytest.approx(0.451, abs=0.008) and high == pytest.approx(0.549, abs=0.008)
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    narrower = bootstrap_ci(values, level=0.5, resamples=4000)
    assert low < narrower[0] < 0.5 < narrower[1] < high


def test_bootstrap_ci_rejects_empty_values_and_bad_levels():
    with pytest.raises(ValueError, match="at least one value"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([1.0], level=95)
