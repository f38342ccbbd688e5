"""The API's start-up checks: a key beyond loopback, a usable store, flags over the environment."""

from __future__ import annotations

import pytest

from fashion_search.service import ServiceConfig, ServiceConfigError, parse_config
from fashion_search.service.__main__ import main

KEY = "0123456789abcdef0123"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1", "127.0.0.2"])
def test_loopback_needs_no_key(host, tmp_path):
    assert ServiceConfig(store=str(tmp_path), host=host).api_key is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "search.example.com"])
def test_anything_else_refuses_to_start_without_a_key(host, tmp_path):
    with pytest.raises(ServiceConfigError, match="SEARCH_API_KEY"):
        ServiceConfig(store=str(tmp_path), host=host)
    assert ServiceConfig(store=str(tmp_path), host=host, api_key=KEY).api_key == KEY


@pytest.mark.parametrize("kwargs, match", [
    ({"api_key": "short"}, "at least 16"), ({"workers": 2}, "Qdrant server"), ({"port": 0}, "1-65535"),
    ({"text_encoder": "tensorrt"}, "choose from"), ({"catalog": "/no/such/catalog"}, "does not exist"),
    ({"torch_threads": 0}, "torch-threads"), ({"text_cache_size": -1}, "text-cache-size"),
])
def test_bad_settings_name_the_fix(kwargs, match, tmp_path):
    with pytest.raises(ServiceConfigError, match=match):
        ServiceConfig(store=str(tmp_path), **kwargs)


def test_flags_override_the_environment(tmp_path):
    env = {"QDRANT_PATH": str(tmp_path), "FASHION_MODEL": "m1", "HOST": "127.0.0.1", "PORT": "9001",
           "SEARCH_API_KEY": KEY}
    from_env = parse_config([], environ=env)
    assert (from_env.store, from_env.model, from_env.host, from_env.port, from_env.api_key) == (
        str(tmp_path), "m1", "127.0.0.1", 9001, KEY)
    assert "set" == from_env.describe()["api_key"] and KEY not in str(from_env.describe())
    flags = parse_config(["--model", "m2", "--port", "9002", "--workers", "3", "--store", "http://127.0.0.1:6333"],
                         environ=env)
    assert (flags.model, flags.port, flags.workers, flags.store) == ("m2", 9002, 3, "http://127.0.0.1:6333")


def test_a_missing_collection_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["--store", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err and "Traceback" not in err


def test_refusing_a_public_bind_exits_before_opening_anything(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SEARCH_API_KEY", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(["--host", "0.0.0.0", "--store", str(tmp_path / "store")])
    assert exit_.value.code == 2 and "SEARCH_API_KEY" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()


FLAGS = ("--host", "--port", "--store", "--collection", "--model", "--catalog", "--text-encoder",
         "--text-cache-size", "--torch-threads", "--workers")


def test_help_lists_every_flag_with_its_default_and_the_key_is_no_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_config(["--help"], environ={})
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    for flag in FLAGS:
        assert f"  {flag} " in out
    for default in ("else localhost", "else 8000", "else products", "default: torch", "default: 1024",
                    "FASHION_MODEL", "FASHION_CATALOG", "QDRANT_PATH"):
        assert default in " ".join(out.split()), default
    assert "--api-key" not in out and "--max-limit" not in out and "SEARCH_API_KEY" in out
    for flag in ("--api-key", "--api_key", "--max-limit"):
        with pytest.raises(SystemExit) as exit_:
            parse_config(["--store", "x", flag, KEY], environ={})
        assert exit_.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_environment_fallbacks_and_a_bad_port_variable_are_one_line(tmp_path, capsys):
    env = {"QDRANT_PATH": str(tmp_path), "QDRANT_COLLECTION": "shop", "FASHION_CATALOG": str(tmp_path),
           "PORT": "9003"}
    config = parse_config([], environ=env)
    assert (config.store, config.collection, config.catalog, config.port, config.host) == (
        str(tmp_path), "shop", str(tmp_path), 9003, "localhost")
    assert parse_config(["--collection", "other", "--host", "localhost"], environ={**env, "HOST": "::1"}).collection \
        == "other"
    assert parse_config(["--host", "localhost"], environ={**env, "HOST": "0.0.0.0"}).host == "localhost"
    assert parse_config(["--port", "9004"], environ={**env, "PORT": "not-a-port"}).port == 9004
    with pytest.raises(SystemExit) as exit_:
        parse_config([], environ={**env, "PORT": "not-a-port"})
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "PORT='not-a-port'" in err and len(err.splitlines()) == 1
