"""The qdrant-client connection a ServerStore talks through: a server at an http(s) URL, or qdrant-client's
local mode (":memory:" or "local:DIR"), which runs the server code path in tests without a server.

Kept apart from server.py (collection lifecycle, reads and writes).
"""

from __future__ import annotations

import logging
import math
import warnings
from urllib.parse import urlparse

from qdrant_client import QdrantClient

from fashion_search.settings import LOCAL_HOSTS
from fashion_search.store.base import StoreError

log = logging.getLogger(__name__)


def connect(location: str, api_key: str | None, timeout_s: float, request_timeout_s: float) -> QdrantClient:
    """A client for `location`; for a server, only once it has answered (and accepted the key)."""
    if location == ":memory:":
        return QdrantClient(location=":memory:")
    if location.startswith("local:"):
        return QdrantClient(path=location[len("local:"):], force_disable_check_same_thread=True)
    # https:// turns TLS on. One cheap call with a short timeout proves the server answers (and the key is
    # accepted) within seconds; the working client then gets a timeout long enough for big upserts and
    # index builds. The version check is skipped: it would add a round trip and only warns.
    if api_key and location.startswith("http://") and urlparse(location).hostname not in LOCAL_HOSTS:
        log.warning("the API key travels unencrypted to %s; use an https:// URL", location)
    with warnings.catch_warnings():     # replaced by the warning above, which spares localhost
        warnings.filterwarnings("ignore", message="Api key is used with an insecure connection")
        probe = QdrantClient(url=location, api_key=api_key, timeout=max(1, math.ceil(timeout_s)),
                             check_compatibility=False)
        client = QdrantClient(url=location, api_key=api_key, check_compatibility=False,
                              timeout=max(1, math.ceil(max(timeout_s, request_timeout_s))))
    try:
        probe.get_collections()
    except Exception as err:
        client.close()
        raise StoreError(f"cannot reach the Qdrant server at {location}: {err}. Start it with "
                         "`docker compose up -d qdrant`, or fix QDRANT_URL / QDRANT_API_KEY "
                         "(unset QDRANT_URL to use the embedded store)") from err
    finally:
        probe.close()
    return client
