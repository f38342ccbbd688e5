"""The shared dataclass -> argparse helper used by evaluate, bench and demo."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fashion_search.cli import option, parse_dataclass


@dataclass
class _Config:
    name: str | None = option(None, "a name")
    count: int = option(3, "how many")
    limit: int | None = option(None, "optional int")
    ratio: float = option(0.5, "a float")
    mode: str = option("a", "pick one", choices=("a", "b"))
    quick: bool = option(False, "a switch")

    def __post_init__(self):
        if self.count < 1:
            raise ValueError("--count must be >= 1")


def test_types_defaults_and_flags():
    assert parse_dataclass(_Config, []) == _Config()
    cfg = parse_dataclass(_Config, ["--name", "x", "--count", "7", "--limit", "2", "--ratio", "0.25",
                                    "--mode", "b", "--quick"])
    assert cfg == _Config("x", 7, 2, 0.25, "b", True)
    assert isinstance(cfg.limit, int) and isinstance(cfg.ratio, float)


def test_validation_and_choices_become_usage_errors(capsys):
    with pytest.raises(SystemExit):
        parse_dataclass(_Config, ["--count", "0"])
    assert "--count must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_dataclass(_Config, ["--mode", "c"])


@dataclass
class _Repeated:
    tag: tuple[str, ...] = option((), "a repeatable tag")
    count: int = option(1, "how many")

    def __post_init__(self):
        if self.count < 1:
            raise ValueError("--count must be >= 1")


def test_tuple_fields_repeat_and_one_line_errors_print_no_usage(capsys):
    assert parse_dataclass(_Repeated, []).tag == ()
    assert parse_dataclass(_Repeated, ["--tag", "a=1", "--tag", "b=2"]).tag == ("a=1", "b=2")
    for argv in (["--count", "0"], ["--count", "x"]):
        with pytest.raises(SystemExit) as exit_:
            parse_dataclass(_Repeated, argv, prog="job", one_line_errors=True)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.startswith("job: error: ") and len(err.splitlines()) == 1
