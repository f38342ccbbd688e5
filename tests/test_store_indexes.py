"""Payload indexes: every filter field is indexed, gender and article type as tenant fields (points
sharing a value stored together, store/base.TENANT_INDEX_FIELDS), on both backends."""

from __future__ import annotations

import numpy as np
from qdrant_client import models as qm

from fashion_search.store import FILTER_FIELDS, Filters, edge_requests, open_store, server_requests, type_colour
from fashion_search.store.base import TENANT_INDEX_FIELDS, index_kind


def test_server_schema_marks_only_the_tenant_fields():
    assert TENANT_INDEX_FIELDS == ("gender", "articleType")
    assert [index_kind(n) for n in ("gender", "articleType", "usage", "year")] == [
        "tenant keyword", "tenant keyword", "keyword", "integer"]
    for name in TENANT_INDEX_FIELDS:
        tenant = server_requests.payload_index_schema(name)
        assert isinstance(tenant, qm.KeywordIndexParams) and tenant.is_tenant is True
        assert tenant.type == qm.KeywordIndexType.KEYWORD
    assert server_requests.payload_index_schema("year") == qm.PayloadSchemaType.INTEGER
    for name in set(FILTER_FIELDS) - {"gender", "articleType", "year"}:
        assert server_requests.payload_index_schema(name) == qm.PayloadSchemaType.KEYWORD, name


def test_edge_store_indexes_the_tenant_fields_as_such_and_filters_the_same(tmp_path):
    store = open_store(tmp_path / "edge", collection="t")
    try:
        store.ensure_collection(8)
        schema = store._require().info().payload_schema
        assert set(schema) == set(FILTER_FIELDS) | {type_colour.KEY}    # the derived keyword: its own tests
        for name in TENANT_INDEX_FIELDS:
            assert schema[name].params is not None and schema[name].params.is_tenant is True, name
        assert all(schema[name].params is None for name in FILTER_FIELDS if name not in TENANT_INDEX_FIELDS)
        assert edge_requests.payload_index_schema("usage") == edge_requests.qe.PayloadSchemaType.Keyword
        # Interleaved types, so a store ordered by tenant differs from insertion order.
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((60, 8)).astype(np.float32)
        payloads = [{"gender": ["Men", "Women"][i % 2], "articleType": ["Tshirts", "Jeans", "Watches"][i % 3],
                     "year": 2010 + i % 5} for i in range(60)]
        store.upsert(list(range(1, 61)), vectors, payloads)
        store.optimize()
        query = rng.standard_normal(8).astype(np.float32)
        hits = store.search(query, filters=Filters({"gender": ["Men"], "articleType": ["Jeans"]}), limit=50)
        expected = [i + 1 for i in range(60) if i % 2 == 0 and i % 3 == 1]
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        expected.sort(key=lambda pid: -float(unit[pid - 1] @ (query / np.linalg.norm(query))))
        assert [h.id for h in hits] == expected
    finally:
        store.close()
