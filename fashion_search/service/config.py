"""The search API's configuration: flags override the environment, validated before anything is opened.

    python -m fashion_search.service [--host H] [--port P] [--store S] [--collection C] [--model M]
                                     [--catalog DIR] [--text-encoder torch|onnx|onnx-int8] [--workers N]

Environment: QDRANT_* (fashion_search.settings), FASHION_MODEL, FASHION_CATALOG, SEARCH_API_KEY.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from fashion_search.cli import ConfigError
from fashion_search.model.query_encoder import TEXT_ENCODER_HELP, TEXT_ENCODERS
from fashion_search.settings import LOCAL_HOSTS, load_settings

API_KEY_VAR = "SEARCH_API_KEY"
MIN_API_KEY_CHARS = 16


class ServiceConfigError(ConfigError):
    """A flag or variable that cannot work; the message names the fix."""


def is_loopback(host: str) -> bool:
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServiceConfig:
    store: str  # Edge directory or http(s) URL of a Qdrant server
    collection: str = "products"
    model: str | None = None  # None: the model the collection records it was built with
    catalog: str | None = None  # catalog root images may be served from (besides the collection's own)
    host: str = "localhost"
    port: int = 8000
    api_key: str | None = None  # required in X-API-Key when set; required to be set beyond loopback
    text_encoder: str = "torch"
    text_cache_size: int = 1024  # recent query vectors kept (0: encode every query, as the load bench does)
    torch_threads: int = 1  # intra-op threads per request on a CPU: requests run in parallel instead
    workers: int = 1  # uvicorn worker processes (Qdrant server only: an Edge store opens in one process)
    max_limit: int = 100  # most hits one request may ask for

    def __post_init__(self):
        if not self.store:
            raise ServiceConfigError("no store: pass --store DIR|URL or set QDRANT_URL / QDRANT_PATH")
        if self.catalog and not Path(self.catalog).exists():
            raise ServiceConfigError(f"catalog {self.catalog} does not exist; pass --catalog (or FASHION_CATALOG) "
                                     "pointing at the catalog the collection was ingested from")
        if self.text_encoder not in TEXT_ENCODERS:
            raise ServiceConfigError(f"--text-encoder {self.text_encoder!r}: choose from {', '.join(TEXT_ENCODERS)}")
        if not 0 < self.port < 65536:
            raise ServiceConfigError(f"--port {self.port} must be 1-65535")
        if self.api_key is not None and len(self.api_key) < MIN_API_KEY_CHARS:
            raise ServiceConfigError(f"{API_KEY_VAR} is {len(self.api_key)} characters; use at least "
                                     f"{MIN_API_KEY_CHARS} random ones, e.g. `openssl rand -hex 24`")
        if not is_loopback(self.host) and not self.api_key:
            raise ServiceConfigError(
                f"refusing to listen on {self.host} without an API key: anyone who can reach it could query "
                f"the catalog. Set {API_KEY_VAR} (e.g. export {API_KEY_VAR}=$(openssl rand -hex 24)) and send "
                "it as the X-API-Key header, or bind to localhost behind your own gateway")
        if self.workers < 1:
            raise ServiceConfigError(f"--workers {self.workers} must be >= 1")
        if self.workers > 1 and not self.store.startswith(("http://", "https://")):
            raise ServiceConfigError(f"--workers {self.workers} needs a Qdrant server (--store http://HOST:6333): "
                                     f"the embedded store at {self.store} can be opened by one process only")
        for name in ("text_cache_size",):
            if getattr(self, name) < 0:
                raise ServiceConfigError(f"--{name.replace('_', '-')} must be >= 0")
        for name in ("torch_threads", "max_limit"):
            if getattr(self, name) < 1:
                raise ServiceConfigError(f"--{name.replace('_', '-')} must be >= 1")

    def describe(self) -> dict:
        """For the start-up log: never prints the key itself."""
        return {**asdict(self), "api_key": "set" if self.api_key else "unset"}


def parse_config(argv: list[str] | None = None, environ=None) -> ServiceConfig:
    env = os.environ if environ is None else environ
    settings = load_settings(env)
    parser = argparse.ArgumentParser(prog="python -m fashion_search.service", description="Fashion search HTTP API",
                                     allow_abbrev=False)
    parser.add_argument("--host", default=env.get("HOST") or "localhost",
                        help="interface to bind (default localhost; anything else requires SEARCH_API_KEY)")
    parser.add_argument("--port", type=int, default=int(env.get("PORT") or 8000), help="port (default 8000)")
    parser.add_argument("--store", default=settings.location,
                        help="Edge store directory or http(s)://HOST:PORT (default: QDRANT_URL or QDRANT_PATH)")
    parser.add_argument("--collection", default=settings.collection, help="collection name")
    parser.add_argument("--model", default=env.get("FASHION_MODEL") or None,
                        help="CLIP model dir (default: FASHION_MODEL, else the collection's model)")
    parser.add_argument("--catalog", default=env.get("FASHION_CATALOG") or None,
                        help="catalog root to serve images from (default: FASHION_CATALOG)")
    parser.add_argument("--text-encoder", default="torch", choices=TEXT_ENCODERS, help=TEXT_ENCODER_HELP)
    parser.add_argument("--text-cache-size", type=int, default=1024,
                        help="recent query vectors kept in memory (0: none)")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch intra-op threads on a CPU (default 1)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (Qdrant server only)")
    args = parser.parse_args(argv)
    try:
        return ServiceConfig(store=args.store, collection=args.collection, model=args.model, catalog=args.catalog,
                             host=args.host, port=args.port, api_key=(env.get(API_KEY_VAR) or "").strip() or None,
                             text_encoder=args.text_encoder, text_cache_size=args.text_cache_size,
                             torch_threads=args.torch_threads, workers=args.workers)
    except ServiceConfigError as err:
        parser.error(str(err))
