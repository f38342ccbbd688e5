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

from fashion_search.model.query_encoder import TEXT_ENCODER_HELP, TEXT_ENCODERS
from fashion_search.settings import load_settings

# The page script whose own flags come after `--` (streamlit run search_ui/app.py -- ...).
APP = Path(__file__).resolve().parents[2] / "search_ui" / "app.py"


class PageConfigError(ValueError):
    """A page flag or variable that cannot work; the message names the fix."""


@dataclass(frozen=True)
class PageConfig:
    store: str  # Edge directory or http(s) URL of a Qdrant server
    collection: str
    model: str | None  # None: the model recorded in the collection
    catalog: str | None  # catalog root images may be read from (besides the collection's own)
    text_encoder: str = "torch"  # model.query_encoder.TEXT_ENCODERS

    def __post_init__(self):
        if self.text_encoder not in TEXT_ENCODERS:
            raise PageConfigError(f"text encoder {self.text_encoder!r} (--text-encoder or FASHION_TEXT_ENCODER): "
                                  f"choose one of {', '.join(TEXT_ENCODERS)}")
        if self.catalog and not Path(self.catalog).exists():
            raise PageConfigError(f"catalog {self.catalog} does not exist; pass --catalog (or FASHION_CATALOG) "
                                  "pointing at the catalog the collection was ingested from")


def parse_config(argv: list[str]) -> PageConfig:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="streamlit run search_ui/app.py --", description="Fashion search page",
                                     allow_abbrev=False)
    parser.add_argument("--store", default=settings.location,
                        help="Edge store directory or http(s)://HOST:PORT (default: QDRANT_URL or QDRANT_PATH)")
    parser.add_argument("--collection", default=settings.collection, help="collection name")
    parser.add_argument("--model", default=os.environ.get("FASHION_MODEL") or None,
                        help="CLIP model dir or hub id (default: FASHION_MODEL, else the collection's model)")
    parser.add_argument("--catalog", default=os.environ.get("FASHION_CATALOG") or None,
                        help="catalog root to show images from (default: FASHION_CATALOG)")
    parser.add_argument("--text-encoder", default=os.environ.get("FASHION_TEXT_ENCODER") or "torch",
                        help=TEXT_ENCODER_HELP + " Default: FASHION_TEXT_ENCODER, else torch.")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits on bad flags; the page shows why instead
        raise PageConfigError(f"bad page arguments {argv} (usage printed in the server log): "
                              "streamlit run search_ui/app.py -- [--store S] [--collection C] "
                              "[--model M] [--catalog DIR] [--text-encoder torch|onnx|onnx-int8]") from exit_
    return PageConfig(store=args.store, collection=args.collection, model=args.model, catalog=args.catalog,
                      text_encoder=args.text_encoder)


def script_argv() -> list[str]:
    # Only `streamlit run search_ui/app.py -- ARGS` hands this page its flags; under AppTest or
    # any other host sys.argv belongs to someone else.
    is_this_script = sys.argv and Path(sys.argv[0]).resolve() == APP.resolve()
    return sys.argv[1:] if is_this_script else []
