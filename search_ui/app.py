"""The fashion search page.

    streamlit run search_ui/app.py -- [--store .qdrant | --store http://HOST:6333] [--model DIR] [--catalog DIR]

Defaults come from the environment (QDRANT_URL / QDRANT_PATH / QDRANT_COLLECTION via
fashion_search.settings, FASHION_MODEL, FASHION_CATALOG); flags override them. Without --model the
page loads the model the collection records it was built with. Search logic lives in
fashion_search.query.search; this file wires state, caches and layout.
"""

from __future__ import annotations

import contextlib
import logging

import streamlit as st
import torch

from fashion_search.catalog.products import KEYWORD_FIELDS
from fashion_search.model.clip import ModelLoadError
from fashion_search.model.embed import Embedder
from fashion_search.model.query_encoder import build_embedder
from fashion_search.query.inputs import InputError, clean_query, read_upload
from fashion_search.query.page_ranking import search_as_page
from fashion_search.query.search import CatalogImages, Searcher, TextVectorCache, catalog_root_from_model_info
from fashion_search.settings import SettingsError
from fashion_search.store import Filters, StoreError, open_store
from fashion_search.store.serving import check_model, pin
from fashion_search.ui import components as ui
from fashion_search.ui.page_config import PageConfig, PageConfigError, parse_config, script_argv

log = logging.getLogger("search_ui")
INGEST_HINT = "Run `make ingest` (or `python ingest/ingest.py --catalog PATH`) to fill it, then reload."


# ---- shared resources: built once per server process, never at import -------------------------

@st.cache_resource(show_spinner="Opening the vector store…")
def get_store(location: str, collection: str):
    return open_store(location, collection=collection)


@st.cache_resource(show_spinner="Loading the CLIP model…")
def get_embedder(model: str, text_encoder: str = "torch") -> tuple[Embedder, dict]:
    if not torch.cuda.is_available():
        # The page encodes one short query at a time: intra-op threads buy nothing there, and on a busy
        # 2-core machine they fight over the cores (make bench: 4.8 ms with 1 thread vs ~300 ms with 2).
        torch.set_num_threads(1)
    return build_embedder(model, text_encoder)


@st.cache_resource
def get_text_cache(model: str) -> TextVectorCache:
    # One per model, shared by every session: a filter click reruns the same text without the encoder.
    return TextVectorCache()


@st.cache_resource
def get_images(roots: tuple[str, ...]) -> CatalogImages:
    return CatalogImages(roots)


@st.cache_data(ttl=300, show_spinner=False)
def facet_table(_searcher: Searcher, data_key: str, filters_key: tuple) -> dict:
    """Facets for one filter state; data_key (store, collection, version, size) invalidates after re-ingest."""
    values, year_min, year_max = filters_key
    return _searcher.facets_for_filters(Filters({f: list(v) for f, v in values}, year_min, year_max))


# ---- per-user state, set at the top and changed only in callbacks -----------------------------

def init_state() -> None:
    defaults = {"query_box": "", "query": "", "mode": "text", "similar_to": None, "top_k": 24,
                "boost_named": True, "match_words": True, "query_error": None, "upload_bytes": None,
                "upload_name": None, "upload_error": None, "upload_generation": 0}
    defaults.update({ui.filter_key(f): [] for f in KEYWORD_FIELDS})
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def on_submit() -> None:
    try:  # the same checks as the API: control characters dropped, empty or overlong refused
        query, error = clean_query(st.session_state.query_box), None
    except InputError as err:
        query, error = "", (None if err.kind == "query_empty" else str(err))  # empty: the prompt says enough
    st.session_state.update(query=query, query_error=error, mode="text", similar_to=None)


def on_example(query: str) -> None:
    st.session_state.update(query_box=query, query=query, mode="text", similar_to=None)


def on_more_like_this(product_id: int) -> None:
    st.session_state.update(mode="similar", similar_to=int(product_id))


def on_back_to_text() -> None:
    # A new uploader key is the only way to empty a file_uploader.
    st.session_state.update(mode="text", similar_to=None, upload_bytes=None, upload_name=None,
                            upload_generation=st.session_state.upload_generation + 1)


def on_clear_filters() -> None:
    for field in KEYWORD_FIELDS:
        st.session_state[ui.filter_key(field)] = []
    st.session_state.pop("filter_year", None)


def on_add_filter(field: str, value: str) -> None:
    chosen = list(st.session_state.get(ui.filter_key(field), []))
    if value not in chosen:
        st.session_state[ui.filter_key(field)] = chosen + [value]


def on_upload() -> None:
    upload = st.session_state.get(f"upload_{st.session_state.upload_generation}")
    st.session_state.upload_error = None
    if upload is None:
        st.session_state.update(mode="text", upload_bytes=None, upload_name=None)
        return
    data = upload.getvalue()
    try:  # the API's checks (size, pixel count before decoding, damage), so a crafted file is a message
        read_upload(data, name=upload.name)
    except InputError as err:
        log.info("upload %s refused: %s (%s)", upload.name, err, err.kind)
        st.session_state.upload_error = f"{err}."
        return
    st.session_state.update(mode="image", upload_bytes=data, upload_name=upload.name, similar_to=None)


def current_filters(year_bounds: tuple[int, int] | None) -> Filters:
    values = {f: list(st.session_state[ui.filter_key(f)]) for f in KEYWORD_FIELDS
              if st.session_state[ui.filter_key(f)]}
    year_min = year_max = None
    chosen = st.session_state.get("filter_year")
    # Only a narrowed slider filters: a full range must not drop products without a year.
    if year_bounds and chosen and tuple(chosen) != tuple(year_bounds):
        year_min, year_max = int(chosen[0]), int(chosen[1])
    return Filters(values, year_min, year_max)


def filters_key(filters: Filters) -> tuple:
    values = tuple(sorted((f, tuple(sorted(v))) for f, v in filters.values.items()))
    return values, filters.year_min, filters.year_max


# ---- the page -----------------------------------------------------------------------------------

def year_bounds_from(facets: list[tuple]) -> tuple[int, int] | None:
    years = [int(v) for v, _ in facets]
    return (min(years), max(years)) if years else None


def prepare_year_slider(bounds: tuple[int, int] | None) -> None:
    chosen = st.session_state.get("filter_year")
    if bounds is None or bounds[0] == bounds[1]:
        st.session_state.pop("filter_year", None)
    elif chosen is None or not (bounds[0] <= chosen[0] <= chosen[1] <= bounds[1]):
        st.session_state.filter_year = bounds  # first visit, or the catalog changed under it


def collection_is_missing(err: StoreError) -> bool:
    # Both backends word a missing collection this way; a dedicated StoreError subclass would be
    # sturdier (requested from the store's owner).
    return "does not exist" in str(err)


def run_page(config: PageConfig) -> None:
    # One index version for the whole render: the sidebar's counts, the header's total and the results
    # agree even when an ingest switches versions meanwhile (the next render follows the switch).
    with contextlib.ExitStack() as held:
        try:
            store = get_store(config.store, config.collection)
            version, backend = held.enter_context(pin(store))
            n_products = backend.count()
            model_info = backend.model_info()
        except StoreError as err:
            log.warning("store %s unusable: %s", config.store, err)
            if collection_is_missing(err):
                st.info(f"There is no collection `{config.collection}` at **{config.store}** yet. {INGEST_HINT}")
            else:
                st.error(f"Cannot use the vector store at **{config.store}** "
                         f"(collection `{config.collection}`): {err}")
            return
        render_page(config, version, backend, n_products, model_info)


def render_page(config: PageConfig, version: str | None, backend, n_products: int, model_info: dict | None) -> None:
    """The page on one pinned version (`backend`, named `version`)."""
    if n_products == 0:
        st.info(f"The collection `{config.collection}` at **{config.store}** is empty. {INGEST_HINT}")
        return
    model = config.model or (model_info or {}).get("name")
    if not model:
        st.error("No model to encode queries with: pass `--model DIR` (or set FASHION_MODEL); "
                 "this collection does not record the model it was built with.")
        return
    embedder, identity = get_embedder(model, config.text_encoder)
    if config.model is None:
        # The model named by this version: refuse it if the files under that name now hold other weights.
        check_model(version, backend, identity, config.collection)
    searcher = Searcher(embedder, backend, text_cache=get_text_cache(model))
    images = get_images(tuple(r for r in (config.catalog, catalog_root_from_model_info(model_info)) if r))
    # The version is in the key: cached facets are those of the version this render shows.
    data_key = f"{config.store}|{config.collection}|{version}|{n_products}"

    ui.inject_style()
    ui.header_ui(n_products, config.collection)
    recorded_hash = (model_info or {}).get("weights_hash")
    if recorded_hash and recorded_hash != identity["weights_hash"]:
        st.warning(f"The model `{model}` is not the one this collection was built with "
                   f"(`{model_info.get('name')}`): text and image results will not be meaningful.")
    for problem in images.problems:
        st.warning(f"Images are not shown: {problem}")

    year_bounds = year_bounds_from(facet_table(searcher, data_key, filters_key(Filters()))["year"])
    prepare_year_slider(year_bounds)
    filters = current_filters(year_bounds)
    ui.upload_ui(on_upload, key=f"upload_{st.session_state.upload_generation}")
    facets = facet_table(searcher, data_key, filters_key(filters))  # each field under the others' filters
    ui.filters_ui(facets, year_bounds, on_clear_filters)
    st.sidebar.caption(f"Store {config.store} · collection {config.collection} · model {model} "
                       f"· text encoder {config.text_encoder}")
    ui.query_ui(on_submit, on_example)
    results_ui(searcher, images, filters, facets)


def results_ui(searcher: Searcher, images: CatalogImages, filters: Filters, facets: dict) -> None:
    state = st.session_state
    limit = int(state.top_k)
    image_uri = lambda product: ui.image_data_uri(images.image_bytes(product))  # noqa: E731
    for error in (state.upload_error, state.query_error):
        if error:
            st.warning(error)
    if state.mode == "similar":
        source = searcher.product(state.similar_to)
        ui.similar_banner_ui(source, image_uri(source) if source else None, on_back_to_text)
        result, what = searcher.more_like_this(state.similar_to, filters, limit), ""
    elif state.mode == "image" and state.upload_bytes:
        ui.image_banner_ui(ui.image_data_uri(state.upload_bytes), state.upload_name, on_back_to_text)
        # First frame, EXIF rotation applied, RGB (checked in on_upload, so this cannot refuse it now).
        result, what = searcher.image(read_upload(state.upload_bytes), filters, limit), "image"
    elif not state.query:
        st.info("Type what you are looking for, e.g. *red summer dress*, and press Enter, "
                "or pick one of the examples above.", icon=":material/search:")
        return
    else:
        # The page's default ranking lives in the package, shared with the command line.
        found = search_as_page(searcher, state.query, filters, limit, boost_named=bool(state.boost_named),
                               match_words=bool(state.match_words), facets=facets)
        result, named, what = found.result, found.named, "text"
    if not result.hits:
        loosen = ("Loosen them: remove a filter in the sidebar or widen the year range."
                  if not filters.is_empty() else "The collection has nothing else to show.")
        st.info(f"No products match under these filters. {loosen}", icon=":material/filter_alt_off:")
        if not filters.is_empty():
            st.button("Clear filters", key="clear_filters_empty", on_click=on_clear_filters)
        return
    ui.latency_caption_ui(len(result.hits), result.encode_ms, result.search_ms, what, cached=result.cached)
    if what == "text":
        ui.boost_caption_ui(result.boosted, words=result.words is not None,
                            photo_tags=any(p.photo_words for p in result.products))
        if result.note:
            st.info(f"Ranked by the photos alone: {result.note}.", icon=":material/build:")
        ui.filter_suggestions_ui(named, on_add_filter)
    products = result.products
    hidden_roots = sorted({str(p.catalog) for p in products if not images.allows(p)})
    if hidden_roots:
        st.info(f"Photos are hidden: this page only shows images from catalogs it is configured with "
                f"({', '.join(images.roots) or 'none'}), and these results come from "
                f"{', '.join(hidden_roots)}. Start the page with `--catalog PATH` (or set FASHION_CATALOG).",
                icon=":material/hide_image:")
    ui.results_grid_ui(products, image_uri, on_more_like_this, frozenset(result.boosted))


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    st.set_page_config(page_title="Fashion search", page_icon=":material/checkroom:", layout="wide")
    st.set_option("client.showErrorDetails", "none")  # whatever the launch flags: no traceback reaches a browser
    init_state()
    try:
        config = parse_config(script_argv() if argv is None else argv)
        run_page(config)
    except (PageConfigError, SettingsError, ModelLoadError) as err:
        st.error(str(err))
    except Exception as err:  # the page never shows a traceback; the log keeps it
        log.exception("search page failed")
        st.error(f"Something went wrong: {type(err).__name__}: {err}. The details are in the server log.")


main()
