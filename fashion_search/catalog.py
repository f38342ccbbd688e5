"""Read the Fashion Product Images catalog in either public layout and report what was repaired or dropped.

Layouts (detected by `open_catalog`):
  kaggle   ROOT/styles.csv + ROOT/images/<id>.jpg; image_ref "images/<id>.jpg"
  parquet  one or more *.parquet with an `image` struct {bytes, path} (the Hugging Face mirror); accepted as
           the directory, its data/ subdirectory or a single file; image_ref "<file relative to root>#<row>"

`Catalog.products()` streams Product records without decoding images; the repair/drop counts of the last
complete pass are in `Catalog.report`.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import os
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

logger = logging.getLogger(__name__)

KEYWORD_FIELDS = ("gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage")
METADATA_FIELDS = KEYWORD_FIELDS + ("year", "name")  # name = productDisplayName
# Exports through pandas write missing cells as these words; they are never real attribute values.
_MISSING_WORDS = frozenset({"nan", "none", "null"})

@dataclass(frozen=True)
class Product:
    id: int
    gender: str | None
    masterCategory: str | None
    subCategory: str | None
    articleType: str | None
    baseColour: str | None
    season: str | None
    usage: str | None
    year: int | None
    name: str | None  # productDisplayName
    image_ref: str  # catalog-relative and opaque to callers; resolve it with Catalog.load_image

    def metadata(self) -> dict:
        return {f: getattr(self, f) for f in METADATA_FIELDS}


class ImageError(Exception):
    """An image that is missing, truncated or not an image at all."""


@dataclass
class CatalogReport:
    """What one full pass over the catalog read, repaired and dropped.

    missing_values counts empty fields over the rows that parsed (before image checks), so the numbers
    describe the metadata file itself, whether or not the images are present.
    """

    layout: str = ""
    rows_read: int = 0
    products: int = 0  # kept
    repaired_rows: int = 0
    missing_values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METADATA_FIELDS, 0))
    dropped_missing_image: int = 0
    dropped_bad_image: int = 0
    dropped_duplicate_id: int = 0
    dropped_malformed: int = 0
    repaired_ids: list[int] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)  # a few examples per kind of drop

    MAX_EXAMPLES = 5

    def note(self, kind: str, example: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        examples = self.examples.setdefault(kind, [])
        if len(examples) < self.MAX_EXAMPLES:
            examples.append(example)

    @property
    def dropped(self) -> int:
        return (self.dropped_missing_image + self.dropped_bad_image + self.dropped_duplicate_id
                + self.dropped_malformed)

    def summary(self) -> str:
        missing = ", ".join(f"{k}={v}" for k, v in self.missing_values.items() if v) or "none"
        lines = [
            f"{self.layout} catalog: {self.rows_read} rows read, {self.products} products kept, "
            f"{self.repaired_rows} rows repaired, {self.dropped} dropped",
            f"  dropped: missing image={self.dropped_missing_image}, bad image={self.dropped_bad_image}, "
            f"duplicate id={self.dropped_duplicate_id}, malformed={self.dropped_malformed}",
            f"  missing values: {missing}",
        ]
        lines += [f"  e.g. {kind}: {'; '.join(ex)}" for kind, ex in self.examples.items()]
        return "\n".join(lines)


class CatalogError(ValueError):
    """A catalog path or file that cannot be read; the message says what was expected."""


class Malformed(ValueError):
    """A row that cannot be repaired (e.g. non-integer id); dropped and counted."""


class KaggleLayout:
    name = "kaggle"
    COLUMNS = ("id",) + KEYWORD_FIELDS[:6] + ("year", "usage", "productDisplayName")

    def __init__(self, root: Path):
        self.root = root
        self.csv_path = root / "styles.csv"
        if not (root / "images").is_dir():
            raise CatalogError(f"{root} has styles.csv but no images/ directory: the Kaggle layout needs both")

    def records(self, report: CatalogReport) -> Iterator[tuple[str, dict, bool]]:
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
    COLUMNS = ("id",) + KEYWORD_FIELDS + ("year", "productDisplayName", "image")

    def __init__(self, root: Path, files: list[Path]):
        self.root = root
        self.files = {f.relative_to(root).as_posix(): f for f in files}
        for relname, path in self.files.items():
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

    def records(self, report: CatalogReport) -> Iterator[tuple[str, dict, bool]]:
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


def _clean_text(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = " ".join(str(value).split())  # also collapses the stray spaces left by repaired commas
    return None if not text or text.lower() in _MISSING_WORDS else text


def _parse_int(value, what: str, allow_missing: bool) -> int | None:
    """Integers may arrive as int, integral float (parquet year 2012.0) or text ("2012", "2012.0")."""
    text = _clean_text(value)
    if text is None:
        if allow_missing:
            return None
        raise Malformed(f"empty {what}")
    try:
        number = float(text)
    except ValueError:
        raise Malformed(f"{what} {text!r} is not a number") from None
    if not number.is_integer():
        raise Malformed(f"{what} {text!r} is not an integer")
    return int(number)


def product_from_fields(fields: dict, image_ref_for_id) -> Product:
    """Raw layout fields (Kaggle column names) -> Product; raises Malformed when it cannot be repaired."""
    product_id = _parse_int(fields.get("id"), "id", allow_missing=False)
    return Product(
        id=product_id,
        **{f: _clean_text(fields.get(f)) for f in KEYWORD_FIELDS},
        year=_parse_int(fields.get("year"), "year", allow_missing=True),
        name=_clean_text(fields.get("productDisplayName")),
        image_ref=image_ref_for_id(product_id, fields),
    )


class Catalog:
    """A product catalog on disk. Safe to share with forked or spawned DataLoader/ingest workers."""

    def __init__(self, path, verify_images: bool = False):
        self.verify_images = verify_images
        self._layout = _detect_layout(Path(path))
        self.root: Path = self._layout.root
        self.layout: str = self._layout.name
        self._report: CatalogReport | None = None

    def __repr__(self) -> str:
        return f"Catalog(root={str(self.root)!r}, layout={self.layout!r}, verify_images={self.verify_images})"

    @property
    def report(self) -> CatalogReport:
        """Counts of the last complete pass; runs one first if none has finished yet."""
        if self._report is None:
            for _ in self.products():
                pass
        return self._report

    def products(self) -> Iterator[Product]:
        report = CatalogReport(layout=self.layout)
        seen_ids: set[int] = set()
        for where, fields, repaired in self._layout.records(report):
            try:
                product = product_from_fields(fields, self._layout.image_ref)
            except Malformed as exc:
                report.note("dropped_malformed", f"{where}: {exc}")
                continue
            if product.id in seen_ids:
                report.note("dropped_duplicate_id", f"{where}: id {product.id}")
                continue
            seen_ids.add(product.id)
            if repaired:
                report.repaired_rows += 1
                report.repaired_ids.append(product.id)
            for f in METADATA_FIELDS:
                report.missing_values[f] += getattr(product, f) is None
            if not self._layout.has_image(product.image_ref):
                report.note("dropped_missing_image", f"{where}: {product.image_ref}")
                continue
            if self.verify_images:
                try:
                    self.load_image(product)
                except ImageError as exc:
                    report.note("dropped_bad_image", f"{where}: {exc}")
                    continue
            report.products += 1
            yield product
        self._report = report
        log = logger.warning if report.dropped else logger.info
        log("%s", report.summary())

    def image_bytes(self, product_or_ref) -> bytes:
        ref = product_or_ref.image_ref if isinstance(product_or_ref, Product) else product_or_ref
        if not isinstance(ref, str) or not ref:
            raise ImageError(f"image reference must be a non-empty string, got {ref!r}")
        return self._layout.image_bytes(ref)

    def load_image(self, product_or_ref) -> Image.Image:
        data = self.image_bytes(product_or_ref)
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.convert("RGB")  # convert() forces the full decode, so truncation shows here
        except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... for broken files
            raise ImageError(f"cannot decode image {product_or_ref!r}: {exc}") from exc


def _detect_layout(path: Path):
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


def open_catalog(path, verify_images: bool = False) -> Catalog:
    return Catalog(path, verify_images=verify_images)


# ---------------------------------------------------------------- CLI: python -m fashion_search.catalog stats PATH
@dataclass
class StatsConfig:
    path: Path
    top: int = 8
    verify_images: bool = False

    def __post_init__(self):
        self.path = Path(self.path)
        if not self.path.exists():
            raise SystemExit(f"catalog path {self.path} does not exist: pass a Kaggle directory or parquet path")
        if self.top < 1:
            raise SystemExit(f"--top must be >= 1 (got {self.top})")


def _parse_args(argv) -> StatsConfig:
    parser = argparse.ArgumentParser(prog="python -m fashion_search.catalog", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stats = commands.add_parser("stats", help="counts per field and the repair/drop report")
    stats.add_argument("path", help="Kaggle dir (styles.csv + images/), parquet dir or .parquet file")
    stats.add_argument("--top", type=int, default=StatsConfig.top, help="top values shown per field")
    stats.add_argument("--verify-images", action="store_true", help="decode every image; drop and count bad ones")
    args = parser.parse_args(argv)
    return StatsConfig(path=args.path, top=args.top, verify_images=args.verify_images)


def format_stats(catalog: Catalog, top: int) -> str:
    counts = {f: Counter() for f in METADATA_FIELDS}
    for product in catalog.products():
        for f, value in product.metadata().items():
            if value is not None:
                counts[f][value] += 1
    lines = [f"{catalog!r}", ""]
    for f in METADATA_FIELDS:
        shown = ", ".join(f"{value} ({n})" for value, n in counts[f].most_common(top))
        lines.append(f"{f}: {len(counts[f])} distinct, {catalog.report.missing_values[f]} missing | {shown}")
    return "\n".join(lines + ["", catalog.report.summary()])


def main(argv=None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    config = _parse_args(argv)
    try:
        catalog = open_catalog(config.path, verify_images=config.verify_images)
    except CatalogError as exc:
        raise SystemExit(str(exc)) from None
    sys.stdout.write(format_stats(catalog, config.top) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
