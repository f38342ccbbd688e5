"""Search the catalog from the command line, ranked exactly as the search page ranks by default.

    python -m fashion_search.query.cli --query "striped t-shirt" [--limit 10] [--filter articleType=Tshirts] [--json]
    python -m fashion_search.query.cli --queries queries.txt --json     # one JSON line per query, in order
    make search Q="striped t-shirt" [STORE=...] [MODEL_DIR=...] [ARGS="--json"]

The store is found as the page finds it (--store, else QDRANT_URL, else QDRANT_PATH, else .qdrant) and
the model too (--model, else FASHION_MODEL, else the model the collection records, else
--fallback-model). Every mistake is one line on stderr and a non-zero exit: 2 for a bad command line,
1 for a store, model or file that cannot be used.
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from fashion_search.catalog.products import KEYWORD_FIELDS
from fashion_search.cli import option, parse_dataclass
from fashion_search.model.clip import ModelLoadError
from fashion_search.query.cli_output import json_line, table
from fashion_search.query.page_ranking import search_as_page
from fashion_search.query.search import Searcher
from fashion_search.settings import SettingsError, load_settings
from fashion_search.store import CollectionNotFound, Filters, StoreError, open_store

MAX_LIMIT = 1000  # the page shows at most 96; beyond a thousand a ranking is no longer read by anyone
PROG = "python -m fashion_search.query.cli"
INGEST_HINT = "run `make ingest` (or python ingest/ingest.py --catalog PATH --model DIR) to build it"


class SearchCliError(Exception):
    """A store, model, filter value or queries file that cannot be used; the message names the fix."""


@dataclass
class SearchConfig:
    query: str | None = option(None, "what to look for, e.g. 'striped t-shirt'")
    queries: str | None = option(None, "file with one query a line (blank lines skipped; '-' = stdin), "
                                       "instead of --query")
    filter: tuple[str, ...] = option((), "FIELD=VALUE, e.g. articleType=Tshirts: AND across fields, OR within one")
    year_min: int | None = option(None, "only products from this year on")
    year_max: int | None = option(None, "only products up to this year")
    limit: int = option(10, f"hits per query (1-{MAX_LIMIT})")
    json: bool = option(False, 'one JSON object per query: {"query", "named_values", "hits": [...]}')
    no_boost: bool = option(False, "do not rank the catalog values the query names first (the page's toggle)")
    no_words: bool = option(False, "do not match the query's words in product names: photo similarity only "
                                   "(the page's toggle)")
    store: str | None = option(None, "Edge store directory or http(s)://HOST:PORT (default: QDRANT_URL, "
                                     "else QDRANT_PATH, else .qdrant)")
    collection: str | None = option(None, "collection name (default: QDRANT_COLLECTION, else products)")
    model: str | None = option(None, "CLIP model dir (default: FASHION_MODEL, else the collection's model)")
    fallback_model: str | None = option(None, "model dir used when neither --model nor the collection names one")
    debug: bool = option(False, "show the traceback of an unexpected error")

    def __post_init__(self):
        if (self.query is None) == (self.queries is None):
            raise ValueError("give either --query TEXT or --queries FILE (one of them)")
        if self.query is not None and not self.query.strip():
            raise ValueError("--query is empty: type a few words, e.g. --query 'red summer dress'")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"--limit must be between 1 and {MAX_LIMIT}, got {self.limit}")
        if self.year_min is not None and self.year_max is not None and self.year_min > self.year_max:
            raise ValueError(f"--year-min {self.year_min} is after --year-max {self.year_max}")
        self.filter_values()  # syntax and field names, before any model or store is opened

    def filter_values(self) -> dict[str, list[str]]:
        """{field: [values]} from the --filter flags; field names matched case-insensitively."""
        fields_by_key = {f.lower(): f for f in KEYWORD_FIELDS}
        out: dict[str, list[str]] = {}
        for item in self.filter:
            name, sep, value = item.partition("=")
            name, value = name.strip(), value.strip()
            if not sep or not name or not value:
                raise ValueError(f"--filter {item!r} is not FIELD=VALUE, e.g. --filter articleType=Tshirts")
            if name.lower() == "year":
                raise ValueError("filter the year with --year-min / --year-max, not --filter year=...")
            if name.lower() not in fields_by_key:
                raise ValueError(f"--filter {item!r}: unknown field {name!r}; known fields: "
                                 f"{', '.join(KEYWORD_FIELDS)} (and --year-min/--year-max)")
            values = out.setdefault(fields_by_key[name.lower()], [])
            if value not in values:
                values.append(value)
        return out


def read_queries(config: SearchConfig) -> list[str]:
    if config.query is not None:
        return [config.query.strip()]
    source = "stdin" if config.queries == "-" else config.queries
    try:
        text = sys.stdin.read() if config.queries == "-" else Path(config.queries).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SearchCliError(f"cannot read the queries file {source}: {getattr(err, 'strerror', None) or err}") from err
    queries = [line.strip() for line in text.splitlines() if line.strip()]
    if not queries:
        raise SearchCliError(f"the queries file {source} has no queries: write one query a line")
    return queries


def resolve_filters(store, config: SearchConfig) -> Filters:
    """The --filter values as the catalog spells them; a value no product has is an error naming the known ones."""
    values = {}
    for field, asked in config.filter_values().items():
        known = [value for value, _ in store.facets(field, limit=10_000)]  # most frequent first
        by_key = {}
        for value in known:
            by_key.setdefault(value.casefold(), value)
        chosen = []
        for value in asked:
            match = value if value in known else by_key.get(value.casefold())
            if match is None:
                close = difflib.get_close_matches(value.casefold(), list(by_key), n=3, cutoff=0.6)
                hint = f" (did you mean {' or '.join(by_key[c] for c in close)}?)" if close else ""
                raise SearchCliError(f"no product has {field}={value!r}{hint}; known values: {', '.join(known) or 'none'}")
            chosen.append(match)
        values[field] = chosen
    return Filters(values, config.year_min, config.year_max)


def check_collection(store, location: str, collection: str) -> None:
    """A missing or empty collection names `make ingest`."""
    try:
        n_products = store.count()
    except CollectionNotFound:
        raise SearchCliError(f"there is no collection {collection!r} at {location}: {INGEST_HINT}, "
                             "or point --store (make search STORE=...) at the store you built") from None
    if n_products == 0:
        raise SearchCliError(f"the collection {collection!r} at {location} is empty: {INGEST_HINT}")


def load_embedder(config: SearchConfig, model_info: dict | None):
    """The model the page would use: --model, FASHION_MODEL, the collection's own, else --fallback-model."""
    # torch and transformers load only once the store and the filters are known to be good
    from transformers.utils import logging as hf_logging

    from fashion_search.model.clip import load_clip, model_identity
    from fashion_search.model.embed import Embedder

    model_info = model_info or {}
    model = config.model or os.environ.get("FASHION_MODEL") or model_info.get("name") or config.fallback_model
    if not model:
        raise SearchCliError("no model to encode queries with: this collection does not record the model it was "
                             "built with; pass --model DIR (make search MODEL_DIR=...)")
    hf_logging.disable_progress_bar()  # a "Loading weights" bar would interleave with the results
    clip, processor = load_clip(model)
    recorded = model_info.get("weights_hash")
    if recorded and recorded != model_identity(model, clip)["weights_hash"]:
        print(f"warning: the model {model} is not the one this collection was built with "
              f"({model_info.get('name')}): results will not be meaningful", file=sys.stderr)
    return Embedder(clip, processor)


def run(config: SearchConfig) -> None:
    queries = read_queries(config)
    settings = load_settings()
    location, collection = config.store or settings.location, config.collection or settings.collection
    with open_store(location, collection=collection) as store:
        check_collection(store, location, collection)
        filters = resolve_filters(store, config)
        searcher = Searcher(load_embedder(config, store.model_info()), store)
        facets = searcher.facets_for_filters(filters, fields=KEYWORD_FIELDS)  # one filter state for every query
        for i, query in enumerate(queries):
            found = search_as_page(searcher, query, filters, config.limit, boost_named=not config.no_boost,
                                   match_words=not config.no_words, facets=facets)
            if config.json:
                print(json_line(query, found), flush=True)
            else:
                print(("\n" if i else "") + table(query, found), flush=True)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    config = parse_dataclass(SearchConfig, argv, prog=PROG, description=__doc__.split("\n")[0], one_line_errors=True)
    try:
        run(config)
    except (SearchCliError, StoreError, ModelLoadError, SettingsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:
        if config.debug:
            raise
        print(f"error: unexpected {type(err).__name__}: {err} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
