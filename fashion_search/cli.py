"""One way to turn a job's config dataclass into a command line (evaluate, bench, demo).

Each field carries its help text (and optional `choices`) in its metadata; the flag is the field name
with dashes. The dataclass validates itself in __post_init__; its ValueError becomes a usage error
that names the bad flag, before any work starts.
"""

from __future__ import annotations

import argparse
from dataclasses import field, fields
from typing import TypeVar

T = TypeVar("T")


def option(default, help: str, **extra):
    """A config field with its --help text; extra metadata (e.g. choices=...) is passed to argparse."""
    return field(default=default, metadata={"help": help, **extra})


def _value_type(annotation) -> type:
    text = str(annotation)  # annotations are strings under `from __future__ import annotations`
    if "int" in text:
        return int
    if "float" in text:
        return float
    return str


class _OneLineErrorParser(argparse.ArgumentParser):
    """Usage errors as one line (`prog: error: ...`), without the usage block: for commands whose
    errors are read in a terminal or a log one line at a time (--help still prints the usage)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_dataclass(cls: type[T], argv=None, prog: str | None = None, description: str | None = None,
                    one_line_errors: bool = False) -> T:
    """A tuple-typed field is a repeatable flag (`--filter a=1 --filter b=2` -> ("a=1", "b=2"))."""
    parser = (_OneLineErrorParser if one_line_errors else argparse.ArgumentParser)(prog=prog, description=description)
    repeated = []
    for f in fields(cls):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
        elif str(f.type).startswith("tuple"):
            repeated.append(f)
            parser.add_argument(flag, action="append", default=None, help=f.metadata["help"] + " (repeatable)")
        else:
            parser.add_argument(flag, type=_value_type(f.type), default=f.default, help=f.metadata["help"],
                                choices=f.metadata.get("choices"))
    args = vars(parser.parse_args(argv))
    for f in repeated:
        args[f.name] = f.default if args[f.name] is None else tuple(args[f.name])
    try:
        return cls(**args)
    except ValueError as err:
        parser.error(str(err))
