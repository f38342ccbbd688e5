"""`make eval`'s shopper tasks: hand-written free-text queries, P@1 and P@10.

Two query sets (evaluation/queries/*.json): "shopper" (its misses were seen before the shopper
vocabulary was written) and "shopper_heldout" (written by someone who had seen neither the query parser
nor the vocabulary, read only after the vocabulary was fixed).
Three forms each, exact (brute force) and through the store: the text alone ("shopper"); the text as
the search page runs it by default, the catalog values its words name ranked first, shopper words
included ("shopper+boost", store/boost.py, query/vocabulary.py); and the same with the catalog's own
words only ("shopper+boost_catalog_words"), so the vocabulary's share is measured in every run.
A product is relevant when its labels satisfy the query's constraints; queries with fewer than
`min_relevant` relevant corpus products are skipped and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fashion_search.evaluation import metrics
from fashion_search.evaluation import scoring as eval_scoring
from fashion_search.evaluation.queries import HELDOUT_SHOPPER_QUERIES, SHOPPER_QUERIES
from fashion_search.query.named_values import SUGGEST_FIELDS, suggest_from_index, value_index

KS = (1, 10)
QUERY_SETS = {"shopper": SHOPPER_QUERIES, "shopper_heldout": HELDOUT_SHOPPER_QUERIES}
FORMS = ("", "+boost", "+boost_catalog_words")  # appended to the set's name


def ranked(sim: np.ndarray, matched: np.ndarray, k: int) -> np.ndarray:
    """Indices of the top k: more matched boosts first, then higher similarity, ties by corpus order."""
    return np.lexsort((np.arange(len(sim)), -sim, -matched))[:k]


def _summary(per_query: dict[int, list[float]], texts: list[str], with_ci: bool) -> dict:
    out = {f"P@{k}": float(np.mean(per_query[k])) for k in KS}
    out["per_value"] = {t: {f"P@{k}": per_query[k][i] for k in KS} for i, t in enumerate(texts)}
    if with_ci:
        out["ci95"] = {f"P@{k}": list(metrics.bootstrap_ci(np.asarray(per_query[k]))) for k in KS}
    return out


def shopper_scores(products: Sequence, image_emb: np.ndarray, encode: Callable, store=None, exact: bool = False,
                   queries=SHOPPER_QUERIES, min_relevant: int = 5, name: str = "shopper") -> tuple[dict, dict]:
    """({name + form: {variant: summary}} for each of FORMS, {"queries": n, "skipped": {...}}).

    encode: texts -> (Q, D) unit vectors; store: a filled store of the same corpus (ids = product ids)
    or None for exact scores only; exact: search it without HNSW (then it must equal brute force).
    Summaries are what eval_scoring.collect_scores folds into a report.
    """
    masks: dict = {}
    relevant, kept, skipped = [], [], []
    for text, constraints in queries:
        mask = eval_scoring.filter_mask(products, constraints, masks)
        if mask.sum() < min_relevant:
            skipped.append(text)
            continue
        relevant.append(mask)
        kept.append(text)
    info = {"queries": len(kept), "skipped": {f"fewer_than_{min_relevant}_relevant": len(skipped)},
            "skipped_queries": skipped}
    if not kept:
        return {}, info
    values = {f: sorted({getattr(p, f) for p in products if getattr(p, f)}) for f in SUGGEST_FIELDS}
    indexes = {"+boost": value_index(values), "+boost_catalog_words": value_index(values, vocabulary=False)}
    ids = np.array([p.id for p in products])
    vectors = np.asarray(encode(kept), dtype=np.float32)
    sims = vectors @ np.asarray(image_emb, dtype=np.float32).T
    per = {form: {variant: {k: [] for k in KS} for variant in ("exact", "store")} for form in FORMS}
    for i, text in enumerate(kept):
        good = set(ids[relevant[i]].tolist())
        for form in FORMS:
            named = suggest_from_index(text, indexes[form]) if form else []
            top = ranked(sims[i], eval_scoring.match_counts(products, named, masks), max(KS))
            for k in KS:
                per[form]["exact"][k].append(float(relevant[i][top[:k]].mean()))
            if store is not None:
                hits = store.search(vectors[i], limit=max(KS), exact=exact, boost=named)
                for k in KS:
                    per[form]["store"][k].append(float(np.mean([h.id in good for h in hits[:k]])) if hits else 0.0)
    scores = {}
    for form in FORMS:
        scores[name + form] = {"exact": _summary(per[form]["exact"], kept, with_ci=True)}
        if store is not None:
            scores[name + form]["store"] = _summary(per[form]["store"], kept, with_ci=False)
    return scores, info

