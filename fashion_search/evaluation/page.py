"""`make eval`'s ranking forms: every query set scored as the search page ranks it, through the store.

Each query runs through Searcher.text with a RankingOptions (query/ranking.py), exactly the code the
page, the CLI and the API call, against the eval store; "exact" searches it exhaustively (no HNSW),
"store" as a deployed store would (HNSW), so store - exact isolates the index's approximation.
Forms: image (the text vector alone), named (named values first: the page before word match),
words (image + the words' BM25, no named values), page (the default: named values first, hybrid inside
each level) and page+mmr (the page with MMR diversity).
Sets: the descriptive queries (evaluation/descriptive.py, P@1 / P@10 / distinct@10: the share of distinct
names in the top 10 / P@10_ceiling: the best P@10 any ranking reaches with that many relevant products),
the label queries (compound, shopper, shopper_heldout) and product name -> image (R@1, R@10, MRR@100).
With hide_names the descriptive sets are also ranked on a store whose payloads have no names (so no
words either) and judged with them: what the image vectors alone find ("<set>/hidden_names+<form>").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fashion_search.evaluation import descriptive, metrics
from fashion_search.evaluation import scoring as eval_scoring
from fashion_search.evaluation import shopper as eval_shopper
from fashion_search.query.ranking import IMAGE_ONLY, PAGE_DEFAULT, RankingOptions
from fashion_search.query.search import Searcher

MMR_DIVERSITY = 0.3
FORMS: dict[str, RankingOptions] = {
    "image": IMAGE_ONLY,
    "named": RankingOptions(words=False),
    "words": RankingOptions(named_values_first=False),
    "page": PAGE_DEFAULT,
    "page+mmr": PAGE_DEFAULT.with_(diversity=MMR_DIVERSITY),
}
NAME_FORMS = ("image", "words", "page")
KS = (1, 10)
NAME_LIMIT = 100


class _Vectors:
    """An embedder stand-in that serves the eval's cached text vectors to Searcher.text."""

    def __init__(self, encode: Callable):
        self.encode = encode

    def encode_texts(self, texts):
        return self.encode(list(texts))


class _Exhaustive:
    """The store searched without HNSW: every search gets exact=True."""

    def __init__(self, store):
        self._store = store

    def __getattr__(self, name):
        return getattr(self._store, name)

    def search(self, *args, **kwargs):
        return self._store.search(*args, **{**kwargs, "exact": True})


def _precision(texts: list[str], masks: list[np.ndarray], ids: np.ndarray, run: Callable, with_ci: bool) -> dict:
    per = {f"P@{k}": [] for k in KS}
    per["distinct@10"] = []
    good_sets = [set(ids[m].tolist()) for m in masks]
    for text, good in zip(texts, good_sets):
        hits = run(text).hits
        for k in KS:
            per[f"P@{k}"].append(float(np.mean([h.id in good for h in hits[:k]])) if hits else 0.0)
        # Share of distinct product names among the top 10 (1.0: no design shown twice).
        top = hits[:10]
        per["distinct@10"].append(len({(h.payload or {}).get("name") or h.id for h in top}) / len(top) if top else 1.0)
    out = {m: float(np.mean(v)) for m, v in per.items()}
    # The best P@10 any ranking can reach: a query with 6 relevant products caps at 0.6.
    out["P@10_ceiling"] = float(np.mean([min(len(g), 10) / 10 for g in good_sets]))
    out["per_value"] = {t: {m: per[m][i] for m in per} for i, t in enumerate(texts)}
    if with_ci:
        out["ci95"] = {m: list(metrics.bootstrap_ci(np.asarray(v))) for m, v in per.items() if m.startswith("P@")}
    return out


def _name_ranks(products: Sequence, run: Callable, with_ci: bool) -> dict:
    ranks = []
    for p in products:
        hits = run(p.name).hits
        at = next((n for n, h in enumerate(hits) if h.id == p.id), None)
        ranks.append(np.inf if at is None else at + 1.0)
    ranks = np.asarray(ranks)
    per = {"R@1": (ranks <= 1).astype(float), "R@10": (ranks <= 10).astype(float),
           f"MRR@{NAME_LIMIT}": np.where(ranks <= NAME_LIMIT, 1.0 / ranks, 0.0)}
    out = {m: float(np.mean(v)) for m, v in per.items()}
    if with_ci:
        out["ci95"] = {m: list(metrics.bootstrap_ci(v)) for m, v in per.items()}
    return out


def query_sets(products: Sequence, tasks: Sequence, min_relevant: int) -> tuple[dict, dict]:
    """({set name: (texts, relevance masks)}, {set name: skipped texts}) for the precision sets."""
    sets, skipped = {}, {}
    for name, path in descriptive.QUERY_SETS.items():
        texts, masks, skipped[name] = descriptive.relevance(products, descriptive.load_query_set(path), min_relevant)
        sets[name] = (texts, masks)
    cache: dict = {}
    for name, queries in eval_shopper.QUERY_SETS.items():
        kept = [(t, eval_scoring.filter_mask(products, c, cache)) for t, c in queries]
        sets[name] = ([t for t, m in kept if m.sum() >= min_relevant], [m for t, m in kept if m.sum() >= min_relevant])
        skipped[name] = [t for t, m in kept if m.sum() < min_relevant]
    compound = next((t for t in tasks if t.name == "compound"), None)
    if compound is not None:
        labels = np.asarray(compound.doc_labels, dtype=object)
        sets["compound"] = ([q.text for q in compound.queries], [labels == q.label for q in compound.queries])
        skipped["compound"] = []
    return sets, skipped


def page_scores(products: Sequence, encode: Callable, store, tasks: Sequence, exact_only: bool = False,
                hidden_store=None, min_relevant: int = 5, names: bool = True) -> tuple[dict, dict]:
    """({"<set>+<form>": {"exact": summary, "store": summary}}, info) for collect_scores.

    store: the eval store (ids = product ids, payloads with names); hidden_store: the same vectors
    with names removed, or None; exact_only: the store variant also searches exhaustively."""
    ids = np.array([p.id for p in products])
    embedder = _Vectors(encode)
    sets, skipped = query_sets(products, tasks, min_relevant)
    stores = [("", store)] + ([("/hidden_names", hidden_store)] if hidden_store is not None else [])
    out: dict = {}
    for suffix, target in stores:
        variants = {"exact": Searcher(embedder, _Exhaustive(target)),
                    "store": Searcher(embedder, _Exhaustive(target) if exact_only else target)}
        for set_name, (texts, masks) in sets.items():
            if not texts or (suffix and not set_name.startswith("descriptive")):
                continue
            for form, options in FORMS.items():
                out[f"{set_name}{suffix}+{form}"] = {
                    variant: _precision(texts, masks, ids, lambda t, s=searcher: s.text(t, limit=10, options=options),
                                        with_ci=variant == "exact")
                    for variant, searcher in variants.items()}
        if names and not suffix:
            named = [p for p in products if p.name]
            for form in NAME_FORMS:
                out[f"name_to_image+{form}"] = {
                    variant: _name_ranks(named, lambda t, s=searcher: s.text(t, limit=NAME_LIMIT, options=FORMS[form]),
                                         with_ci=variant == "exact")
                    for variant, searcher in variants.items()}
    info = {name: {"queries": len(texts), "skipped": skipped.get(name, [])} for name, (texts, _) in sets.items()}
    return out, info
