"""The command-line search against a small ingested Edge store: it prints what the page shows (same
function, same ids in the same order), as a table or JSON lines, and every bad input is one line on
stderr with a non-zero exit."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from tiny_model import build_tiny_clip
from ui_fixtures import build_demo

from fashion_search.catalog.products import KEYWORD_FIELDS
from fashion_search.model.clip import load_clip
from fashion_search.model.embed import Embedder
from fashion_search.query.cli import MAX_LIMIT, main
from fashion_search.query.cli_output import NAME_WIDTH, table
from fashion_search.query.page_ranking import PageSearch, search_as_page
from fashion_search.query.ranking import IMAGE_ONLY, PAGE_DEFAULT
from fashion_search.query.search import Searcher, SearchResult
from fashion_search.store import Filters, Hit, open_store

REPO = Path(__file__).resolve().parents[1]
HIT_KEYS = {"id", "score", "name", *KEYWORD_FIELDS, "year", "matched_words", "photo_words"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_demo(tmp_path_factory)


@pytest.fixture(scope="module")
def cli_store(demo, tmp_path_factory) -> Path:
    """The copy the command line opens (an Edge shard opens once per process: the reference has another)."""
    return demo.store_copy(tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="module")
def reference_store(demo, tmp_path_factory) -> Path:
    return demo.store_copy(tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def reference(demo, reference_store):
    store = open_store(str(reference_store), "products")
    clip, processor = load_clip(str(demo.model))
    yield Searcher(Embedder(clip, processor), store)
    store.close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("QDRANT_URL", "QDRANT_PATH", "QDRANT_COLLECTION", "FASHION_MODEL", "FASHION_CATALOG"):
        monkeypatch.delenv(var, raising=False)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # usage errors exit from argparse
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def search_json(capsys, store, *argv) -> list[dict]:
    code, out, err = run_cli(capsys, "--store", store, "--json", *argv)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def ranked(hits) -> list[tuple[int, float]]:
    return [(int(h["id"]), h["score"]) if isinstance(h, dict) else (int(h.id), float(h.score)) for h in hits]


CASES = [("red dresses", Filters()),
         ("red casual tshirts for women", Filters()),
         ("kids navy sneakers", Filters()),
         ("black tshirts for men", Filters({"masterCategory": ["Footwear"]})),
         ("navy blue formal shoes", Filters({"gender": ["Men", "Women"], "masterCategory": ["Footwear"]}, 2012, 2016))]


def test_page_ranking_is_the_text_search_with_the_named_values_first(reference):
    for query, filters in CASES:
        page = search_as_page(reference, query, filters, limit=24)
        library = reference.text(query, filters, limit=24, boost=reference.named_values(query, filters))
        assert ranked(page.result.hits) == ranked(library.hits) and page.result.hits, query
        plain = search_as_page(reference, query, filters, limit=24, boost_named=False)
        assert plain.result.boosted == [] and plain.named == page.named
        unboosted = reference.text(query, filters, limit=24, options=PAGE_DEFAULT.with_(named_values_first=False))
        assert ranked(plain.result.hits) == ranked(unboosted.hits)
        photo_only = search_as_page(reference, query, filters, limit=24, boost_named=False, match_words=False)
        assert ranked(photo_only.result.hits) == ranked(reference.text(query, filters, limit=24, options=IMAGE_ONLY).hits)
    # Only values with products under the filters are named (no footwear is a T-shirt).
    named = search_as_page(reference, "black tshirts for men", CASES[3][1], limit=5).named
    assert ("articleType", "Tshirts") not in named and ("gender", "Men") in named
    assert search_as_page(reference, "red dresses", limit=5).named == [("baseColour", "Red"), ("articleType", "Dresses")]


def test_json_is_the_page_ranking_hit_for_hit(capsys, cli_store, reference):
    for query, filters in CASES:
        flags = [f"--filter={field}={value}" for field, values in filters.values.items() for value in values]
        flags += [f"--year-min={filters.year_min}"] * (filters.year_min is not None)
        flags += [f"--year-max={filters.year_max}"] * (filters.year_max is not None)
        (line,) = search_json(capsys, cli_store, "--query", query, "--limit", 24, *flags)
        page = search_as_page(reference, query, filters, limit=24)
        assert line["query"] == query
        assert line["named_values"] == [{"field": f, "value": v} for f, v in page.named]
        assert ranked(line["hits"]) == ranked(page.result.hits) and len(line["hits"]) == len(page.result.hits) > 0
        for hit, product in zip(line["hits"], page.result.products):
            assert set(hit) == HIT_KEYS
            assert hit == {"id": product.id, "score": product.score, "name": product.name, "year": product.year,
                           **{f: getattr(product, f) for f in KEYWORD_FIELDS},
                           "matched_words": list(product.matched_words),
                           "photo_words": list(product.photo_words)}
            assert all(hit[f] in values for f, values in filters.values.items())
            assert filters.year_min is None or filters.year_min <= hit["year"] <= filters.year_max
    # Word matches are reported per hit: "dresses" is in every dress's name in the demo catalog.
    (line,) = search_json(capsys, cli_store, "--query", "red dresses", "--limit", 3)
    assert all("dresses" in hit["matched_words"] or "dress" in hit["matched_words"] for hit in line["hits"])
    # --no-words ranks by the photos only.
    (line,) = search_json(capsys, cli_store, "--query", "red dresses", "--no-words", "--no-boost")
    assert ranked(line["hits"]) == ranked(search_as_page(reference, "red dresses", limit=10, boost_named=False,
                                                         match_words=False).result.hits)
    assert all(hit["matched_words"] == [] for hit in line["hits"])
    # --no-boost is the page with its toggle off.
    (line,) = search_json(capsys, cli_store, "--query", "red dresses", "--no-boost")
    assert ranked(line["hits"]) == ranked(search_as_page(reference, "red dresses", limit=10, boost_named=False).result.hits)
    # With the words matched, "red dresses" ranks red dresses first either way; by the photos alone the
    # toggle changes the order.
    (photo_boosted,) = search_json(capsys, cli_store, "--query", "red dresses", "--no-words")
    (photo_plain,) = search_json(capsys, cli_store, "--query", "red dresses", "--no-words", "--no-boost")
    assert ranked(photo_boosted["hits"]) != ranked(photo_plain["hits"])


def test_the_page_shows_what_the_command_line_prints(capsys, monkeypatch, demo, cli_store, tmp_path):
    query, gender = "red casual tshirts for women", ["Women", "Girls"]
    (line,) = search_json(capsys, cli_store, "--query", query, "--limit", 24,
                          *(f"--filter=gender={g}" for g in gender))
    monkeypatch.setenv("QDRANT_PATH", str(demo.store_copy(tmp_path)))
    at = AppTest.from_file(str(REPO / "search_ui" / "app.py"), default_timeout=60)
    at.session_state["filter_gender"] = gender
    at.run()
    at.text_input(key="query_box").input(query)
    at.button(key="search_submit").click().run()
    try:
        assert not at.exception, [e.value for e in at.exception]
        cards = [m.value for m in at.markdown if "fs-card" in m.value]
        shown = [int(card.split('data-product-id="')[1].split('"')[0]) for card in cards]
        assert shown == [hit["id"] for hit in line["hits"]] and len(shown) == 24
    finally:
        st.cache_resource.clear()  # release the page's shard


def test_table_lists_the_ranking_with_its_named_values(capsys, cli_store, reference):
    code, out, err = run_cli(capsys, "--store", cli_store, "--query", "red dresses", "--limit", 7)
    assert code == 0 and not err.strip(), err
    lines = out.splitlines()
    assert lines[0].startswith('"red dresses": 7 hits · text encoding ')
    assert lines[1] == "first: products matching baseColour=Red · articleType=Dresses"
    assert lines[2].split() == ["rank", "score", "id", "name", *KEYWORD_FIELDS, "year"]
    rows = [line.split() for line in lines[3:]]
    page = search_as_page(reference, "red dresses", limit=7).result.products
    assert [int(r[0]) for r in rows] == list(range(1, 8))
    assert [(int(r[2]), r[1]) for r in rows] == [(p.id, f"{p.score:.3f}") for p in page]
    assert all(line.rstrip().endswith(str(p.year)) and p.baseColour in line for line, p in zip(lines[3:], page))


def test_table_truncates_wide_columns_and_says_when_nothing_matches():
    long_name = "Very Long Brand Name Women Red Embroidered Printed Anarkali Kurta With Dupatta"
    payload = {"name": long_name, "articleType": "Kurtas", "baseColour": "Red", "year": 2012,
               "usage": "An Implausibly Long Usage Label"}
    found = PageSearch(SearchResult([Hit(5, 0.5, payload)], 1.0, 1.0), named=[])
    row = table("kurta", found).splitlines()[-1]
    assert long_name not in row and long_name[: NAME_WIDTH - 1] + "…" in row
    assert "An Implausibly …" in row and row.endswith("2012")
    empty = table("kurta", PageSearch(SearchResult([], 1.0, 1.0), named=[]))
    assert empty.splitlines()[1].startswith("no products match these filters")


def test_queries_file_gives_one_line_per_query_in_order(capsys, monkeypatch, cli_store, reference, tmp_path):
    queries = ["blue jeans", "red dresses", "black watch", "blue jeans"]
    path = tmp_path / "queries.txt"
    path.write_text("blue jeans\n\n   red dresses  \n\t\nblack watch\nblue jeans\n")
    lines = search_json(capsys, cli_store, "--queries", path, "--limit", 5, "--filter", "gender=men")
    assert [line["query"] for line in lines] == queries
    for line, query in zip(lines, queries):
        expected = search_as_page(reference, query, Filters({"gender": ["Men"]}), limit=5)  # "men" spelled as stored
        assert ranked(line["hits"]) == ranked(expected.result.hits) and all(h["gender"] == "Men" for h in line["hits"])
    code, out, _ = run_cli(capsys, "--store", cli_store, "--queries", path, "--limit", 2)
    assert code == 0 and [b.splitlines()[0].split('"')[1] for b in out.strip().split("\n\n")] == queries
    monkeypatch.setattr("sys.stdin", io.StringIO("red dresses\n\nblue jeans\n"))  # --queries - reads stdin
    assert [line["query"] for line in search_json(capsys, cli_store, "--queries", "-")] == ["red dresses", "blue jeans"]


def hostile_cases(tmp_path: Path):
    missing, directory = tmp_path / "nope.txt", tmp_path / "adir"
    directory.mkdir()
    blank, binary = tmp_path / "blank.txt", tmp_path / "binary.txt"
    blank.write_text("\n  \n\t\n")
    binary.write_bytes(b"\xff\xfe\x00red\x81")
    q = ["--query", "red dress"]
    return [  # (argv, exit code, what the one line must say)
        (["--query", "   "], 2, "--query is empty"),
        ([], 2, "either --query TEXT or --queries FILE"),
        ([*q, "--queries", blank], 2, "either --query TEXT or --queries FILE"),
        ([*q, "--limit", 0], 2, f"--limit must be between 1 and {MAX_LIMIT}, got 0"),
        ([*q, "--limit", 10**9], 2, f"--limit must be between 1 and {MAX_LIMIT}"),
        ([*q, "--limit", "ten"], 2, "invalid int value: 'ten'"),
        ([*q, "--filter", "colour=Red"], 2, "unknown field 'colour'; known fields: gender, masterCategory"),
        ([*q, "--filter", "articleType"], 2, "is not FIELD=VALUE"),
        ([*q, "--filter", "articleType="], 2, "is not FIELD=VALUE"),
        ([*q, "--filter", "=Tshirts"], 2, "is not FIELD=VALUE"),
        ([*q, "--filter", "year=2012"], 2, "--year-min / --year-max"),
        ([*q, "--year-min", 2016, "--year-max", 2012], 2, "--year-min 2016 is after --year-max 2012"),
        ([*q, "--filter", "articleType=Tshirt"], 1, "no product has articleType='Tshirt' (did you mean Tshirts"),
        ([*q, "--filter", "baseColour=Plaid"], 1, "no product has baseColour='Plaid'; known values: "),
        ([*q, "--model", tmp_path / "no-model"], 1, "does not exist"),
        (["--queries", missing], 1, f"cannot read the queries file {missing}: No such file"),
        (["--queries", directory], 1, f"cannot read the queries file {directory}: Is a directory"),
        (["--queries", binary], 1, f"cannot read the queries file {binary}"),
        (["--queries", blank], 1, f"the queries file {blank} has no queries"),
        ([*q, "--collection", "nothing_here"], 1, "no collection 'nothing_here'"),
    ]


def test_every_bad_input_is_one_line_and_a_non_zero_exit(capsys, cli_store, reference, tmp_path):
    for argv, want_code, message in hostile_cases(tmp_path):
        code, out, err = run_cli(capsys, "--store", cli_store, *argv)
        assert (code, out) == (want_code, ""), (argv, code, out, err)
        assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err, (argv, err)
    # The known values are named, from the store.
    _, _, err = run_cli(capsys, "--store", cli_store, "--query", "x", "--filter", "baseColour=Plaid")
    assert set(err.split("known values: ")[1].strip().split(", ")) == {v for v, _ in reference.facets("baseColour")}


def test_unusable_stores_name_make_ingest(capsys, demo, reference_store, tmp_path):
    code, _, err = run_cli(capsys, "--store", tmp_path / "no-store", "--query", "red dress")
    assert code == 1 and "there is no collection 'products'" in err and "make ingest" in err
    assert not (tmp_path / "no-store").exists()  # looking never creates a store
    with open_store(str(tmp_path / "empty"), "products") as store:
        store.ensure_collection(16)
    code, _, err = run_cli(capsys, "--store", tmp_path / "empty", "--query", "red dress")
    assert code == 1 and "is empty" in err and "make ingest" in err
    code, _, err = run_cli(capsys, "--store", reference_store, "--query", "red dress")  # the reference holds it open
    assert code == 1 and "open in another process" in err and len(err.strip().splitlines()) == 1


def test_model_comes_from_the_collection_else_the_fallback(capsys, demo, cli_store, tmp_path):
    with open_store(str(tmp_path / "anonymous"), "products") as store:  # records no model
        store.ensure_collection(16)
        store.upsert([1], np.ones((1, 16), dtype=np.float32), [{"name": "Red Dress", "baseColour": "Red"}])
    code, _, err = run_cli(capsys, "--store", tmp_path / "anonymous", "--query", "red dress")
    assert code == 1 and "no model to encode queries with" in err and "MODEL_DIR" in err
    (line,) = search_json(capsys, tmp_path / "anonymous", "--query", "red dress", "--fallback-model", demo.model)
    assert [h["id"] for h in line["hits"]] == [1]
    # The collection's own model wins over the fallback; another model is used when asked, with a warning.
    search_json(capsys, cli_store, "--query", "red dress", "--fallback-model", tmp_path / "not-used")
    other = build_tiny_clip(tmp_path / "other", captions=["a plain red dress", "black leather shoes"])
    code, out, err = run_cli(capsys, "--store", cli_store, "--query", "red dress", "--model", other)
    assert code == 0 and out and "warning: the model" in err and "not the one this collection was built with" in err


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_search_needs_q_and_passes_store_and_model_only_when_given():
    # Not the variables of a make that runs this test (`make test STORE=...` would pass them down).
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "Q", "STORE", "MODEL_DIR", "ARGS")}

    def dry_run(*args):
        return subprocess.run(["make", "-n", "-s", "search", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, check=False)

    missing = dry_run()
    assert missing.returncode != 0 and 'Q is required: make search Q="striped t-shirt"' in missing.stderr
    assert dry_run("ARGS=--queries q.txt").returncode == 0
    plain = dry_run("Q=it's striped").stdout
    assert "--query 'it'\\''s striped'" in plain and "--store" not in plain and '--fallback-model "runs/' in plain
    given = dry_run("Q=x", "STORE=/s", "MODEL_DIR=/m", "ARGS=--json").stdout
    assert '--store "/s"' in given and '--model "/m" --json' in given
