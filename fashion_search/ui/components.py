"""Widgets and layout of the search page: each *_ui() draws one part and returns plain values.

No search logic here: the page (app.py) asks fashion_search.query.search for results and hands them in.
Widget state lives in st.session_state under the keys below; app.py sets the defaults and owns the
callbacks that change them.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Callable

import streamlit as st
from PIL import Image, UnidentifiedImageError

from fashion_search.query.inputs import MAX_QUERY_CHARS, UPLOAD_TYPES
from fashion_search.query.search import ProductHit
from fashion_search.store.boost import by_field

STYLE_CSS = Path(__file__).with_name("style.css")
GRID_COLUMNS = 4  # four cards fit a 1280 px window beside the sidebar
TOP_K_CHOICES = (12, 24, 48, 96)
FILTER_LABELS = {
    "gender": "Gender", "masterCategory": "Category", "subCategory": "Sub-category",
    "articleType": "Article type", "baseColour": "Colour", "season": "Season", "usage": "Usage",
}
EXAMPLE_QUERIES = ("red summer dress", "black formal shoes", "blue denim jeans", "striped t-shirt",
                   "brown handbag")


def filter_key(field: str) -> str:
    return f"filter_{field}"


def inject_style() -> None:
    st.html(f"<style>{STYLE_CSS.read_text(encoding='utf-8')}</style>")


def header_ui(n_products: int, collection: str) -> None:
    st.markdown(
        f'<div class="fs-header"><h1>Fashion search</h1>'
        f'<p>Describe it, upload a photo, or follow "More like this" through '
        f'{n_products:,} products in <code>{html.escape(collection)}</code>.</p></div>',
        unsafe_allow_html=True,
    )


def query_ui(on_submit: Callable, on_example: Callable) -> None:
    """The query box (Enter submits the form) and one-click example queries."""
    with st.form("search_form", border=False):
        box, button = st.columns([6, 1], vertical_alignment="bottom")
        box.text_input("What are you looking for?", key="query_box", max_chars=MAX_QUERY_CHARS,
                       placeholder="e.g. red summer dress", label_visibility="collapsed")
        button.form_submit_button("Search", key="search_submit", type="primary", on_click=on_submit,
                                  width="stretch")
    label, *examples = st.columns([0.6] + [2] * len(EXAMPLE_QUERIES), vertical_alignment="center")
    label.caption("Try")
    for i, (column, query) in enumerate(zip(examples, EXAMPLE_QUERIES)):
        column.button(query, key=f"example_{i}", on_click=on_example, args=(query,),
                      type="tertiary", width="stretch", icon=":material/search:")


def _counted(counts: dict[str, int]) -> Callable[[str], str]:
    return lambda value: f"{value}  ·  {counts[value]:,}" if value in counts else f"{value}  ·  0"


def filters_ui(facets: dict, year_bounds: tuple[int, int] | None, on_clear: Callable) -> None:
    """Sidebar multiselects whose options and counts come from the store's facets."""
    st.sidebar.markdown("### Filters")
    for field, label in FILTER_LABELS.items():
        counts = dict(facets.get(field, []))
        chosen = st.session_state.get(filter_key(field), [])
        # Keep chosen values selectable even when other filters leave them no products.
        options = list(counts) + [v for v in chosen if v not in counts]
        st.sidebar.multiselect(label, options, key=filter_key(field), format_func=_counted(counts),
                               placeholder=f"Any {label.lower()}")
    if year_bounds and year_bounds[0] < year_bounds[1]:
        st.sidebar.slider("Year", min_value=year_bounds[0], max_value=year_bounds[1], key="filter_year")
    elif year_bounds:
        st.sidebar.caption(f"Every product is from {year_bounds[0]}.")
    st.sidebar.button("Clear filters", on_click=on_clear, icon=":material/filter_alt_off:", width="stretch")
    st.sidebar.divider()
    st.sidebar.select_slider("Results to show", options=TOP_K_CHOICES, key="top_k")
    st.sidebar.toggle("Typed values first", key="boost_named",
                      help="Products whose catalog colour, type, gender or usage is named in the query "
                           "come first (more named values first), then the rest, each by similarity. "
                           "Nothing is hidden; use the Narrow to buttons for that.")
    st.sidebar.toggle("Match words in names", key="match_words",
                      help="Rank by the photo and by the query's words in each product's name together "
                           "(\"striped\" finds Striped T-shirts); off: by the photo alone. Cards tick "
                           "the words their name holds.")


def upload_ui(on_upload: Callable, key: str) -> None:
    st.sidebar.markdown("### Search by image")
    st.sidebar.file_uploader("Upload a product photo", type=list(UPLOAD_TYPES),
                             key=key, on_change=on_upload, label_visibility="collapsed")


def image_data_uri(data: bytes | None) -> str | None:
    """A data: URI for encoded image bytes, or None when they are not a readable image."""
    if not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            mime = Image.MIME.get(img.format or "")
    except (UnidentifiedImageError, OSError):
        return None
    if mime is None:
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _image_html(uri: str | None, alt: str, css_class: str = "fs-img") -> str:
    if uri is None:
        return f'<div class="{css_class} fs-missing" role="img" aria-label="No image"><span>No image</span></div>'
    return f'<div class="{css_class}"><img src="{uri}" alt="{html.escape(alt)}"></div>'


def _chip(field: str, value: str, matched: bool) -> str:
    css, title = (f"fs-chip fs-chip-{field} fs-chip-match", f"{field}: named in your query") if matched \
        else (f"fs-chip fs-chip-{field}", field)
    return f'<span class="{css}" title="{title}">{html.escape(value)}</span>'


def card_html(product: ProductHit, image_uri: str | None, boosted: frozenset = frozenset()) -> str:
    """boosted: the (field, value) pairs ranked first; the card marks the ones this product has, which
    is why a lower score can sit above a higher one."""
    chips = "".join(_chip(field, value, (field, value) in boosted)
                    for field, value in product.attributes() if field != "year")
    title = html.escape(product.title)
    year = f"{product.year} · " if product.year is not None else ""
    words = "".join(f'<span class="fs-word fs-word-match" title="in the product name">{html.escape(w)}</span>'
                    for w in product.matched_words)
    words += "".join(f'<span class="fs-word fs-word-photo" title="seen in the photo (photo tags)">'
                     f'{html.escape(w)}</span>' for w in product.photo_words)
    return (
        f'<div class="fs-card" data-product-id="{product.id}">'
        f"{_image_html(image_uri, product.title)}"
        f'<div class="fs-name" title="{title}">{title}</div>'
        + (f'<div class="fs-words">{words}</div>' if words else "") +
        f'<div class="fs-chips">{chips}</div>'
        '<div class="fs-meta"><span class="fs-score" title="cosine similarity to the query, plus the '
        'BM25 match of its words when words count">'
        f'score {product.score:.3f}</span><span class="fs-id">{year}#{product.id}</span></div>'
        "</div>"
    )


def results_grid_ui(products: list[ProductHit], image_uri: Callable, on_more_like_this: Callable,
                    boosted: frozenset = frozenset()) -> None:
    for start in range(0, len(products), GRID_COLUMNS):
        for column, product in zip(st.columns(GRID_COLUMNS), products[start:start + GRID_COLUMNS]):
            with column.container(border=True):
                st.markdown(card_html(product, image_uri(product), boosted), unsafe_allow_html=True)
                st.button("More like this", key=f"more_{product.id}", on_click=on_more_like_this,
                          args=(product.id,), icon=":material/auto_awesome:", width="stretch")


def boost_caption_ui(boosted: list[tuple[str, str]], words: bool = False, photo_tags: bool = False) -> None:
    """Says which typed values ranked first and whether words counted, so an order that is not by
    score is never a mystery. photo_tags: some shown product matched a query word by its photo tags."""
    matched = "the words in product names" + (" and photo tags" if photo_tags else "")
    then = f"then by the photo and {matched}" if words else "then by similarity"
    if boosted:
        named = " · ".join(f"{FILTER_LABELS.get(field, field)}: {' or '.join(values)}"
                           for field, values in by_field(boosted))
        st.caption(f"First: products matching {named}, {then} (sidebar: Typed values first).")
    elif words:
        st.caption(f"Ranked by the photo and {matched} (sidebar: Match words in names).")


OFFERS_PER_ROW = 3  # so "Article type: Casual Shoes" fits a 1280 px window; more offers wrap


def filter_suggestions_ui(suggestions: list[tuple[str, str]], on_add: Callable) -> None:
    """One button per catalog value the query names ("Colour: Navy Blue"); a click adds that filter."""
    for start in range(0, len(suggestions), OFFERS_PER_ROW):
        # Always OFFERS_PER_ROW slots, so a short row keeps the width of a full row's buttons.
        label, *buttons = st.columns([1.1] + [2] * OFFERS_PER_ROW, vertical_alignment="center")
        if start == 0:
            label.caption("Narrow to")
        for column, (field, value) in zip(buttons, suggestions[start:start + OFFERS_PER_ROW]):
            column.button(f"{FILTER_LABELS.get(field, field)}: {value}", key=f"suggest_{field}_{value}",
                          on_click=on_add, args=(field, value), icon=":material/filter_alt:", width="stretch")


def latency_caption_ui(n_hits: int, encode_ms: float, search_ms: float, what: str, cached: bool = False) -> None:
    encode = (f"{what} encoding {'cached' if cached else f'{encode_ms:.1f} ms'} · ") if what else ""
    st.caption(f"{n_hits} results · {encode}search {search_ms:.1f} ms")


def similar_banner_ui(source: ProductHit | None, image_uri: str | None, on_back: Callable) -> None:
    with st.container(border=True):
        picture, text, back = st.columns([1, 6, 2], vertical_alignment="center")
        thumbnail = _image_html(image_uri, source.title if source else "", "fs-img fs-thumb")
        picture.markdown(thumbnail, unsafe_allow_html=True)
        name = html.escape(source.title) if source else "a product that is no longer in the collection"
        text.markdown(f"**More like this:** {name}")
        back.button("Back to text search", key="back_from_similar", on_click=on_back,
                    icon=":material/arrow_back:", width="stretch")


def image_banner_ui(image_uri: str | None, filename: str, on_back: Callable) -> None:
    with st.container(border=True):
        picture, text, back = st.columns([1, 6, 2], vertical_alignment="center")
        picture.markdown(_image_html(image_uri, filename, "fs-img fs-thumb"), unsafe_allow_html=True)
        text.markdown(f"**Products that look like** `{html.escape(filename)}`")
        back.button("Back to text search", key="back_from_image", on_click=on_back,
                    icon=":material/arrow_back:", width="stretch")
