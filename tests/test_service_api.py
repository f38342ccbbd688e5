"""The search API through FastAPI's TestClient over the small ingested demo store: answers equal the
library's (Searcher on a second copy of the store), hostile input is a 4xx JSON answer, metrics count it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hostile_inputs import accepted, refused
from ui_fixtures import build_demo

from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder
from fashion_search.query.ranking import IMAGE_ONLY, PAGE_DEFAULT
from fashion_search.query.search import Searcher
from fashion_search.service import ServiceConfig, create_app
from fashion_search.store import Filters, open_store

KEY = "k" * 24


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(tmp_path_factory)


@pytest.fixture(scope="module")
def config(demo, tmp_path_factory):
    return ServiceConfig(store=str(demo.store_copy(tmp_path_factory.mktemp("api"))), catalog=str(demo.catalog))


@pytest.fixture(scope="module")
def client(config):
    with TestClient(create_app(config), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def reference(demo, tmp_path_factory):
    store = open_store(str(demo.store_copy(tmp_path_factory.mktemp("api-reference"))), "products")
    yield Searcher(Embedder(*load_clip(str(demo.model))), store)
    store.close()


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [h["id"] for h in response.json()["hits"]]


# ---- answers equal the library's ------------------------------------------------------------------

def test_text_search_ranks_as_the_page_does(client, reference):
    response = client.post("/search", json={"query": "red dresses", "limit": 12})
    named = reference.named_values("red dresses")
    expected = reference.text("red dresses", limit=12, boost=named)
    assert ids(response) == [h.id for h in expected.hits]
    body = response.json()
    assert body["boosted"] == [{"field": "baseColour", "value": "Red"}, {"field": "articleType", "value": "Dresses"}]
    assert body["named_values"] == body["boosted"]
    first = body["hits"][0]
    assert (first["baseColour"], first["articleType"]) == ("Red", "Dresses")
    assert first["image_url"] == f"/products/{first['id']}/image" and isinstance(first["year"], int)
    assert set(body["timing_ms"]) == {"encode", "search", "total"}
    assert body["timing_ms"]["total"] >= body["timing_ms"]["search"] > 0


def test_boost_toggle_and_filters(client, reference):
    filters = Filters({"gender": ["Women"]}, year_min=2011, year_max=2014)
    body = {"query": "red dresses", "filters": {"gender": ["Women"]}, "year_min": 2011, "year_max": 2014,
            "boost_named_values": False, "limit": 10}
    expected = reference.text("red dresses", filters, limit=10, options=PAGE_DEFAULT.with_(named_values_first=False))
    got = client.post("/search", json=body)
    assert ids(got) == [h.id for h in expected.hits] and got.json()["boosted"] == []
    assert all(h["gender"] == "Women" and 2011 <= h["year"] <= 2014 for h in got.json()["hits"])
    # Words matched by default (each hit says which), the photos alone when match_words is off.
    assert [h["matched_words"] for h in got.json()["hits"]] == [list(p.matched_words) for p in expected.products]
    assert any(h["matched_words"] for h in got.json()["hits"])
    photo_only = client.post("/search", json={**body, "match_words": False})
    expected = reference.text("red dresses", filters, limit=10, options=IMAGE_ONLY)
    assert ids(photo_only) == [h.id for h in expected.hits]
    assert all(h["matched_words"] == [] for h in photo_only.json()["hits"])


def test_image_search_finds_the_uploaded_product(client, demo):
    photo = (demo.catalog / "images" / "17.jpg").read_bytes()
    response = client.post("/search/image", files={"file": ("look.jpg", photo, "image/jpeg")}, data={"limit": "5"})
    assert ids(response)[0] == 17 and response.json()["timing_ms"]["encode"] > 0


def test_image_search_under_filters(client, demo, reference):
    photo = (demo.catalog / "images" / "17.jpg").read_bytes()
    response = client.post("/search/image", files={"file": ("look.jpg", photo, "image/jpeg")},
                           data={"filter": ["gender:Men", "gender:Women"], "limit": "8"})
    genders = {h["gender"] for h in response.json()["hits"]}
    assert ids(response) and genders <= {"Men", "Women"}


def test_product_similar_image_and_facets(client, reference, demo):
    product = client.get("/products/17").json()
    stored = reference.product(17)
    assert (product["id"], product["name"], product["articleType"]) == (17, stored.name, stored.articleType)
    similar = client.get("/products/17/similar", params={"limit": 6})
    assert ids(similar) == [h.id for h in reference.more_like_this(17, limit=6).hits] and 17 not in ids(similar)
    image = client.get("/products/17/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content == (demo.catalog / "images" / "17.jpg").read_bytes()
    facets = client.get("/facets", params={"filter": ["masterCategory:Footwear"]}).json()["facets"]
    footwear = Filters({"masterCategory": ["Footwear"]})
    assert facets["articleType"] == [{"value": v, "count": c} for v, c in reference.facets("articleType", footwear)]
    # The field's own selection does not narrow it (OR within a field), as on the page.
    assert facets["masterCategory"] == [{"value": v, "count": c} for v, c in reference.facets("masterCategory")]
    assert {"year", "gender", "baseColour"} <= set(facets)


def test_healthz_and_docs(client):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["store_reachable"] and health["model_loaded"]
    assert health["index"]["points"] == 240 and len(health["index"]["weights_hash"]) == 64
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/search", "/search/image", "/products/{product_id}", "/products/{product_id}/similar",
            "/products/{product_id}/image", "/facets", "/healthz", "/metrics"} <= set(paths)


# ---- hostile input: a 4xx with a JSON detail, never a 500 ----------------------------------------

HOSTILE_SEARCHES = [
    ("empty query", {"query": ""}, 422),
    ("whitespace query", {"query": " \t\n "}, 422),
    ("control characters only", {"query": "\x00\x07\x1b"}, 422),
    ("10,000 characters", {"query": "dress " * 1667}, 422),
    ("query not text", {"query": ["red"]}, 422),
    ("no query", {}, 422),
    ("unknown filter field", {"query": "dress", "filters": {"brand": ["Nike"]}}, 422),
    ("unknown filter value", {"query": "dress", "filters": {"gender": ["Martian"]}}, 422),
    ("filter values not a list", {"query": "dress", "filters": {"gender": "Men"}}, 422),
    ("inverted years", {"query": "dress", "year_min": 2015, "year_max": 2010}, 422),
    ("year not a number", {"query": "dress", "year_min": "recent"}, 422),
    ("limit 0", {"query": "dress", "limit": 0}, 422),
    ("limit 10,000", {"query": "dress", "limit": 10_000}, 422),
    ("misspelt key", {"query": "dress", "filter": {"gender": ["Men"]}}, 422),
]


@pytest.mark.parametrize("case, body, status", HOSTILE_SEARCHES, ids=[c[0] for c in HOSTILE_SEARCHES])
def test_hostile_search_bodies_are_4xx_json(client, case, body, status):
    response = client.post("/search", json=body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["detail"] and answer["kind"] and "Traceback" not in response.text
    assert "dress " * 20 not in response.text  # the input is not echoed back


@pytest.mark.parametrize("query", ["red\x00 dress\x1b", "красное платье", "赤いドレス", "👗👠", "DROP TABLE products;--"])
def test_odd_but_valid_queries_search(client, query):
    assert len(ids(client.post("/search", json={"query": query, "limit": 5}))) == 5


def test_unknown_value_error_names_the_known_values(client):
    detail = client.post("/search", json={"query": "x", "filters": {"gender": ["men"]}}).json()["detail"]
    assert "'men'" in detail and "Men" in detail and "case-sensitive" in detail


@pytest.mark.parametrize("name", sorted(refused()))
def test_hostile_uploads_are_4xx_json(client, name):
    data, kind = refused()[name]
    response = client.post("/search/image", files={"file": ("look.jpg", data, "image/jpeg")})
    assert 400 <= response.status_code < 500 and response.json()["kind"] == kind, response.text


@pytest.mark.parametrize("name", sorted(accepted()))
def test_awkward_but_valid_uploads_are_searched(client, name):
    response = client.post("/search/image", files={"file": (f"{name}.img", accepted()[name], "image/png")},
                           data={"limit": "3"})
    assert len(ids(response)) == 3


def test_malformed_requests(client):
    assert client.post("/search", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
    assert client.post("/search/image", data={"limit": "3"}).status_code == 422  # no file
    assert client.post("/search/image", files={"file": ("a.jpg", b"x", "image/jpeg")},
                       data={"filter": "gender"}).status_code == 422  # not field:value
    assert client.post("/search", content=b"x" * (11 * 2**20),
                       headers={"content-type": "application/json"}).status_code == 413


@pytest.mark.parametrize("path, status", [
    ("/products/999999", 404), ("/products/999999/similar", 404), ("/products/999999/image", 404),
    ("/products/-1", 422), ("/products/abc", 422), ("/products/99999999999999999999999", 422),
    ("/products/17/similar?limit=0", 422), ("/products/17/similar?limit=10000", 422),
    ("/products/17/similar?filter=gender:Martian", 422), ("/facets?filter=colour:Red", 422),
    ("/facets?year_min=2015&year_max=2010", 422), ("/facets?filter=nocolon", 422), ("/no/such/path", 404),
])
def test_hostile_paths_are_4xx_json(client, path, status):
    response = client.get(path)
    assert response.status_code == status and response.json()["kind"], response.text


# ---- key, metrics -------------------------------------------------------------------------------

def test_api_key_is_required_when_set(config, client):
    from dataclasses import replace

    keyed_app = create_app(replace(config, api_key=KEY, host="0.0.0.0"), resources=client.app.state.resources)
    with TestClient(keyed_app, raise_server_exceptions=False) as keyed:
        assert keyed.post("/search", json={"query": "dress"}).status_code == 401
        assert keyed.post("/search", json={"query": "dress"}, headers={"X-API-Key": "wrong" * 5}).status_code == 401
        assert keyed.get("/metrics").status_code == 401
        assert keyed.post("/search", json={"query": "dress"}, headers={"X-API-Key": KEY}).status_code == 200
        assert keyed.get("/healthz").status_code == 200  # probes need no key


def metric(text: str, name: str, **labels) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


def test_metrics_count_requests_stages_and_errors(client):
    before = client.get("/metrics").text
    client.post("/search", json={"query": "metrics probe shirt"})
    client.post("/search", json={"query": ""})
    client.get("/products/424242")
    after = client.get("/metrics").text
    def delta(name, **kw):
        return metric(after, name, **kw) - metric(before, name, **kw)
    assert delta("search_requests_total", endpoint="/search", status="200") == 1
    assert delta("search_requests_total", endpoint="/search", status="422") == 1
    assert delta("search_errors_total", endpoint="/search", kind="validation") == 1
    assert delta("search_errors_total", endpoint="/products/{product_id}", kind="not_found") == 1
    assert delta("search_stage_duration_seconds_count", endpoint="/search", stage="encode") == 1
    assert delta("search_stage_duration_seconds_count", endpoint="/search", stage="search") == 1
    assert delta("search_request_duration_seconds_count", endpoint="/search") == 2
