"""Train the photo tagger: detail words ("striped", "polo", "chronograph") read off product photos.

    python train/train_tagger.py --catalog ../shared/data/fashion-product-images-small \
        --splits runs/small/splits.json --output-dir runs/tagger        # or: make tagger
    python train/train_tagger.py ... --resume latest                    # go on with a killed run
    python ingest/ingest.py ... --tagger runs/tagger                    # store each product's photo tags

All the work lives in fashion_search.tagging.training; `--help` lists every flag. docs/tagging.md.
"""

import logging
import sys

from fashion_search.catalog.products import CatalogError
from fashion_search.catalog.splits import SplitsError
from fashion_search.cli import ConfigError
from fashion_search.tagging.training import parse_config, train_tagger

if __name__ == "__main__":
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    try:
        train_tagger(parse_config())
    except (ConfigError, CatalogError, SplitsError) as error:
        sys.exit(f"error: {error}")  # the message names the fix; a traceback would bury it
