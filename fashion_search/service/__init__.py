"""The search HTTP API (FastAPI): `python -m fashion_search.service` or `make serve`; see docs/service.md."""

from fashion_search.service.app import create_app
from fashion_search.service.config import (
    ServiceConfig,
    ServiceConfigError,
    parse_config,
)

__all__ = ["ServiceConfig", "ServiceConfigError", "create_app", "parse_config"]
