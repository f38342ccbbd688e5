"""Environment settings for the vector store, read and validated in one place.

Every entry point calls `load_settings()` at start, so a bad variable fails the job immediately with
the variable's name and the fix, instead of surfacing later as a confusing connection error.

    QDRANT_URL                 http(s)://host:port of a Qdrant server; unset -> embedded Qdrant Edge
    QDRANT_API_KEY             API key for the server (https -> TLS); also read by docker-compose.yml
    QDRANT_COLLECTION          collection name (default "products")
    QDRANT_PATH                Edge store directory, one sub-directory per collection (default ".qdrant")
    QDRANT_SHARD_NUMBER        shards when a server creates the collection (cluster), default: server's
    QDRANT_REPLICATION_FACTOR  replicas per shard when a server creates the collection (cluster)
    QDRANT_TIMEOUT             seconds for server calls, also how long an unreachable server takes to fail

Run `python -m fashion_search.settings` to print what the current environment resolves to.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlparse

from fashion_search.cli import ConfigError

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "products"
DEFAULT_STORE_PATH = ".qdrant"
DEFAULT_TIMEOUT_S = 5.0
COLLECTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class SettingsError(ConfigError):
    """An environment variable is malformed or inconsistent; the message names it and the fix."""


@dataclass(frozen=True)
class Settings:
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    collection: str = DEFAULT_COLLECTION
    store_path: str = DEFAULT_STORE_PATH
    shard_number: int | None = None
    replication_factor: int | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.qdrant_url is not None:
            parsed = urlparse(self.qdrant_url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise SettingsError(f"QDRANT_URL={self.qdrant_url!r} is not an http(s) URL; "
                                    "use e.g. http://127.0.0.1:6333, or unset it to use the embedded store")
            if self.qdrant_api_key and parsed.scheme == "http" and parsed.hostname not in LOCAL_HOSTS:
                log.warning("QDRANT_API_KEY will travel unencrypted to %s; use an https:// QDRANT_URL",
                            parsed.hostname)
        if not COLLECTION_NAME_RE.match(self.collection):
            raise SettingsError(f"QDRANT_COLLECTION={self.collection!r} is not a valid name; "
                                "use 1-64 letters, digits, '_' or '-'")
        if not self.store_path:
            raise SettingsError("QDRANT_PATH is empty; unset it for the default .qdrant or name a directory")
        for var, value in (("QDRANT_SHARD_NUMBER", self.shard_number),
                           ("QDRANT_REPLICATION_FACTOR", self.replication_factor)):
            if value is None:
                continue
            if value < 1:
                raise SettingsError(f"{var}={value} must be a positive integer")
            if self.qdrant_url is None:
                raise SettingsError(f"{var} only applies to a Qdrant server; set QDRANT_URL or unset {var}")
        if not self.timeout_s > 0:
            raise SettingsError(f"QDRANT_TIMEOUT={self.timeout_s} must be a positive number of seconds")

    @property
    def location(self) -> str:
        """What to pass to store.open_store: the server URL, else the Edge directory."""
        return self.qdrant_url or self.store_path

    def describe(self) -> dict:
        """For logs and `python -m fashion_search.settings`: never prints the key itself."""
        return {"location": self.location, "backend": "server" if self.qdrant_url else "edge",
                "collection": self.collection, "api_key": "set" if self.qdrant_api_key else "unset",
                "shard_number": self.shard_number, "replication_factor": self.replication_factor,
                "timeout_s": self.timeout_s}


def _int_var(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer; set a whole number or unset it") from None


def _float_var(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number of seconds; e.g. {name}=5") from None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the QDRANT_* variables (empty counts as unset); raises SettingsError."""
    env = os.environ if environ is None else environ
    return Settings(
        qdrant_url=env.get("QDRANT_URL", "").strip() or None,
        qdrant_api_key=env.get("QDRANT_API_KEY", "").strip() or None,
        collection=env.get("QDRANT_COLLECTION", "").strip() or DEFAULT_COLLECTION,
        store_path=env.get("QDRANT_PATH", "").strip() or DEFAULT_STORE_PATH,
        shard_number=_int_var(env, "QDRANT_SHARD_NUMBER"),
        replication_factor=_int_var(env, "QDRANT_REPLICATION_FACTOR"),
        timeout_s=_float_var(env, "QDRANT_TIMEOUT", DEFAULT_TIMEOUT_S),
    )


def main(argv=None) -> int:
    try:
        settings = load_settings()
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for key, value in settings.describe().items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
