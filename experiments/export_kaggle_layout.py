"""Write a catalog in the Kaggle layout (styles.csv + images/<id>.jpg) from any catalog, e.g. the parquet
mirror: product-id file names keep image references stable when rows are added or removed, which
the sync measurement (docs/sync.md) needs to mutate 1% of a real catalog.

    python experiments/export_kaggle_layout.py SRC DST
"""

import csv
import sys
from pathlib import Path

from fashion_search.catalog.products import open_catalog

HEADER = ["id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year", "usage",
          "productDisplayName"]


def export(src: str, dst: str) -> int:
    catalog, out = open_catalog(src), Path(dst)
    (out / "images").mkdir(parents=True, exist_ok=True)
    n = 0
    with open(out / "styles.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for product in catalog.products():
            meta = product.metadata()
            writer.writerow([product.id] + [meta[k] if meta[k] is not None else "" for k in HEADER[1:-1]]
                            + [meta["name"] or ""])
            (out / "images" / f"{product.id}.jpg").write_bytes(catalog.image_bytes(product))
            n += 1
    return n


if __name__ == "__main__":
    print(export(sys.argv[1], sys.argv[2]), "products written")
