"""Read the Fashion Product Images catalog in either public layout and report what was repaired or dropped.

Layouts (detected by `open_catalog`):
  kaggle   ROOT/styles.csv + ROOT/images/<id>.jpg; image_ref "images/<id>.jpg"
  parquet  one or more *.parquet with an `image` struct {bytes, path} (the Hugging Face mirror); accepted as
           the directory, its data/ subdirectory or a single file; image_ref "<file relative to root>#<row>"

`Catalog.products()` streams Product records without decoding images; the repair/drop counts of the last
complete pass are in `Catalog.report`.
"""

from __future__ import annotations

import io
import logging
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from PIL import Image

from fashion_search.catalog.layouts import CatalogError, ImageError, detect_layout  # noqa: F401  (re-exported)
from fashion_search.cli import ConfigError, option, parse_command

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


class Malformed(ValueError):
    """A row that cannot be repaired (e.g. non-integer id); dropped and counted."""


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
        self._layout = detect_layout(Path(path))
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


def open_catalog(path, verify_images: bool = False) -> Catalog:
    return Catalog(path, verify_images=verify_images)


# ---------------------------------------------------------------- CLI: python -m fashion_search.catalog stats PATH
@dataclass
class StatsConfig:
    path: str = option(None, "Kaggle dir (styles.csv + images/), parquet dir or .parquet file", positional=True)
    top: int = option(8, "top values shown per field")
    verify_images: bool = option(False, "decode every image; drop and count bad ones")

    def __post_init__(self):
        self.path = Path(self.path)
        if not self.path.exists():
            raise ConfigError(f"catalog path {self.path} does not exist: pass a Kaggle directory or parquet path")
        if self.top < 1:
            raise ConfigError(f"--top must be >= 1 (got {self.top})")


def _parse_args(argv) -> StatsConfig:
    _, config = parse_command({"stats": (StatsConfig, "counts per field and the repair/drop report")}, argv,
                              prog="python -m fashion_search.catalog", description=__doc__.split("\n")[0])
    return config


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
