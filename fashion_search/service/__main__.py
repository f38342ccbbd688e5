"""`python -m fashion_search.service [flags]`: validate the config, then run the API under uvicorn.

With --workers N (Qdrant server only) uvicorn starts N processes, each building the app from the
validated config passed to it in FASHION_SERVICE_CONFIG.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict

import uvicorn

from fashion_search.model.clip import ModelLoadError
from fashion_search.service.app import create_app
from fashion_search.service.config import (
    ServiceConfig,
    ServiceConfigError,
    parse_config,
)
from fashion_search.service.resources import open_resources
from fashion_search.settings import SettingsError
from fashion_search.store import StoreError

CONFIG_VAR = "FASHION_SERVICE_CONFIG"


def app_from_env():
    """uvicorn factory for worker processes."""
    return create_app(ServiceConfig(**json.loads(os.environ[CONFIG_VAR])))


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = parse_config(argv)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    common = {"host": config.host, "port": config.port, "log_level": "info", "access_log": False,
              "timeout_graceful_shutdown": 10}
    if config.workers > 1:
        os.environ[CONFIG_VAR] = json.dumps(asdict(config))
        uvicorn.run("fashion_search.service.__main__:app_from_env", factory=True, workers=config.workers, **common)
        return 0
    try:  # opened before uvicorn starts, so a bad store or model is one clear line, not a start-up traceback
        resources = open_resources(config)
    except (StoreError, ModelLoadError, ServiceConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        uvicorn.run(create_app(config, resources), **common)
    finally:
        resources.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
