"""Shared fixtures. Tests never touch the network: the model hub is off for the whole session."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FASHION_SHARED_DATA", REPO.parent / "shared" / "data"))
REAL_PARQUET_DIR = SHARED_DATA / "fashion-product-images-small"
REAL_STYLES_CSV = SHARED_DATA / "kaggle-styles-raw.csv"


@pytest.fixture(scope="session")
def real_parquet_dir() -> Path:
    if not any(REAL_PARQUET_DIR.rglob("*.parquet")):
        pytest.skip(f"real catalog not found at {REAL_PARQUET_DIR} (set FASHION_SHARED_DATA)")
    return REAL_PARQUET_DIR


@pytest.fixture(scope="session")
def real_styles_csv() -> Path:
    if not REAL_STYLES_CSV.is_file():
        pytest.skip(f"real styles.csv not found at {REAL_STYLES_CSV} (set FASHION_SHARED_DATA)")
    return REAL_STYLES_CSV
