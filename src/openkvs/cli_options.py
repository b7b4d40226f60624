"""Option types and the storage options that several commands share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from openkvs.config import parse_duration, parse_seconds, parse_size

F = TypeVar("F", bound=Callable[..., Any])


class ParsedInt(click.ParamType):  # type: ignore[type-arg]
    """A flag whose text is parsed into an int (sizes, durations)."""

    def __init__(self, name: str, parse: Callable[[str], int]) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        try:
            return self._parse(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class Seconds(click.ParamType):  # type: ignore[type-arg]
    """A positive time in seconds, fractions allowed: 2, 0.5, 1.5s, 500ms."""

    name = "SECONDS"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_seconds(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


SIZE = ParsedInt("SIZE", parse_size)
DURATION = ParsedInt("DURATION", parse_duration)
SECONDS = Seconds()


def env(name: str) -> dict[str, Any]:
    return {"envvar": f"OPENKVS_{name}", "show_envvar": True}


def storage_options(command: F) -> F:
    """--data-dir (embedded store) and --database-url (scale-out metadata)."""
    command = click.option(
        "--database-url",
        default=None,
        help="postgresql://... : use PostgreSQL (with --blob-url) instead of the embedded store.",
        **env("DATABASE_URL"),
    )(command)
    return click.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path("openkvs-data"),
        show_default=True,
        help="Directory of the embedded store (SQLite database and record files); with "
        "--database-url it only holds the bootstrap token copy.",
        **env("DATA_DIR"),
    )(command)
