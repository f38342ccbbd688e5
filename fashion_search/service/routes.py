"""The search API's endpoints. Each one is a few lines over fashion_search.query.search.Searcher.

Handlers are plain `def`: FastAPI runs them on its thread pool, where the encoder (torch releases
the GIL) and the store calls of concurrent requests overlap.
"""

from __future__ import annotations

import io
import time
from typing import Annotated

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    Path,
    Query,
    Request,
    Response,
    UploadFile,
)
from PIL import Image, UnidentifiedImageError

from fashion_search.query.inputs import MAX_UPLOAD_BYTES, read_upload
from fashion_search.query.search import FACET_FIELDS, ProductHit, SearchResult
from fashion_search.service import schemas
from fashion_search.service.queries import (
    ApiError,
    filter_params,
    ranking_options,
    to_filters,
)
from fashion_search.service.resources import Resources

ProductId = Annotated[int, Path(ge=0, le=2**63 - 1, description="the product id")]
FilterArgs = Annotated[list[str], Query(description="field:value, repeatable (OR within a field, AND across)")]
YearArg = Annotated[int | None, Query()]
LimitArg = Annotated[int, Query()]

router = APIRouter()


def resources(request: Request) -> Resources:
    return request.app.state.resources


Res = Annotated[Resources, Depends(resources)]


def _elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)


def product_model(product: ProductHit, res: Resources, cls=schemas.Product):
    image_url = f"/products/{product.id}/image" if product.image_ref and res.images.allows(product) else None
    fields = {name: getattr(product, name) for name in schemas.Product.model_fields if name != "image_url"}
    if cls is schemas.Hit:
        fields["score"] = product.score
        fields["matched_words"] = list(product.matched_words)
        fields["photo_words"] = list(product.photo_words)
    return cls(**fields, image_url=image_url)


def search_response(request: Request, res: Res, result: SearchResult, start: float, named=()) -> schemas.SearchResponse:
    request.app.state.metrics.observe_stages(request.scope["route"].path, result.encode_ms, result.search_ms,
                                             encoded=result.encode_ms > 0 and not result.cached)
    if result.cached:
        request.app.state.metrics.cache_hits.inc()
    def pairs(items):
        return [schemas.NamedValue(field=f, value=v) for f, v in items]
    return schemas.SearchResponse(
        hits=[product_model(p, res, schemas.Hit) for p in result.products], named_values=pairs(named),
        boosted=pairs(result.boosted), cached=result.cached,
        timing_ms=schemas.Timing(encode=round(result.encode_ms, 3), search=round(result.search_ms, 3),
                                 total=_elapsed_ms(start)))


def _existing(res: Resources, product_id: int) -> ProductHit:
    product = res.searcher.product(product_id)
    if product is None:
        raise ApiError(404, f"no product {product_id} in collection {res.config.collection!r}", "not_found")
    return product


@router.post("/search", response_model=schemas.SearchResponse, tags=["search"],
             summary="Products matching a text query, under filters")
def search_text(body: schemas.SearchRequest, request: Request, res: Res):
    start = time.perf_counter()
    filters = to_filters(body, res.known_values())
    named = res.searcher.named_values(body.query, filters)
    result = res.searcher.text(body.query, filters, body.limit, **ranking_options(body, named))
    return search_response(request, res, result, start, named)


@router.post("/search/image", response_model=schemas.SearchResponse, tags=["search"],
             summary="Products looking like an uploaded photo (multipart), under filters")
def search_image(request: Request, res: Res,
                 file: Annotated[UploadFile, File(description=f"JPEG, PNG, WebP, GIF...; at most "
                                                              f"{MAX_UPLOAD_BYTES // 2**20} MB")],
                 filter: Annotated[list[str], Form(description="field:value, repeatable")] = [],  # noqa: B006
                 year_min: Annotated[int | None, Form()] = None, year_max: Annotated[int | None, Form()] = None,
                 limit: Annotated[int, Form()] = schemas.DEFAULT_LIMIT):
    start = time.perf_counter()
    params = filter_params(filter, year_min, year_max, limit)
    data = file.file.read(MAX_UPLOAD_BYTES + 1)  # the body limit already bounds it; never read more
    image = read_upload(data, name=_safe_name(file.filename))
    result = res.searcher.image(image, to_filters(params, res.known_values()), params.limit)
    return search_response(request, res, result, start)


@router.get("/products/{product_id}", response_model=schemas.Product, tags=["products"])
def get_product(product_id: ProductId, res: Res):
    return product_model(_existing(res, product_id), res)


@router.get("/products/{product_id}/similar", response_model=schemas.SearchResponse, tags=["products"],
            summary="More like this: the products nearest to a stored one, under filters")
def similar(product_id: ProductId, request: Request, res: Res, filter: FilterArgs = [],  # noqa: B006
            year_min: YearArg = None, year_max: YearArg = None, limit: LimitArg = schemas.DEFAULT_LIMIT):
    start = time.perf_counter()
    params = filter_params(filter, year_min, year_max, limit)
    _existing(res, product_id)
    result = res.searcher.more_like_this(product_id, to_filters(params, res.known_values()), params.limit)
    return search_response(request, res, result, start)


@router.get("/products/{product_id}/image", tags=["products"], response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
            summary="The product's photo, read only from the configured catalog roots")
def product_image(product_id: ProductId, res: Res):
    product = _existing(res, product_id)
    data = res.images.image_bytes(product) if res.images.allows(product) else None
    if data is None:
        raise ApiError(404, f"product {product_id} has no image this service may serve", "image_unavailable")
    return Response(data, media_type=_media_type(data), headers={"Cache-Control": "public, max-age=86400"})


@router.get("/facets", response_model=schemas.FacetsResponse, tags=["search"],
            summary="Values and counts per field, each under the other fields' filters (as the page)")
def facets(res: Res, filter: FilterArgs = [], year_min: YearArg = None, year_max: YearArg = None):  # noqa: B006
    params = filter_params(filter, year_min, year_max, schemas.DEFAULT_LIMIT)
    table = res.searcher.facets_for_filters(to_filters(params, res.known_values()), fields=FACET_FIELDS)
    return schemas.FacetsResponse(facets={name: [schemas.FacetValue(value=str(v), count=int(c)) for v, c in rows]
                                          for name, rows in table.items()})


def _safe_name(filename: str | None) -> str:
    # Echoed in error messages: printable, short, never a path.
    name = "".join(ch for ch in (filename or "") if ch.isprintable()).rsplit("/", 1)[-1][:80]
    return name or "the upload"


def _media_type(data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only
            return Image.MIME.get(img.format or "", "application/octet-stream")
    except (UnidentifiedImageError, OSError):
        return "application/octet-stream"

