"""The search API's configuration: flags override the environment, validated before anything is opened.

    python -m fashion_search.service [--host H] [--port P] [--store S] [--collection C] [--model M]
                                     [--catalog DIR] [--text-encoder torch|onnx|onnx-int8] [--workers N]

Environment: HOST, PORT, QDRANT_* (fashion_search.settings), FASHION_MODEL, FASHION_CATALOG, and
SEARCH_API_KEY (environment only, never a flag: a key on the command line shows in `ps` and shell history).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

from fashion_search.cli import ConfigError, dataclass_parser, option
from fashion_search.model.query_encoder import TEXT_ENCODER_HELP, TEXT_ENCODERS
from fashion_search.settings import DEFAULT_COLLECTION, LOCAL_HOSTS, Settings, load_settings

PROG = "python -m fashion_search.service"
API_KEY_VAR = "SEARCH_API_KEY"
MIN_API_KEY_CHARS = 16
DEFAULT_HOST, DEFAULT_PORT = "localhost", 8000
# Flags that fall back to an environment variable when not given (see _environment).
FROM_ENVIRONMENT = ("host", "port", "store", "collection", "model", "catalog")


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
    store: str = option(None, "Edge store directory or http(s)://HOST:PORT (default: QDRANT_URL, else QDRANT_PATH, "
                              "else .qdrant)")
    collection: str = option(DEFAULT_COLLECTION,
                             f"collection name (default: QDRANT_COLLECTION, else {DEFAULT_COLLECTION})")
    model: str | None = option(None, "CLIP model dir (default: FASHION_MODEL, else the model the collection "
                                     "records it was built with)")
    catalog: str | None = option(None, "catalog root to serve images from, besides the collection's own "
                                       "(default: FASHION_CATALOG)")
    host: str = option(DEFAULT_HOST, f"interface to bind (default: HOST, else {DEFAULT_HOST}; anything but "
                                     f"loopback requires {API_KEY_VAR})")
    port: int = option(DEFAULT_PORT, f"port (default: PORT, else {DEFAULT_PORT})")
    api_key: str | None = option(None, f"required in X-API-Key when set; required beyond loopback "
                                       f"({API_KEY_VAR}, environment only)", cli=False)
    text_encoder: str = option("torch", TEXT_ENCODER_HELP, choices=TEXT_ENCODERS)
    text_cache_size: int = option(1024, "recent query vectors kept in memory (0: encode every query, as the "
                                        "load bench does)")
    torch_threads: int = option(1, "torch intra-op threads per request on a CPU: requests run in parallel instead")
    workers: int = option(1, "uvicorn worker processes (Qdrant server only: an Edge store opens in one process)")
    max_limit: int = option(100, "most hits one request may ask for", cli=False)

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


def _environment(name: str, env: Mapping[str, str], settings: Settings):
    """What a flag that was not given falls back to: its variable, else the field's default."""
    if name == "port":
        port = (env.get("PORT") or "").strip()
        if port and not port.isdigit():
            raise ServiceConfigError(f"PORT={port!r} is not a port number; set it to 1-65535 or pass --port")
        return int(port) if port else DEFAULT_PORT
    return {"host": env.get("HOST") or DEFAULT_HOST, "store": settings.location, "collection": settings.collection,
            "model": env.get("FASHION_MODEL") or None, "catalog": env.get("FASHION_CATALOG") or None}[name]


def parse_config(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> ServiceConfig:
    """Flag > environment variable > default; a bad flag or value is a usage error (one line, exit 2)."""
    env = os.environ if environ is None else environ
    parser = dataclass_parser(ServiceConfig, prog=PROG, description="Fashion search HTTP API", one_line_errors=True,
                              allow_abbrev=False, epilog=f"Environment only (never a flag): {API_KEY_VAR}, the key "
                              "clients send as X-API-Key; required to bind beyond loopback.")
    parser.set_defaults(**dict.fromkeys(FROM_ENVIRONMENT))  # None: not given, so the environment decides
    args = vars(parser.parse_args(argv))
    settings = load_settings(env)  # its SettingsError names the variable; the caller reports it
    try:
        values = {name: _environment(name, env, settings) if value is None and name in FROM_ENVIRONMENT else value
                  for name, value in args.items()}
        return ServiceConfig(**values, api_key=(env.get(API_KEY_VAR) or "").strip() or None)
    except ValueError as err:
        parser.error(str(err))
