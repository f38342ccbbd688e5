"""Find a catalog to work on: the one asked for, one already on disk, a download, or the synthetic one.

`make demo`, `make train` and `make data` all go through `resolve_catalog`, so they agree on which
catalog a bare `make` command uses. The order is the one a person would want on a fresh machine:

  1. DATA given          -> that path (an error if it does not exist; never a silent fallback)
  2. already downloaded  -> data/fashion-product-images-small, then ../shared/data/fashion-product-images-small
  3. hub reachable       -> download ashraq/fashion-product-images-small into data/ (`make data`)
  4. otherwise           -> write the synthetic catalog into data/synthetic-<N> and say so

CLI: python -m fashion_search.catalog.datasets resolve [--data PATH] [--synthetic-n N]   (prints the path)
     python -m fashion_search.catalog.datasets download [--out DIR]
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from fashion_search.cli import option, parse_command

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
HF_DATASET = "ashraq/fashion-product-images-small"
DOWNLOAD_DIR = REPO_ROOT / "data" / "fashion-product-images-small"
SHARED_DIR = REPO_ROOT.parent / "shared" / "data" / "fashion-product-images-small"
DEFAULT_SYNTHETIC_N = 10_000


class DatasetError(RuntimeError):
    """No usable catalog; the message says what to do."""


@dataclass(frozen=True)
class ResolvedCatalog:
    path: Path
    source: str  # "given" | "downloaded" | "shared" | "download" | "synthetic"

    def describe(self) -> str:
        return {
            "given": f"using the catalog you gave: {self.path}",
            "downloaded": f"using the downloaded catalog {self.path}",
            "shared": f"using the shared real catalog {self.path}",
            "download": f"downloaded {HF_DATASET} into {self.path}",
            "synthetic": f"no real catalog on disk and the hub is unreachable: using the SYNTHETIC catalog {self.path}"
            " (procedurally drawn products; run `make data` on a machine with internet for the real one)",
        }[self.source]


def _has_parquet(path: Path) -> bool:
    return path.is_dir() and any(path.rglob("*.parquet"))


def download(out_dir: Path = DOWNLOAD_DIR) -> Path:
    """Download the Hugging Face parquet mirror (~40 MB). Raises DatasetError when offline."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        raise DatasetError(f"HF_HUB_OFFLINE is set: cannot download {HF_DATASET}. Unset it, or pass DATA=/path/to/catalog")
    from fashion_search.model.clip import _hub_reachable  # lazy: models imports torch, which `resolve` never needs

    if not _hub_reachable():
        raise DatasetError(
            f"cannot reach the Hugging Face hub to download {HF_DATASET}. On a machine with internet run `make data` "
            f"and copy {out_dir} here, or pass DATA=/path/to/catalog (Kaggle styles.csv+images/ or parquet)"
        )
    from huggingface_hub import snapshot_download

    log.info("downloading %s into %s", HF_DATASET, out_dir)
    snapshot_download(repo_id=HF_DATASET, repo_type="dataset", local_dir=str(out_dir),
                      allow_patterns=["data/*.parquet", "README.md"])
    if not _has_parquet(out_dir):
        raise DatasetError(f"download of {HF_DATASET} finished but {out_dir} holds no parquet file")
    return out_dir


def resolve_catalog(data: str | None = None, synthetic_n: int = DEFAULT_SYNTHETIC_N,
                    allow_download: bool = True, data_root: Path = REPO_ROOT / "data") -> ResolvedCatalog:
    if data:
        path = Path(data).expanduser()
        if not path.exists():
            raise DatasetError(f"DATA={data} does not exist. Point it at a Kaggle layout (styles.csv + images/) "
                               "or a parquet mirror, or leave it empty to use what is on disk")
        return ResolvedCatalog(path.resolve(), "given")
    downloaded = data_root / DOWNLOAD_DIR.name
    for path, source in ((downloaded, "downloaded"), (SHARED_DIR, "shared")):
        if _has_parquet(path):
            return ResolvedCatalog(path.resolve(), source)
    if allow_download:
        try:
            return ResolvedCatalog(download(downloaded).resolve(), "download")
        except DatasetError as exc:
            log.info("%s", exc)
    from fashion_search.catalog.synthetic.generate import write_synthetic_catalog

    out = data_root / f"synthetic-{synthetic_n}"
    if not (out / "styles.csv").is_file():
        write_synthetic_catalog(out, n=synthetic_n, seed=0)
    return ResolvedCatalog(out.resolve(), "synthetic")


@dataclass
class ResolveConfig:
    data: str | None = option(None, "an explicit catalog path (wins over everything)")
    synthetic_n: int = option(DEFAULT_SYNTHETIC_N, "size of the synthetic fallback")
    no_download: bool = option(False, "never try the hub")


@dataclass
class DownloadConfig:
    out: str = option(str(DOWNLOAD_DIR), "directory the parquet files are written to")


def main(argv=None) -> int:
    command, config = parse_command(
        {"resolve": (ResolveConfig, "print the catalog path a bare `make` command would use"),
         "download": (DownloadConfig, f"download {HF_DATASET}")},
        argv, prog="python -m fashion_search.catalog.datasets", description=__doc__.split("\n")[0])
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        if command == "download":
            print(download(Path(config.out)))
            return 0
        resolved = resolve_catalog(config.data or None, config.synthetic_n, allow_download=not config.no_download)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("%s", resolved.describe())
    print(resolved.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
