"""`make eval`'s shopper task: hand-written free-text queries (shopper_queries.py), P@1 and P@10.

Two forms, each exact (brute force) and through the store: the text alone ("shopper"), and the text as
the search page runs it by default, the catalog values its words name ranked first ("shopper+boost",
store/boost.py). A product is relevant when its labels satisfy the query's constraints; queries with
fewer than `min_relevant` relevant corpus products are skipped and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fashion_search import eval_scoring, metrics
from fashion_search.query_filters import SUGGEST_FIELDS, suggest_from_index, value_index
from fashion_search.shopper_queries import SHOPPER_QUERIES

KS = (1, 10)


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
                   queries=SHOPPER_QUERIES, min_relevant: int = 5) -> tuple[dict, dict]:
    """({"shopper": {variant: summary}, "shopper+boost": {...}}, {"queries": n, "skipped": {...}}).

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
    index = value_index({f: {getattr(p, f) for p in products if getattr(p, f)} for f in SUGGEST_FIELDS})
    ids = np.array([p.id for p in products])
    vectors = np.asarray(encode(kept), dtype=np.float32)
    sims = vectors @ np.asarray(image_emb, dtype=np.float32).T
    per = {form: {variant: {k: [] for k in KS} for variant in ("exact", "store")} for form in ("plain", "boost")}
    for i, text in enumerate(kept):
        named = suggest_from_index(text, index)
        matched = eval_scoring.match_counts(products, named, masks)
        for form, counts in (("plain", np.zeros_like(matched)), ("boost", matched)):
            top = ranked(sims[i], counts, max(KS))
            for k in KS:
                per[form]["exact"][k].append(float(relevant[i][top[:k]].mean()))
            if store is not None:
                hits = store.search(vectors[i], limit=max(KS), exact=exact, boost=named if form == "boost" else ())
                good = set(ids[relevant[i]].tolist())
                for k in KS:
                    per[form]["store"][k].append(float(np.mean([h.id in good for h in hits[:k]])) if hits else 0.0)
    scores = {}
    for form, name in (("plain", "shopper"), ("boost", "shopper+boost")):
        scores[name] = {"exact": _summary(per[form]["exact"], kept, with_ci=True)}
        if store is not None:
            scores[name]["store"] = _summary(per[form]["store"], kept, with_ci=False)
    return scores, info

