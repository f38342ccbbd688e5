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


def parse_dataclass(cls: type[T], argv=None, prog: str | None = None, description: str | None = None) -> T:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for f in fields(cls):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
        else:
            parser.add_argument(flag, type=_value_type(f.type), default=f.default, help=f.metadata["help"],
                                choices=f.metadata.get("choices"))
    try:
        return cls(**vars(parser.parse_args(argv)))
    except ValueError as err:
        parser.error(str(err))
