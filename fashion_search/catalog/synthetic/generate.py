"""A procedurally drawn fashion catalog of any size (1 .. 1,000,000), in the Kaggle layout.

Writes `styles.csv` (the exact Kaggle header) and `images/<id>.jpg`. Product i (0-based) has id i+1
and is derived from (seed, i) alone, so the same seed gives byte-identical output and the first k
products of any bigger catalog equal a catalog of k. Colour and silhouette dominate each picture so
a small CLIP can learn them; the name ("Roadster Men Navy Blue Striped Casual Shirt") always agrees
with the picture because the pattern is read back from the name when drawing.

CLI: python -m fashion_search.catalog.synthetic OUT_DIR --n N --seed S [--workers W] [--metadata-only]
"""

from __future__ import annotations

import csv
import io
import json
import logging
import multiprocessing
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from PIL import Image
from tqdm import tqdm

from fashion_search.catalog.synthetic.draw import PATTERN_WORDS, SILHOUETTES, draw_product
from fashion_search.catalog.synthetic.specs import (  # ARTICLE_TYPES and COLOUR_RGB are public here too
    ARTICLE_TYPES,
    COLOUR_RGB,
    COLOUR_WEIGHTS,
    SEASON_WEIGHTS,
    USAGE_WEIGHTS,
    YEAR_WEIGHTS,
)
from fashion_search.cli import parse_dataclass

log = logging.getLogger(__name__)

STYLES_HEADER = ("id", "gender", "masterCategory", "subCategory", "articleType", "baseColour",
                 "season", "year", "usage", "productDisplayName")
MAX_PRODUCTS = 1_000_000
MARKER_FILE = "synthetic.json"  # marks a directory this module may safely rewrite
JPEG_QUALITY = 90
_CHUNK = 500  # products per worker task

assert set(ARTICLE_TYPES) == set(SILHOUETTES), "every article type needs a silhouette"


def _pick(rng: random.Random, weights: dict) -> object:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def synthetic_product(index: int, seed: int = 0) -> dict:
    """Metadata of product `index` (0-based) of the catalog drawn with `seed`; keys = STYLES_HEADER."""
    rng = random.Random(f"fashion_search.synthetic/{seed}/{index}")
    article_type = _pick(rng, {t: s.weight for t, s in ARTICLE_TYPES.items()})
    spec = ARTICLE_TYPES[article_type]
    gender = _pick(rng, spec.genders)
    colour = _pick(rng, spec.colours or COLOUR_WEIGHTS)
    usage = _pick(rng, USAGE_WEIGHTS.get(article_type, {u: 1 for u in spec.usages}))
    qualifier = _pick(rng, spec.usages[usage])
    pattern = next((p for p, prob in spec.patterns.items() if rng.random() < prob), "")
    words = [rng.choice(spec.brands), gender, colour, pattern, qualifier, spec.word]
    return {
        "id": index + 1, "gender": gender, "masterCategory": spec.master, "subCategory": spec.sub,
        "articleType": article_type, "baseColour": colour, "season": _pick(rng, SEASON_WEIGHTS),
        "year": _pick(rng, YEAR_WEIGHTS), "usage": usage,
        "productDisplayName": " ".join(w for w in words if w),
    }


def iter_synthetic_products(n: int, seed: int = 0) -> Iterator[dict]:
    """Metadata dicts (keys = STYLES_HEADER) of products 0..n-1, without drawing any image."""
    _check_n(n)
    for index in range(n):
        yield synthetic_product(index, seed)


def render_product_image(meta: dict, seed: int = 0, image_size: tuple[int, int] = (60, 80)) -> Image.Image:
    """Draw the picture of one product from its metadata (needs id, articleType, baseColour, name).

    The pattern is read from the name ("Striped", "Check", "Printed"), so a row read back from
    styles.csv renders the same image as the dict it was written from.
    """
    missing = [k for k in ("id", "articleType", "baseColour") if meta.get(k) in (None, "")]
    if missing:
        raise ValueError(f"render_product_image needs {missing} in meta (pass a dict from "
                         f"iter_synthetic_products or a styles.csv row)")
    article_type, colour = meta["articleType"], meta["baseColour"]
    if article_type not in SILHOUETTES:
        raise ValueError(f"no synthetic silhouette for articleType {article_type!r}; "
                         f"known: {sorted(SILHOUETTES)}")
    if colour not in COLOUR_RGB:
        raise ValueError(f"no synthetic colour for baseColour {colour!r}; known: {sorted(COLOUR_RGB)}")
    name_words = str(meta.get("productDisplayName") or meta.get("name") or "").split()
    pattern = next((p for p in PATTERN_WORDS if p in name_words), None)
    rng = random.Random(f"fashion_search.synthetic/{seed}/{int(meta['id'])}/image")
    # Shade jitter that stays within the colour name; White only brightens, or it would sink
    # into the light background.
    brightness = rng.uniform(0.985, 1.02) if colour == "White" else rng.uniform(0.93, 1.07)
    fill = tuple(max(0, min(255, round(c * brightness + rng.uniform(-4, 4)))) for c in COLOUR_RGB[colour])
    grey = rng.uniform(218, 232)
    background = tuple(round(grey + rng.uniform(-3, 3)) for _ in range(3))
    return draw_product(article_type, fill, background, pattern, rng, tuple(image_size))


def encode_jpeg(image: Image.Image) -> bytes:
    """The exact bytes the writer stores: 4:4:4 chroma keeps colours clean at 60x80."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return buffer.getvalue()


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_PRODUCTS:
        raise ValueError(f"n must be an integer from 1 to {MAX_PRODUCTS:,}, got {n!r}; "
                         f"for store benchmarks beyond that, generate several catalogs with different seeds")


@dataclass
class SyntheticConfig:
    out_dir: Path = field(metadata={"help": "directory to write styles.csv and images/ into", "positional": True})
    n: int = field(default=1000, metadata={"help": f"number of products, 1..{MAX_PRODUCTS:,}"})
    seed: int = field(default=0, metadata={"help": "same seed and n -> byte-identical catalog"})
    workers: int = field(default=1, metadata={"help": "processes drawing images"})
    metadata_only: bool = field(default=False, metadata={"help": "write styles.csv only (empty images/)"})
    width: int = field(default=60, metadata={"help": "image width in pixels"})
    height: int = field(default=80, metadata={"help": "image height in pixels"})
    progress: bool = field(default=True, metadata={"help": "show a tqdm progress bar (--no-progress hides it)"})

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        _check_n(self.n)
        if not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if not 1 <= self.workers <= 256:
            raise ValueError(f"workers must be from 1 to 256, got {self.workers}")
        for name in ("width", "height"):
            if not 16 <= getattr(self, name) <= 2048:
                raise ValueError(f"{name} must be from 16 to 2048 pixels, got {getattr(self, name)}")

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.width, self.height)


def write_synthetic_catalog(out_dir, n: int, seed: int = 0, image_size=(60, 80), *, workers: int = 1,
                            metadata_only: bool = False, progress: bool = True) -> Path:
    """Write a Kaggle-layout catalog of n synthetic products into out_dir; returns out_dir.

    out_dir must be new, empty, or an earlier synthetic catalog (its files are replaced).
    """
    config = SyntheticConfig(out_dir=Path(out_dir), n=n, seed=seed, workers=workers,
                             metadata_only=metadata_only, width=image_size[0], height=image_size[1],
                             progress=progress)
    return write_catalog(config)


def write_catalog(config: SyntheticConfig) -> Path:
    started = time.perf_counter()
    out, images = config.out_dir, config.out_dir / "images"
    _prepare_out_dir(out)
    marker = {"generator": __name__, "n": config.n, "seed": config.seed,
              "image_size": list(config.image_size), "metadata_only": config.metadata_only}
    (out / MARKER_FILE).write_text(json.dumps({**marker, "complete": False}, indent=2) + "\n")
    images.mkdir(parents=True, exist_ok=True)
    draw_here = not config.metadata_only and config.workers == 1
    tmp_csv = out / "styles.csv.tmp"  # renamed at the end: a reader never sees half a catalog
    with open(tmp_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=STYLES_HEADER, lineterminator="\n")
        writer.writeheader()
        label = "products" if draw_here else "styles.csv rows"
        for meta in tqdm(iter_synthetic_products(config.n, config.seed), total=config.n,
                         desc=label, unit="row", disable=not config.progress, mininterval=1):
            writer.writerow(meta)
            if draw_here:
                _write_image(meta, config.seed, config.image_size, images)
    if not config.metadata_only and config.workers > 1:
        _draw_in_workers(config, images)
    tmp_csv.replace(out / "styles.csv")
    (out / MARKER_FILE).write_text(json.dumps({**marker, "complete": True}, indent=2) + "\n")
    log.info("wrote %d synthetic products (seed %d, %s) to %s in %.1f s", config.n, config.seed,
             "metadata only" if config.metadata_only else "%dx%d images" % config.image_size,
             out, time.perf_counter() - started)
    return out


def _write_image(meta: dict, seed: int, image_size, images: Path) -> None:
    image = render_product_image(meta, seed, image_size)
    (images / f"{meta['id']}.jpg").write_bytes(encode_jpeg(image))


def _draw_range(task: tuple[int, int, int, tuple[int, int], str]) -> int:
    start, stop, seed, image_size, images = task
    for index in range(start, stop):
        _write_image(synthetic_product(index, seed), seed, image_size, Path(images))
    return stop - start


def _draw_in_workers(config: SyntheticConfig, images: Path) -> None:
    tasks = [(start, min(start + _CHUNK, config.n), config.seed, config.image_size, str(images))
             for start in range(0, config.n, _CHUNK)]
    # spawn, not fork: the caller may hold threads (torch, tokenizers) that fork would copy broken.
    with multiprocessing.get_context("spawn").Pool(config.workers) as pool, \
            tqdm(total=config.n, desc="images", unit="img", disable=not config.progress) as bar:
        for done in pool.imap_unordered(_draw_range, tasks):
            bar.update(done)


def _prepare_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a directory; choose another OUT_DIR")
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return
    if not (out / MARKER_FILE).is_file():
        raise FileExistsError(f"{out} is not empty and is not a synthetic catalog (no {MARKER_FILE}); "
                              f"refusing to write into it: choose a new or empty OUT_DIR")
    # An earlier synthetic catalog: remove exactly what this module writes, nothing else.
    for name in ("styles.csv", "styles.csv.tmp"):
        (out / name).unlink(missing_ok=True)
    images = out / "images"
    if images.is_dir():
        stale = [p for p in images.iterdir() if p.suffix == ".jpg" and p.stem.isdigit()]
        for path in tqdm(stale, desc="removing old images", disable=len(stale) < 10_000):
            path.unlink()
    log.info("replacing the synthetic catalog in %s", out)


def _parse_args(argv) -> SyntheticConfig:
    return parse_dataclass(SyntheticConfig, argv, prog="python -m fashion_search.catalog.synthetic",
                           description=__doc__.split("\n")[0])


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = _parse_args(argv)
    try:
        write_catalog(config)
    except (FileExistsError, NotADirectoryError) as error:
        log.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
