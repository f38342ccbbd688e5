"""Prometheus metrics of the search API: requests and latency per endpoint, latency per stage, errors by kind.

Each app owns its registry (tests build many apps in one process; a process-global registry would
refuse the second). Endpoints are labelled by their route template (/products/{product_id}), never
by the raw path, so hostile paths cannot grow the label set. With several uvicorn workers each
process serves its own numbers: scrape each replica (see docs/service.md).
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# From a cached filter click (~1 ms) to a ViT-B/32 query on a loaded CPU (~0.5 s).
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
UNMATCHED = "unmatched"  # requests no route answered (404 on an unknown path)


class ServiceMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("search_requests_total", "HTTP requests by endpoint, method and status",
                                ("endpoint", "method", "status"), registry=self.registry)
        self.latency = Histogram("search_request_duration_seconds", "Time from request to response, by endpoint",
                                 ("endpoint",), buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.stage = Histogram("search_stage_duration_seconds",
                               "Time per stage of a search (encode: query -> vector; search: vector store)",
                               ("endpoint", "stage"), buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.errors = Counter("search_errors_total", "Failed requests by endpoint and kind (validation, "
                              "not_found, upload_*, query_*, auth, store, internal, ...)",
                              ("endpoint", "kind"), registry=self.registry)
        self.in_flight = Gauge("search_requests_in_flight", "Requests being handled now", registry=self.registry)
        self.cache_hits = Counter("search_text_cache_hits_total", "Text queries answered from the vector cache",
                                  registry=self.registry)

    def observe_stages(self, endpoint: str, encode_ms: float, search_ms: float, encoded: bool) -> None:
        if encoded:
            self.stage.labels(endpoint, "encode").observe(encode_ms / 1000.0)
        self.stage.labels(endpoint, "search").observe(search_ms / 1000.0)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def route_label(scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED


class MetricsMiddleware:
    """Pure ASGI (no per-request task like BaseHTTPMiddleware): counts every response, its status,
    its latency and, for 4xx/5xx, the kind of error the handler recorded in scope["error_kind"]."""

    def __init__(self, app, metrics: ServiceMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_and_record(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.metrics.in_flight.dec()
            endpoint = route_label(scope)
            code = status["code"]
            self.metrics.requests.labels(endpoint, scope.get("method", ""), str(code)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)
            if code >= 400:
                kind = scope.get("error_kind") or ("not_found" if code == 404 else "internal" if code >= 500 else "http")
                self.metrics.errors.labels(endpoint, kind).inc()
