"""Scoring the tasks of evaluation/tasks.py from embeddings (exact, brute force) or from store hits, and folding
the scores into the report.

Tie handling follows fashion_search.evaluation.metrics: ranks are pessimistic (documents scoring >= the relevant
one rank above it), top-k lists break ties by corpus order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fashion_search.evaluation import metrics
from fashion_search.evaluation.tasks import PRECISION_KS, RANK_KS, Task

RANK_CHUNK = 1024  # name queries scored per similarity block


def filter_mask(products: Sequence, filters: dict, cache: dict | None = None) -> np.ndarray:
    """(D,) bool: documents that pass every filter (AND across fields, OR within a field's list), as
    the store would filter. `cache` ({(field, value): mask}, shared across calls) keeps one pass over
    the corpus per value: a whole catalog's 41k name queries name only a few hundred distinct values."""
    cache = {} if cache is None else cache
    mask = np.ones(len(products), dtype=bool)
    for name, value in filters.items():
        allowed = np.zeros(len(products), dtype=bool)
        for v in value if isinstance(value, list) else [value]:
            if (name, v) not in cache:
                cache[(name, v)] = np.array([getattr(p, name) == v for p in products], dtype=bool)
            allowed |= cache[(name, v)]
        mask &= allowed
    return mask


def match_counts(products: Sequence, pairs, cache: dict | None = None) -> np.ndarray:
    """(D,) int: how many of the (field, value) pairs each document has (store/boost.py's count)."""
    counts = np.zeros(len(products), dtype=np.int32)
    for name, value in pairs:
        counts += filter_mask(products, {name: value}, cache)
    return counts


def _ranks(task: Task, text_emb: np.ndarray, image_emb: np.ndarray, rank_of) -> np.ndarray:
    """Each query's rank from rank_of(query, similarities to every document, relevant index), with the
    similarities computed RANK_CHUNK queries at a time (a whole catalog never needs a D x D matrix)."""
    index_of = {label: i for i, label in enumerate(task.doc_labels)}
    ranks = np.empty(len(task.queries))
    for start in range(0, len(task.queries), RANK_CHUNK):
        block = text_emb[start:start + RANK_CHUNK] @ image_emb.T
        for j, query in enumerate(task.queries[start:start + RANK_CHUNK]):
            ranks[start + j] = rank_of(query, block[j], index_of[query.label])
    return ranks


def _filtered_ranks(task: Task, text_emb: np.ndarray, image_emb: np.ndarray, products: Sequence) -> np.ndarray:
    """Each query's rank among the documents passing its filters; infinity when they exclude it."""
    value_masks: dict = {}

    def rank_of(query, sim, relevant) -> float:
        mask = filter_mask(products, query.filters, value_masks)
        # Pessimistic ties, as metrics.ranks_from_similarity: the count includes the document itself.
        return float(np.sum(sim[mask] >= sim[relevant])) if mask[relevant] else math.inf

    return _ranks(task, text_emb, image_emb, rank_of)


def boost_pairs(query) -> list[tuple[str, str]]:
    """A query's offered values as store boosts: [(field, value), ...] in the offers' order."""
    return [(f, v) for f, values in query.filters.items() for v in (values if isinstance(values, list) else [values])]


def _boosted_ranks(task: Task, text_emb: np.ndarray, image_emb: np.ndarray, products: Sequence) -> np.ndarray:
    """Each query's rank when documents matching more of its boosts come first, then by similarity
    (store/boost.py's order); ties pessimistic as everywhere else."""
    value_masks: dict = {}

    def rank_of(query, sim, relevant) -> float:
        matched = match_counts(products, boost_pairs(query), value_masks)
        above = (matched > matched[relevant]) | ((matched == matched[relevant]) & (sim >= sim[relevant]))
        return float(np.sum(above))

    return _ranks(task, text_emb, image_emb, rank_of)


# ---- scoring -------------------------------------------------------------------------------------
# Both scorers return {"R@1": ..., "MRR": ...} or {"P@1": ..., "P@10": ...} plus, for precision
# tasks, "per_value": {label: {"P@1": ..., "P@10": ...}}. score_exact adds "ci95": {metric: [low, high]},
# a bootstrap interval over the task's queries (the store scores estimate the same quantity).


def _ci95(per_query_values: dict[str, np.ndarray]) -> dict[str, list[float]]:
    return {metric: list(metrics.bootstrap_ci(values)) for metric, values in per_query_values.items()}


def _precision_summary(task: Task, per_query: dict[int, np.ndarray], with_ci: bool = False) -> dict:
    out = {f"P@{k}": float(np.mean(per_query[k])) for k in PRECISION_KS}
    out["per_value"] = {
        q.label: {f"P@{k}": float(per_query[k][i]) for k in PRECISION_KS} for i, q in enumerate(task.queries)
    }
    if with_ci and task.queries:
        out["ci95"] = _ci95({f"P@{k}": per_query[k] for k in PRECISION_KS})
    return out


def _rank_summary(ranks: np.ndarray, cutoff: int | None, full_mrr: bool, with_ci: bool = False) -> dict:
    """R@K, the full-depth MRR (exact scores only) and MRR@cutoff (ranks beyond it count 0), the
    depth a store query with limit=cutoff can see, so exact and store compare like for like."""
    summary = metrics.metrics_from_ranks(ranks, ks=RANK_KS)
    out = {f"R@{k}": summary[f"R@{k}"] for k in RANK_KS}
    if full_mrr:
        out["MRR"] = summary["MRR"]
    if cutoff is not None:
        out[f"MRR@{cutoff}"] = float(np.mean(np.where(ranks <= cutoff, 1.0 / ranks, 0.0)))
    if with_ci and ranks.size:
        per_query = {f"R@{k}": (ranks <= k).astype(np.float64) for k in RANK_KS}
        if full_mrr:
            per_query["MRR"] = 1.0 / ranks
        if cutoff is not None:
            per_query[f"MRR@{cutoff}"] = np.where(ranks <= cutoff, 1.0 / ranks, 0.0)
        out["ci95"] = _ci95(per_query)
    return out


def score_boosted(task: Task, text_emb: np.ndarray, image_emb: np.ndarray, products: Sequence,
                  rank_cutoff: int | None = None) -> dict:
    """Brute-force scores of a rank task whose queries' filters are applied as boosts, not filters."""
    text_emb, image_emb = np.asarray(text_emb, dtype=np.float32), np.asarray(image_emb, dtype=np.float32)
    if task.kind != "rank":
        raise ValueError("boosted scoring is defined for rank tasks (one relevant product per query)")
    return _rank_summary(_boosted_ranks(task, text_emb, image_emb, products), rank_cutoff, full_mrr=True, with_ci=True)


def score_exact(task: Task, text_emb: np.ndarray, image_emb: np.ndarray, products=None, filtered=False,
                rank_cutoff: int | None = None) -> dict:
    """Brute-force scores: text_emb (Q, D) for task.queries (their filtered_text when `filtered`),
    image_emb (N, D) for the corpus. `products` (the corpus) is needed for the filtered form;
    rank_cutoff adds MRR@cutoff to rank tasks."""
    text_emb, image_emb = np.asarray(text_emb, dtype=np.float32), np.asarray(image_emb, dtype=np.float32)
    if task.kind == "rank" and filtered:
        if products is None:
            raise ValueError("score_exact(filtered=True) needs the corpus products to apply the filters")
        return _rank_summary(_filtered_ranks(task, text_emb, image_emb, products), rank_cutoff, full_mrr=True,
                             with_ci=True)
    if task.kind == "rank":
        index_of = {label: i for i, label in enumerate(task.doc_labels)}
        relevant = np.array([index_of[q.label] for q in task.queries], dtype=np.int64)
        # One query per product: chunked so a whole 41k catalog never needs a 41k x 41k matrix.
        ranks = np.concatenate([
            metrics.ranks_from_similarity(text_emb[s:s + RANK_CHUNK] @ image_emb.T, relevant[s:s + RANK_CHUNK])
            for s in range(0, len(relevant), RANK_CHUNK)])
        return _rank_summary(ranks, rank_cutoff, full_mrr=True, with_ci=True)
    sim = text_emb @ image_emb.T  # (Q, N): a few hundred value queries at most
    doc_labels = np.asarray(task.doc_labels, dtype=object)
    query_labels = np.asarray([q.label for q in task.queries], dtype=object)
    if not filtered:
        per_query = {k: metrics.precision_at_k_per_query(sim, query_labels, doc_labels, k) for k in PRECISION_KS}
        return _precision_summary(task, per_query, with_ci=True)
    if products is None:
        raise ValueError("score_exact(filtered=True) needs the corpus products to apply the filters")
    per_query = {k: np.empty(len(task.queries)) for k in PRECISION_KS}
    value_masks: dict = {}
    for i, query in enumerate(task.queries):
        mask = filter_mask(products, query.filters, value_masks)
        candidates = np.flatnonzero(mask)  # the store only ever sees these documents
        if candidates.size == 0:
            raise ValueError(f"filters {query.filters} match no corpus document")
        top = metrics.top_k_indices(sim[i : i + 1, candidates], max(PRECISION_KS))[0]
        for k in PRECISION_KS:
            chosen = doc_labels[candidates[top[:k]]]
            per_query[k][i] = float(np.mean(chosen == query.label))
    return _precision_summary(task, per_query, with_ci=True)


def score_hits(task: Task, hits_per_query: Sequence[Sequence], doc_label_of: dict, rank_cutoff: int = 100,
               by_position: bool = False) -> dict:
    """Scores from store results: hits_per_query[i] is the ranked hit list (objects with .id and
    .score) for query i, fetched with limit=rank_cutoff for rank tasks; doc_label_of maps a point
    id to its label for this task; by_position ranks by list position (boosted lists). A relevant product
missing from the list has rank infinity, so
    rank tasks report MRR@rank_cutoff rather than a full-depth MRR.
    """
    if len(hits_per_query) != len(task.queries):
        raise ValueError(f"{len(hits_per_query)} hit lists for {len(task.queries)} queries")
    if task.kind == "rank":
        ranks = np.empty(len(task.queries))
        for i, (query, hits) in enumerate(zip(task.queries, hits_per_query)):
            at = [n for n, h in enumerate(hits) if doc_label_of.get(h.id) == query.label]
            if not at:
                ranks[i] = math.inf
            elif by_position:  # boosted lists: the order is not the score's (store/boost.py)
                ranks[i] = at[0] + 1
            else:  # pessimistic, as in metrics.ranks_from_similarity: every hit scoring >= it ranks above
                ranks[i] = sum(1 for h in hits if h.score >= hits[at[0]].score)
        return _rank_summary(ranks, rank_cutoff, full_mrr=False)
    per_query = {k: np.empty(len(task.queries)) for k in PRECISION_KS}
    for i, (query, hits) in enumerate(zip(task.queries, hits_per_query)):
        for k in PRECISION_KS:
            top = hits[:k]
            per_query[k][i] = float(np.mean([doc_label_of.get(h.id) == query.label for h in top])) if top else 0.0
    return _precision_summary(task, per_query)


# ---- results ---------------------------------------------------------------------------------------


def collect_scores(results: dict, name: str, scores: dict) -> None:
    """Fold {variant: summary} of one task form into results["metrics"]["<name>/<metric>"][variant]
    and results["per_value"][name][label]["<variant>/<metric>"]; adds store_minus_exact, and a
    summary's "ci95" becomes results["metrics"]["<name>/<metric>"]["<variant>_ci95"] = [low, high]."""
    for variant, summary in scores.items():
        per_value = summary.pop("per_value", None)
        for metric, interval in summary.pop("ci95", {}).items():
            results["metrics"].setdefault(f"{name}/{metric}", {})[f"{variant}_ci95"] = interval
        for metric, value in summary.items():
            results["metrics"].setdefault(f"{name}/{metric}", {})[variant] = value
        for label, values in (per_value or {}).items():
            row = results["per_value"].setdefault(name, {}).setdefault(label, {})
            row.update({f"{variant}/{m}": v for m, v in values.items()})
    for entry in results["metrics"].values():
        if "exact" in entry and "store" in entry:
            entry["store_minus_exact"] = entry["store"] - entry["exact"]


def add_category_means(metrics: dict) -> None:
    """category/mean/P@k: the mean over fields of each field's macro average (text-only forms)."""
    for k in PRECISION_KS:
        per_field = [v for key, v in metrics.items()
                     if key.startswith("category/") and key.endswith(f"/P@{k}") and "+filters" not in key
                     and not key.startswith("category/mean/")]
        if per_field:
            # Point estimates only: an interval of the mean of field means would need one bootstrap
            # over all fields' queries at once.
            metrics[f"category/mean/P@{k}"] = {variant: float(np.mean([v[variant] for v in per_field]))
                                               for variant in per_field[0] if not variant.endswith("_ci95")}
