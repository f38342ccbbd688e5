"""QDRANT_* environment settings: defaults, parsing, and errors that name the variable."""

import pytest

from fashion_search.settings import Settings, SettingsError, load_settings, main
from fashion_search.store import StoreError, open_store, open_store_from_settings


def test_defaults_and_server_settings(tmp_path):
    assert load_settings({}) == Settings()
    assert load_settings({}).location == ".qdrant"
    s = load_settings({"QDRANT_URL": "https://q.example:6333", "QDRANT_API_KEY": "s3cret-key", "QDRANT_SHARD_NUMBER": "3",
                       "QDRANT_REPLICATION_FACTOR": "2", "QDRANT_COLLECTION": "demo"})
    assert (s.location, s.shard_number, s.replication_factor, s.collection) == ("https://q.example:6333", 3, 2, "demo")
    assert s.qdrant_api_key == "s3cret-key" and "s3cret-key" not in str(s.describe())
    store = open_store_from_settings(load_settings({"QDRANT_PATH": str(tmp_path), "QDRANT_COLLECTION": "demo"}))
    store.ensure_collection(4)
    assert (tmp_path / "demo" / "fashion_search.json").is_file()
    store.close()


@pytest.mark.parametrize("env, var", [
    ({"QDRANT_URL": "localhost:6333"}, "QDRANT_URL"),                  # no scheme
    ({"QDRANT_COLLECTION": "a/b"}, "QDRANT_COLLECTION"),               # would escape the store directory
    ({"QDRANT_SHARD_NUMBER": "3"}, "QDRANT_SHARD_NUMBER"),             # cluster setting without a server
    ({"QDRANT_URL": "http://h", "QDRANT_SHARD_NUMBER": "three"}, "QDRANT_SHARD_NUMBER"),
    ({"QDRANT_URL": "http://h", "QDRANT_REPLICATION_FACTOR": "0"}, "QDRANT_REPLICATION_FACTOR"),
    ({"QDRANT_TIMEOUT": "soon"}, "QDRANT_TIMEOUT"),
    ({"QDRANT_TIMEOUT": "0"}, "QDRANT_TIMEOUT"),
])
def test_bad_variables_fail_naming_the_variable(env, var):
    with pytest.raises(SettingsError, match=var):
        load_settings(env)


def test_empty_values_count_as_unset():
    assert load_settings({"QDRANT_URL": " ", "QDRANT_COLLECTION": "", "QDRANT_SHARD_NUMBER": ""}) == Settings()


def test_open_store_rejects_collection_names_that_escape_the_directory(tmp_path):
    with pytest.raises(StoreError, match="collection name"):
        open_store(tmp_path, "../elsewhere")


def test_cli_prints_resolved_settings_without_the_key(monkeypatch, capsys):
    monkeypatch.setenv("QDRANT_URL", "https://q.example:6333")
    monkeypatch.setenv("QDRANT_API_KEY", "s3cret-key")
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "https://q.example:6333" in out and "s3cret-key" not in out and "api_key: set" in out
    monkeypatch.setenv("QDRANT_TIMEOUT", "never")
    assert main([]) == 2
    assert "QDRANT_TIMEOUT" in capsys.readouterr().err
