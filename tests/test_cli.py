"""The one dataclass -> argparse mechanism every job uses."""

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
class _Job:
    output_dir: str = option("runs", "where to write")
    multi_positive: bool = option(True, "a default-on switch")
    freeze_text: bool = option(False, "a default-off switch")


def test_kebab_flags_and_negated_default_on_switches():
    cfg = parse_dataclass(_Job, ["--output-dir", "x", "--no-multi-positive", "--freeze-text"])
    assert cfg == _Job("x", False, True)


@pytest.mark.parametrize("argv, expected", [
    (["--output_dir", "x"], _Job("x")),
    (["--output_dir=y"], _Job("y")),
    (["--multi_positive", "false", "--freeze_text"], _Job(multi_positive=False, freeze_text=True)),
    (["--multi_positive", "--freeze_text", "true"], _Job(multi_positive=True, freeze_text=True)),
    (["--no_multi_positive", "--output_dir", "z"], _Job("z", False)),
])
def test_snake_case_flags_still_work_with_a_deprecation_message(argv, expected, capsys):
    assert parse_dataclass(_Job, argv) == expected
    err = capsys.readouterr().err
    assert "deprecated; use --" in err and argv[0].split("=")[0] in err


def test_snake_case_of_an_unknown_flag_is_still_an_error(capsys):
    with pytest.raises(SystemExit):
        parse_dataclass(_Job, ["--output_dirs", "x"])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_one_config_error_for_every_job():
    from fashion_search.cli import ConfigError
    from fashion_search.ingest.config import ConfigError as IngestConfigError
    from fashion_search.settings import SettingsError
    from fashion_search.training.config import ConfigError as TrainConfigError
    from fashion_search.ui.page_config import PageConfigError

    assert TrainConfigError is ConfigError and IngestConfigError is ConfigError
    assert issubclass(SettingsError, ConfigError) and issubclass(PageConfigError, ConfigError)


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


@dataclass
class _WithSecret:
    api_key: str | None = option(None, "from the environment only", cli=False)
    name: str = option("x", "a name")


def test_cli_false_fields_get_no_flag_not_even_a_deprecated_spelling(capsys):
    assert parse_dataclass(_WithSecret, ["--name", "y"]) == _WithSecret(None, "y")
    for argv in (["--api-key", "s3cret"], ["--api_key", "s3cret"]):
        with pytest.raises(SystemExit):
            parse_dataclass(_WithSecret, argv)
        err = capsys.readouterr().err
        assert "unrecognized arguments" in err and "deprecated" not in err
