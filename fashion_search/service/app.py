"""The FastAPI app: `create_app(config)` wires the endpoints (routes.py), the API key, the body limit,
metrics and error answers. Every error is JSON {"detail", "kind"} with a 4xx/5xx status; a request
never sees a traceback (the log keeps those of genuine 500s).
"""

from __future__ import annotations

import hmac
import logging
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fashion_search.query.inputs import MAX_UPLOAD_BYTES, InputError
from fashion_search.service import schemas
from fashion_search.service.config import ServiceConfig
from fashion_search.service.metrics import MetricsMiddleware, ServiceMetrics
from fashion_search.service.queries import ApiError
from fashion_search.service.resources import Resources, open_resources
from fashion_search.service.routes import router
from fashion_search.store import StoreError

log = logging.getLogger("fashion_search.service")
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024  # an upload plus its multipart framing and form fields
DESCRIPTION = ("Text, image and more-like-this search over the fashion catalog, with the search page's filters "
               "and ranking. Send the key in `X-API-Key` when the service has one (SEARCH_API_KEY).")


def create_app(config: ServiceConfig, resources: Resources | None = None) -> FastAPI:
    """resources: already opened (tests share one); by default opened at start-up and closed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        opened = resources is None
        app.state.resources = open_resources(config) if opened else resources
        log.info("search API ready: %s", config.describe())
        try:
            yield
        finally:
            if opened:
                app.state.resources.close()

    def require_key(x_api_key: Annotated[str | None, Header(description="the service's SEARCH_API_KEY")] = None):
        if config.api_key and not hmac.compare_digest((x_api_key or "").encode(), config.api_key.encode()):
            raise ApiError(401, "missing or wrong API key: send it in the X-API-Key header", "auth")

    app = FastAPI(title="Fashion search API", version="1", description=DESCRIPTION, lifespan=lifespan,
                  responses={422: {"model": schemas.ErrorBody}, 401: {"model": schemas.ErrorBody}})
    app.state.config = config
    app.state.metrics = metrics = ServiceMetrics()
    app.include_router(router, dependencies=[Depends(require_key)])

    @app.get("/healthz", response_model=schemas.Health, tags=["operations"],
             summary="Store reachable, model loaded, which index is served (no key needed: for load balancers)")
    def healthz(request: Request, response: Response):
        res: Resources = request.app.state.resources
        problems, points = list(res.problems), None
        try:
            points = res.store.count()
        except StoreError as err:
            problems.append(f"store unreachable: {err}")
        info = res.model_info or {}
        reachable = points is not None
        if not reachable:
            response.status_code = 503
        return schemas.Health(status="ok" if reachable and not res.problems else "degraded",
                              store_reachable=reachable, model_loaded=res.embedder is not None,
                              text_encoder=config.text_encoder, problems=problems,
                              index=schemas.IndexInfo(collection=config.collection, points=points,
                                                      model=info.get("name"), weights_hash=info.get("weights_hash")))

    @app.get("/metrics", tags=["operations"], response_class=Response, dependencies=[Depends(require_key)],
             summary="Prometheus metrics of this process")
    def prometheus_metrics():
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    _install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # added last = outermost: counts the 411/413s too
    return app


def _error(request: Request, status: int, detail, kind: str) -> JSONResponse:
    request.scope["error_kind"] = kind  # read by MetricsMiddleware
    return JSONResponse({"detail": detail, "kind": kind}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        # loc, msg and type only: echoing the input back would reflect a hostile payload (or 10 MB of it).
        detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in exc.errors()]
        return _error(request, 422, detail, "validation")

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError):
        log.info("refused input: %s (%s)", exc, exc.kind)
        return _error(request, exc.status, str(exc), exc.kind)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        kind = getattr(exc, "kind", None) or ("not_found" if exc.status_code == 404 else "http")
        return _error(request, exc.status_code, exc.detail, kind)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError):
        log.warning("store error on %s: %s", request.url.path, exc)
        return _error(request, 503, f"the vector store could not answer: {exc}", "store")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return _error(request, 500, "internal error; the details are in the server log", "internal")


class BodyLimitMiddleware:
    """Refuses a request body over max_bytes before any of it is read (413), and a body without a
    declared length (411): an upload can neither fill the disk nor be trickled in forever."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            status, detail, kind = None, "", ""
            if length is None:
                status, detail, kind = 411, "send the body with a Content-Length header", "length_required"
            elif not length.isdigit() or int(length) > self.max_bytes:
                status, kind = 413, "upload_too_large"
                detail = f"the request body is larger than {self.max_bytes // 2**20} MB; send a smaller photo"
            if status is not None:
                scope["error_kind"] = kind
                await JSONResponse({"detail": detail, "kind": kind}, status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)
