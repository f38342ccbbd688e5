"""The one way every job turns its config dataclass into a command line.

Train, ingest, eval, bench, demo, catalog stats, synthetic, datasets and the search page each declare
one `@dataclass` whose fields carry their help text (and optional `choices`, `flag`, `positional`,
`cli`) in their metadata. The flag is the field name in kebab case (`output_dir` -> `--output-dir`); a bool
that defaults to True also gets `--no-<name>`. The dataclass validates itself in __post_init__ and
raises ConfigError (or any ValueError) naming the fix. A field with `cli=False` gets no flag at all: it
is set in code or from the environment only (a secret such as an API key must not appear in `ps`
output or shell history), and its help text documents it.

A job whose fields fall back to environment variables builds its parser with `dataclass_parser`,
parses, fills the fields whose flag was not given from the environment, then builds the dataclass
(flag > environment variable > default; see fashion_search/service/config.py).

Older snake-case spellings (`--output_dir`, `--no_eval_before_training`, `--multi_positive false`)
are still accepted: they are rewritten to the kebab-case flag with a deprecation message on stderr.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, field, fields
from typing import TypeVar

T = TypeVar("T")

TRUE_WORDS, FALSE_WORDS = ("true", "yes", "1"), ("false", "no", "0")


class ConfigError(ValueError):
    """A flag, setting or variable that cannot work; the message names it and the fix."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows each flag's default, unless it is None/False or the help text already says it."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def option(default, help: str, **extra):
    """A config field with its --help text; extra metadata: choices=..., flag="--from", positional=True,
    cli=False (no flag: set in code or from the environment only)."""
    return field(default=default, metadata={"help": help, **extra})


def _value_type(annotation) -> type:
    text = str(annotation)  # annotations are strings under `from __future__ import annotations`
    if "int" in text:
        return int
    if "float" in text:
        return float
    return str


def _is_bool(f) -> bool:
    return f.type in ("bool", bool)


def _is_repeated(f) -> bool:
    return str(f.type).startswith("tuple")


def _build(cls: type[T], namespace: dict) -> T:
    """The dataclass from parsed flags: repeated flags become tuples (the field's default when absent)."""
    for f in fields(cls):
        if _is_repeated(f) and f.name in namespace:
            namespace[f.name] = f.default if namespace[f.name] is None else tuple(namespace[f.name])
    return cls(**namespace)


class _OneLineErrorParser(argparse.ArgumentParser):
    """Usage errors as one line (`prog: error: ...`) without the usage block, for commands read one line
    at a time in a terminal or a log (--help still prints the usage)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _flag(f) -> str:
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def _cli_fields(cls) -> list:
    """The fields that are flags (those with cli=False are not)."""
    return [f for f in fields(cls) if f.metadata.get("cli", True)]


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls) -> argparse.ArgumentParser:
    """One argument per field of `cls` (dest = the field name), except fields with cli=False."""
    for f in _cli_fields(cls):
        help_text = f.metadata.get("help", "")
        default = None if f.default is MISSING else f.default
        if f.metadata.get("positional"):
            parser.add_argument(f.name, type=_value_type(f.type), help=help_text)
        elif _is_bool(f):
            action = argparse.BooleanOptionalAction if default else "store_true"
            parser.add_argument(_flag(f), dest=f.name, action=action, default=bool(default), help=help_text)
        elif _is_repeated(f):  # `--filter a=1 --filter b=2` -> ("a=1", "b=2")
            parser.add_argument(_flag(f), dest=f.name, action="append", default=None, help=help_text + " (repeatable)")
        else:
            parser.add_argument(_flag(f), dest=f.name, type=_value_type(f.type), default=default, help=help_text,
                                choices=f.metadata.get("choices"))
    return parser


def modernize_argv(argv: list[str], classes) -> list[str]:
    """Rewrite deprecated snake-case flags of `classes` to kebab case, saying so once per flag on stderr."""
    flags = {f.name: f for cls in classes for f in _cli_fields(cls)
             if "_" in f.name and not f.metadata.get("positional") and "flag" not in f.metadata}
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg, i = argv[i], i + 1
        name, eq, value = arg[2:].partition("=")
        negated = name.startswith("no_") and name[3:] in flags and _is_bool(flags[name[3:]])
        f = flags.get(name[3:] if negated else name) if arg.startswith("--") else None
        if f is None:
            out.append(arg)
            continue
        kebab = "--" + ("no-" if negated else "") + f.name.replace("_", "-")
        print(f"warning: --{name} is deprecated; use {kebab}", file=sys.stderr)
        if _is_bool(f) and not negated:
            # HfArgumentParser took `--flag true|false`; keep that spelling working.
            if not eq and i < len(argv) and argv[i].lower() in TRUE_WORDS + FALSE_WORDS:
                value, i = argv[i], i + 1
            if value.lower() in FALSE_WORDS:
                kebab = "--no-" + f.name.replace("_", "-")
            out.append(kebab)
        else:
            out.append(kebab + (f"={value}" if eq else ""))
    return out


def dataclass_parser(cls, prog: str | None = None, description: str | None = None, one_line_errors: bool = False,
                     **parser_kwargs) -> argparse.ArgumentParser:
    """The parser `parse_dataclass` uses: one flag per field, --help showing each default; for jobs that
    resolve environment fallbacks between parsing and building the dataclass."""
    parser_class = _OneLineErrorParser if one_line_errors else argparse.ArgumentParser
    parser = parser_class(prog=prog, description=description, formatter_class=_HelpFormatter, **parser_kwargs)
    return add_dataclass_arguments(parser, cls)


def parse_dataclass(cls: type[T], argv=None, prog: str | None = None, description: str | None = None,
                    exit_on_error: bool = True, one_line_errors: bool = False) -> T:
    """Parse argv into `cls`. A failed validation is a usage error (exit 2) unless exit_on_error=False,
    in which case the ConfigError reaches the caller (jobs that report it themselves, and tests).
    """
    parser = dataclass_parser(cls, prog, description, one_line_errors)
    argv = modernize_argv(list(sys.argv[1:] if argv is None else argv), [cls])
    namespace = parser.parse_args(argv)
    try:
        return _build(cls, vars(namespace))
    except ValueError as err:
        if not exit_on_error:
            raise
        parser.error(str(err))


def parse_command(commands: dict[str, tuple[type, str]], argv=None, prog: str | None = None,
                  description: str | None = None) -> tuple[str, object]:
    """`prog COMMAND [flags]` where each command has its own dataclass: {name: (cls, help)} -> (name, config)."""
    parser = argparse.ArgumentParser(prog=prog, description=description, formatter_class=_HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (cls, help_text) in commands.items():
        add_dataclass_arguments(sub.add_parser(name, help=help_text, formatter_class=_HelpFormatter), cls)
    argv = modernize_argv(list(sys.argv[1:] if argv is None else argv), [cls for cls, _ in commands.values()])
    namespace = vars(parser.parse_args(argv))
    name = namespace.pop("command")
    try:
        return name, _build(commands[name][0], namespace)
    except ValueError as err:
        parser.error(str(err))
