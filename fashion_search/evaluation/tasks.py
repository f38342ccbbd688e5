"""Retrieval tasks over a product corpus: the queries and what is relevant to each (evaluation/scoring.py scores them).

Kept free of models and stores so the scoring can be checked with hand-made vectors:
- name_to_image: the query is a product's display name; the one relevant document is that product.
  Scored by rank (R@1, R@10, MRR).
- category/<field>: the query is a bare field value ("Tshirts", "Navy Blue"); relevant documents are
  the products with that value. Scored by P@1, P@10, macro-averaged over values.
- compound: "men black casual shoes"; relevant when gender, baseColour and articleType all match.
- name_to_image+filters: the name query with every filter the search page offers for its words
  (query/named_values.py: "Spykar Women Blue Jeans" -> gender Women, colour Blue, type Jeans) clicked; a product
  whose own label disagrees with an offer is filtered out and scores rank infinity.

Category and compound queries also have a *filtered* form: a shorter text plus store filters
("casual shoes" + gender=Men, baseColour=Black), to show what the store's filters add. For a
category field the filter is its parent in the catalog hierarchy (articleType -> subCategory ->
masterCategory); fields without a parent (colour, season, usage, masterCategory) have no filtered form.

"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fashion_search.query.named_values import SUGGEST_FIELDS, suggest_from_index, value_index

CATEGORY_FIELDS = ("masterCategory", "subCategory", "articleType", "baseColour", "season", "usage")
COMPOUND_FIELDS = ("gender", "baseColour", "articleType")
# Which field narrows a category query in its filtered form: the parent in the catalog hierarchy.
PARENT_FIELD = {"articleType": "subCategory", "subCategory": "masterCategory"}
RANK_KS = (1, 10)
PRECISION_KS = (1, 10)


@dataclass(frozen=True)
class Query:
    text: str  # what the text encoder sees
    label: str  # documents with this label are relevant (name task: the product id as a string)
    filtered_text: str | None = None  # text of the filtered form, None when the query has none
    filters: dict[str, str | list[str]] = field(default_factory=dict)  # field -> value(s) for the filtered form


@dataclass
class Task:
    name: str  # "name_to_image", "category/articleType", "compound"
    kind: str  # "rank" (one relevant document) or "precision" (many)
    queries: list[Query]
    doc_labels: list  # (D,) label of each corpus document, aligned with the corpus order
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count, reported in the JSON

    @property
    def has_filtered(self) -> bool:
        return any(q.filtered_text is not None for q in self.queries)


def _value(product, name: str):
    value = getattr(product, name)
    return value if isinstance(value, str) and value.strip() else None


def name_task(products: Sequence, offer_values: Mapping[str, Iterable[str]] | None = None) -> Task:
    """One query per named product; products without a name are skipped and counted. With offer_values
    (the corpus's values per field), each query also gets the page's offered filters as its filtered form."""
    queries, skipped = [], Counter()
    names = Counter(_value(p, "name") for p in products)
    index = value_index(offer_values) if offer_values is not None else None
    for p in products:
        name = _value(p, "name")
        if name is None:
            skipped["no_name"] += 1
            continue
        if names[name] > 1:
            # Not skipped (the protocol keeps them), but counted: they cap R@1 below 1.
            skipped["name_shared_with_other_products(kept)"] += 1
        filters: dict[str, list[str]] = {}
        for offer_field, value in suggest_from_index(name, index) if index is not None else ():
            filters.setdefault(offer_field, []).append(value)  # two colours named: OR, as the page's multiselect
        queries.append(Query(text=name, label=str(p.id), filters=filters,
                             filtered_text=name if index is not None else None))
    return Task("name_to_image", "rank", queries, [str(p.id) for p in products], dict(skipped))


def category_task(products: Sequence, field_name: str, min_products: int = 10) -> Task:
    """One query per value of `field_name` that at least `min_products` corpus products carry."""
    doc_labels = [_value(p, field_name) for p in products]
    counts = Counter(label for label in doc_labels if label is not None)
    parent = PARENT_FIELD.get(field_name)
    queries = []
    for value, count in sorted(counts.items()):
        if count < min_products:
            continue
        filters = {}
        if parent is not None:
            parents = Counter(_value(p, parent) for p, label in zip(products, doc_labels) if label == value)
            parents.pop(None, None)
            if parents:
                filters = {parent: parents.most_common(1)[0][0]}
        queries.append(Query(text=value, label=value, filtered_text=value if filters else None, filters=filters))
    skipped = {"values_under_min_products": sum(1 for c in counts.values() if c < min_products)}
    skipped["products_without_value"] = sum(1 for label in doc_labels if label is None)
    return Task(f"category/{field_name}", "precision", queries, doc_labels, skipped)


def compound_label(values: Sequence[str | None]) -> str | None:
    return None if any(v is None for v in values) else "|".join(values)


def compound_task(products: Sequence, min_products: int = 10, max_queries: int = 200) -> Task:
    """Queries like "men black casual shoes" from (gender, baseColour, articleType) combos."""
    doc_labels = [compound_label([_value(p, f) for f in COMPOUND_FIELDS]) for p in products]
    counts = Counter(label for label in doc_labels if label is not None)
    frequent = [(label, c) for label, c in counts.items() if c >= min_products]
    # Most frequent first, ties by label, so a cap keeps the same queries on every run.
    frequent.sort(key=lambda item: (-item[1], item[0]))
    queries = []
    for label, _ in frequent[:max_queries]:
        gender, colour, article = label.split("|")
        queries.append(
            Query(
                text=f"{gender} {colour} {article}".lower(),
                label=label,
                filtered_text=article.lower(),
                filters={"gender": gender, "baseColour": colour},
            )
        )
    skipped = {"combos_under_min_products": sum(1 for c in counts.values() if c < min_products)}
    skipped["combos_over_max_queries"] = max(0, len(frequent) - max_queries)
    return Task("compound", "precision", queries, doc_labels, skipped)


def build_tasks(products: Sequence, min_products: int = 10) -> list[Task]:
    offer_values = {f: {v for v in (_value(p, f) for p in products) if v is not None} for f in SUGGEST_FIELDS}
    tasks = [name_task(products, offer_values)]
    tasks += [category_task(products, f, min_products) for f in CATEGORY_FIELDS]
    tasks.append(compound_task(products, min_products))
    return [t for t in tasks if t.queries]
