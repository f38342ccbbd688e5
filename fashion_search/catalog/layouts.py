"""The two on-disk layouts of the Fashion Product Images catalog, behind one small interface.

Each layout yields raw records (where, fields, repaired) and serves image bytes by an opaque,
catalog-relative reference; `fashion_search.catalog.products` turns records into Product objects and keeps
the repair/drop report. Image references come back from store payloads and URLs, so both layouts
refuse any reference that does not name an image of *this* catalog.
"""

from __future__ import annotations

import csv
import os
import threading
from pathlib import Path, PurePosixPath
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq


class CatalogError(ValueError):
    """A catalog path or file that cannot be read; the message says what was expected."""


class ImageError(Exception):
    """An image that is missing, truncated or not an image at all."""


class KaggleLayout:
    name = "kaggle"
    COLUMNS = ("id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year", "usage",
               "productDisplayName")

    def __init__(self, root: Path):
        self.root = root
        self.csv_path = root / "styles.csv"
        if not (root / "images").is_dir():
            raise CatalogError(f"{root} has styles.csv but no images/ directory: the Kaggle layout needs both")

    def records(self, report) -> Iterator[tuple[str, dict, bool]]:
        with open(self.csv_path, newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle)
            header = [h.strip() for h in next(rows, [])]
            missing = [c for c in self.COLUMNS if c not in header]
            if missing or header[-1] != "productDisplayName":
                raise CatalogError(f"{self.csv_path}: header must hold {', '.join(self.COLUMNS)} with "
                                   f"productDisplayName last; missing {missing or 'none'}, got {header}")
            for row in rows:
                if not row:  # csv yields [] for a blank line: not a record, nothing to count
                    continue
                report.rows_read += 1
                where = f"styles.csv line {rows.line_num}"
                repaired = len(row) > len(header)
                if repaired:
                    # The name is the last column, so extra cells can only be pieces of an unquoted
                    # comma inside it: rejoin them instead of losing the product.
                    row = row[: len(header) - 1] + [",".join(row[len(header) - 1:])]
                elif len(row) < len(header):
                    report.note("dropped_malformed", f"{where}: {len(row)} fields, expected {len(header)}")
                    continue
                yield where, dict(zip(header, row)), repaired

    def image_ref(self, product_id: int, fields: dict) -> str:
        return f"images/{product_id}.jpg"

    def _safe_path(self, ref: str) -> Path:
        # Refs come from store payloads and URLs: only a plain path below images/ may be opened, so no
        # "..", absolute path or NUL can reach outside the catalog root.
        parts = PurePosixPath(ref).parts
        if "\x00" in ref or "\\" in ref or len(parts) < 2 or parts[0] != "images" or ".." in parts:
            raise ImageError(f"image reference {ref!r} is not a path below {self.root / 'images'}")
        return self.root.joinpath(*parts)

    def has_image(self, ref: str) -> bool:
        return (self.root / ref).is_file()

    def image_bytes(self, ref: str) -> bytes:
        path = self._safe_path(ref)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ImageError(f"image {ref!r} cannot be read under {self.root}: {exc.strerror or exc}") from exc


class ParquetLayout:
    name = "parquet"
    COLUMNS = ("id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage", "year",
               "productDisplayName", "image")

    def __init__(self, root: Path, files: list[Path]):
        self.root = root
        self.files = {f.relative_to(root).as_posix(): f for f in files}
        for path in self.files.values():
            names = pq.ParquetFile(path).schema_arrow.names
            missing = [c for c in self.COLUMNS if c not in names]
            if missing:
                raise CatalogError(f"{path}: missing columns {missing}; expected the Hugging Face "
                                   f"fashion-product-images schema ({', '.join(self.COLUMNS)})")
        self._image_columns: dict[str, pa.ChunkedArray] = {}
        self._lock, self._lock_pid = threading.Lock(), os.getpid()

    def __getstate__(self):  # spawned workers rebuild the lock and reload bytes lazily
        return {"root": self.root, "files": self.files}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._image_columns = {}
        self._lock, self._lock_pid = threading.Lock(), os.getpid()

    def records(self, report) -> Iterator[tuple[str, dict, bool]]:
        columns = [c for c in self.COLUMNS if c != "image"]
        for relname, path in self.files.items():
            row = 0
            for batch in pq.ParquetFile(path).iter_batches(columns=columns, batch_size=8192):
                for fields in batch.to_pylist():
                    report.rows_read += 1
                    fields["_ref"] = f"{relname}#{row}"
                    yield f"{relname} row {row}", fields, False
                    row += 1

    def image_ref(self, product_id: int, fields: dict) -> str:
        return fields["_ref"]

    def _images(self, relname: str) -> pa.ChunkedArray:
        """The file's image-bytes column, read once per process (36 MB for the small set)."""
        if self._lock_pid != os.getpid():  # a lock inherited through fork may be held by a dead thread
            self._lock, self._lock_pid = threading.Lock(), os.getpid()
        column = self._image_columns.get(relname)
        if column is None:
            with self._lock:
                column = self._image_columns.get(relname)
                if column is None:
                    parquet = pq.ParquetFile(self.files[relname])
                    chunks = []
                    for group in range(parquet.num_row_groups):  # one at a time: a third of the peak memory
                        chunk = parquet.read_row_group(group, columns=["image"]).column("image").combine_chunks()
                        chunks.append(chunk.field("bytes") if pa.types.is_struct(chunk.type) else chunk)
                    column = pa.chunked_array(chunks, type=chunks[0].type if chunks else pa.binary())
                    self._image_columns[relname] = column
        return column

    def _locate(self, ref: str) -> tuple[str, int]:
        relname, _, row = ref.rpartition("#")
        if relname not in self.files or not (row.isascii() and row.isdigit()):
            raise ImageError(f"image reference {ref!r} is not '<parquet file>#<row>' of this catalog {self.root}")
        return relname, int(row)

    def has_image(self, ref: str) -> bool:
        relname, row = self._locate(ref)
        images = self._images(relname)
        return row < len(images) and images[row].is_valid and len(images[row].as_py()) > 0

    def image_bytes(self, ref: str) -> bytes:
        relname, row = self._locate(ref)
        images = self._images(relname)
        data = images[row].as_py() if row < len(images) else None
        if not data:
            raise ImageError(f"no image bytes for {ref!r} in {self.files[relname]}")
        return data


def detect_layout(path: Path):
    expected = ("expected a Kaggle catalog directory (styles.csv + images/), a directory holding *.parquet "
                "files (or a data/ subdirectory of them), or a single .parquet file")
    if not path.exists():
        raise CatalogError(f"catalog path {path} does not exist; {expected}")
    if path.is_file():
        if path.suffix == ".parquet":
            return ParquetLayout(path.parent, [path])
        if path.name == "styles.csv":
            return KaggleLayout(path.parent)
        raise CatalogError(f"{path} is neither a .parquet file nor styles.csv; {expected}")
    if (path / "styles.csv").is_file():
        return KaggleLayout(path)
    for folder in (path, path / "data"):
        files = sorted(folder.glob("*.parquet"))
        if files:
            return ParquetLayout(path, files)
    raise CatalogError(f"{path} has no styles.csv and no *.parquet files (nor in data/); {expected}")
