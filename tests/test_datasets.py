"""Catalog resolution: DATA wins, then a catalog on disk, then the synthetic fallback (no hub in tests)."""

import pytest

from fashion_search.catalog import datasets
from fashion_search.catalog.products import open_catalog


def test_given_path_wins_and_missing_path_names_the_fix(tmp_path):
    assert datasets.resolve_catalog(str(tmp_path)).path == tmp_path.resolve()
    with pytest.raises(datasets.DatasetError, match="DATA=.*does not exist"):
        datasets.resolve_catalog(str(tmp_path / "nope"))


def test_downloaded_catalog_preferred_over_shared(tmp_path, monkeypatch):
    downloaded = tmp_path / "data" / datasets.DOWNLOAD_DIR.name / "data"
    downloaded.mkdir(parents=True)
    (downloaded / "train.parquet").write_bytes(b"")
    monkeypatch.setattr(datasets, "SHARED_DIR", tmp_path / "shared-missing")
    resolved = datasets.resolve_catalog(None, allow_download=False, data_root=tmp_path / "data")
    assert (resolved.source, resolved.path) == ("downloaded", downloaded.parent.resolve())


def test_synthetic_fallback_when_nothing_on_disk_and_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "SHARED_DIR", tmp_path / "shared-missing")
    resolved = datasets.resolve_catalog(None, synthetic_n=12, allow_download=False, data_root=tmp_path)
    assert resolved.source == "synthetic" and "SYNTHETIC" in resolved.describe()
    assert len(list(open_catalog(resolved.path).products())) == 12
    # A second resolve reuses the catalog instead of rewriting it.
    mtime = (resolved.path / "styles.csv").stat().st_mtime_ns
    again = datasets.resolve_catalog(None, synthetic_n=12, allow_download=False, data_root=tmp_path)
    assert again.path == resolved.path and (resolved.path / "styles.csv").stat().st_mtime_ns == mtime


def test_download_refuses_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(datasets.DatasetError, match="HF_HUB_OFFLINE"):
        datasets.download(tmp_path)
