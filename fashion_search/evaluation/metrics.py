"""Retrieval metrics as pure functions of embeddings or a similarity matrix (numpy in, floats out).

Ties are resolved deterministically and *against* the model:
- ranks (R@K, MRR, mean/median rank): the rank of the relevant document is 1 + the number of
  other documents scoring >= it. A collapsed model that gives every document the same score
  therefore gets the worst rank, never a lucky rank 1.
- precision_at_k: the top k are taken by score, ties broken by lower document index (stable sort),
  since there is no single "relevant" document to be pessimistic about.
"""

from __future__ import annotations

import numpy as np

RECALL_KS = (1, 5, 10)


def _as_2d(name: str, array) -> np.ndarray:
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    return array


def ranks_from_similarity(sim, relevant=None) -> np.ndarray:
    """1-based rank of each query's relevant document. sim: (Q, D) scores, higher is better.

    relevant: (Q,) document index per query; default i -> i (paired data, needs Q <= D).
    """
    sim = _as_2d("sim", sim)
    n_queries, n_docs = sim.shape
    relevant = np.arange(n_queries) if relevant is None else np.asarray(relevant, dtype=np.int64)
    if relevant.shape != (n_queries,):
        raise ValueError(f"relevant must have one index per query ({n_queries}), got shape {relevant.shape}")
    if n_queries and (relevant.min() < 0 or relevant.max() >= n_docs):
        raise ValueError(f"relevant indices must lie in [0, {n_docs}); got {relevant.min()}..{relevant.max()}")
    relevant_scores = sim[np.arange(n_queries), relevant][:, None]  # (Q, 1)
    # Pessimistic ties: every *other* document scoring >= the relevant one is ranked above it.
    at_or_above = (sim >= relevant_scores).sum(axis=1)  # includes the relevant document itself
    return at_or_above.astype(np.int64)


def metrics_from_ranks(ranks, ks=RECALL_KS) -> dict[str, float]:
    """R@K for each k, MRR, mean and median rank from 1-based ranks."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        raise ValueError("no queries: cannot compute retrieval metrics on an empty set")
    out = {f"R@{k}": float((ranks <= k).mean()) for k in ks}
    out["MRR"] = float((1.0 / ranks).mean())
    out["mean_rank"] = float(ranks.mean())
    out["median_rank"] = float(np.median(ranks))
    return out


def metrics_from_similarity(sim, relevant=None, ks=RECALL_KS) -> dict[str, float]:
    """One-to-one retrieval metrics from a (Q, D) similarity matrix (see ranks_from_similarity)."""
    return metrics_from_ranks(ranks_from_similarity(sim, relevant), ks)


def retrieval_metrics(query_emb, doc_emb, relevant=None, ks=RECALL_KS) -> dict[str, float]:
    """R@1/5/10, MRR, mean/median rank for queries (Q, D) against documents (N, D) by dot product.

    Pass L2-normalised embeddings for cosine similarity. relevant: (Q,) document index per query,
    default the i-th query matches the i-th document.
    """
    query_emb, doc_emb = _as_2d("query_emb", query_emb), _as_2d("doc_emb", doc_emb)
    if query_emb.shape[1] != doc_emb.shape[1]:
        raise ValueError(f"embedding widths differ: queries {query_emb.shape[1]}, documents {doc_emb.shape[1]}")
    return metrics_from_similarity(query_emb @ doc_emb.T, relevant, ks)


def bidirectional_metrics(image_emb, text_emb, ks=RECALL_KS) -> dict[str, float]:
    """Paired images/texts (row i matches row i): keys "text_to_image/R@1", "image_to_text/MRR", ..."""
    image_emb, text_emb = _as_2d("image_emb", image_emb), _as_2d("text_emb", text_emb)
    if image_emb.shape != text_emb.shape:
        raise ValueError(f"paired embeddings must have equal shapes: {image_emb.shape} vs {text_emb.shape}")
    sim = text_emb @ image_emb.T  # (N texts, N images)
    out = {f"text_to_image/{k}": v for k, v in metrics_from_similarity(sim, None, ks).items()}
    out.update({f"image_to_text/{k}": v for k, v in metrics_from_similarity(sim.T, None, ks).items()})
    return out


def top_k_indices(sim, k: int) -> np.ndarray:
    """(Q, min(k, D)) document indices by descending score; ties go to the lower document index."""
    sim = _as_2d("sim", sim)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    # Stable sort of -score keeps equal scores in document order.
    return np.argsort(-sim, axis=1, kind="stable")[:, :k]


def precision_at_k_per_query(sim, query_labels, doc_labels, k: int) -> np.ndarray:
    """(Q,) fraction of each query's top k documents whose label equals the query's label.

    The denominator is min(k, number of documents), so a catalog smaller than k is not penalised.
    """
    sim = _as_2d("sim", sim)
    query_labels, doc_labels = np.asarray(query_labels, dtype=object), np.asarray(doc_labels, dtype=object)
    if query_labels.shape != (sim.shape[0],) or doc_labels.shape != (sim.shape[1],):
        raise ValueError(
            f"labels must match sim {sim.shape}: got {query_labels.shape} query and {doc_labels.shape} doc labels"
        )
    top = top_k_indices(sim, k)  # (Q, k')
    hits = doc_labels[top] == query_labels[:, None]
    return hits.mean(axis=1).astype(np.float64)


def precision_at_k(sim, query_labels, doc_labels, k: int) -> float:
    """Mean P@k over queries (e.g. category-name queries vs product images labelled by category)."""
    per_query = precision_at_k_per_query(sim, query_labels, doc_labels, k)
    if per_query.size == 0:
        raise ValueError("no queries: cannot compute precision@k on an empty set")
    return float(per_query.mean())


def bootstrap_ci(values, level: float = 0.95, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-query values (queries resampled with replacement).

    Why: a macro-averaged P@10 over 20 colour queries moves 0.05 when one query gains or loses one
    product, so "0.695 vs a 0.70 target" needs its spread beside it. Seeded, so reports are stable.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 4_000_000 // values.size)  # bounds the (chunk, n) index matrix on a 41k-query corpus
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        means[start:stop] = values[rng.integers(0, values.size, (stop - start, values.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)
