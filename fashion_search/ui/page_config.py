"""The search page's configuration: flags after `--` override the environment, validated up front.

    streamlit run search_ui/app.py -- [--store S] [--collection C] [--model M] [--catalog DIR]
                                      [--text-encoder torch|onnx|onnx-int8]
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from fashion_search.cli import ConfigError, add_dataclass_arguments, option
from fashion_search.model.query_encoder import TEXT_ENCODER_HELP, TEXT_ENCODERS
from fashion_search.settings import load_settings

# The page script whose own flags come after `--` (streamlit run search_ui/app.py -- ...).
APP = Path(__file__).resolve().parents[2] / "search_ui" / "app.py"


class PageConfigError(ConfigError):
    """A page flag or variable that cannot work; the message names the fix."""


@dataclass(frozen=True)
class PageConfig:
    store: str = option(None, "Edge store directory or http(s)://HOST:PORT (default: QDRANT_URL or QDRANT_PATH)")
    collection: str = option(None, "collection name (default: QDRANT_COLLECTION, else products)")
    model: str | None = option(None, "CLIP model dir or hub id (default: FASHION_MODEL, else the collection's model)")
    catalog: str | None = option(None, "catalog root to show images from (default: FASHION_CATALOG)")
    text_encoder: str | None = option(None, TEXT_ENCODER_HELP + " Default: FASHION_TEXT_ENCODER, else torch.")

    def __post_init__(self):
        object.__setattr__(self, "text_encoder", self.text_encoder or "torch")  # frozen: normalise once here
        if self.text_encoder not in TEXT_ENCODERS:
            raise PageConfigError(f"text encoder {self.text_encoder!r} (--text-encoder or FASHION_TEXT_ENCODER): "
                                  f"choose one of {', '.join(TEXT_ENCODERS)}")
        if self.catalog and not Path(self.catalog).exists():
            raise PageConfigError(f"catalog {self.catalog} does not exist; pass --catalog (or FASHION_CATALOG) "
                                  "pointing at the catalog the collection was ingested from")


def parse_config(argv: list[str]) -> PageConfig:
    """Flags win over the environment (QDRANT_* via settings, FASHION_MODEL, FASHION_CATALOG)."""
    settings = load_settings()
    parser = add_dataclass_arguments(argparse.ArgumentParser(
        prog="streamlit run search_ui/app.py --", description="Fashion search page", allow_abbrev=False), PageConfig)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits on bad flags; the page shows why instead
        raise PageConfigError(f"bad page arguments {argv} (usage printed in the server log): "
                              "streamlit run search_ui/app.py -- [--store S] [--collection C] "
                              "[--model M] [--catalog DIR] [--text-encoder torch|onnx|onnx-int8]") from exit_
    return PageConfig(store=args.store or settings.location, collection=args.collection or settings.collection,
                      model=args.model or os.environ.get("FASHION_MODEL") or None,
                      catalog=args.catalog or os.environ.get("FASHION_CATALOG") or None,
                      text_encoder=args.text_encoder or os.environ.get("FASHION_TEXT_ENCODER") or "torch")


def script_argv() -> list[str]:
    # Only `streamlit run search_ui/app.py -- ARGS` hands this page its flags; under AppTest or
    # any other host sys.argv belongs to someone else.
    is_this_script = sys.argv and Path(sys.argv[0]).resolve() == APP.resolve()
    return sys.argv[1:] if is_this_script else []
