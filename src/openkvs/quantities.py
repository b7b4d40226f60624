"""Sizes and times as flags spell them (`64KiB`, `7d`, `500ms`): their parsers and click types."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import click

_SIZE_RE = re.compile(r"\s*(\d+)\s*([kmgt]?)(i?)b?\s*", re.IGNORECASE)
_DURATION_RE = re.compile(r"\s*(\d+)\s*([smhdw])\s*", re.IGNORECASE)
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SECONDS_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m)?\s*", re.IGNORECASE)
_SECONDS_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0}


def parse_size(text: str) -> int:
    """`5GiB`, `64KiB`, `1MB`, `1000`: a byte count (KiB = 1024, KB = 1000)."""
    match = _SIZE_RE.fullmatch(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (examples: 1000, 64KiB, 5GiB)")
    number, unit, binary = match.groups()
    power = "kmgt".find(unit.lower()) + 1 if unit else 0
    return int(number) * int((1024 if binary or not unit else 1000) ** power)


def parse_duration(text: str) -> int:
    """`7d`, `12h`, `30m`, `90s`: seconds."""
    match = _DURATION_RE.fullmatch(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (examples: 90s, 30m, 12h, 7d)")
    return int(match.group(1)) * _DURATION_SECONDS[match.group(2).lower()]


def parse_seconds(text: str) -> float:
    """`2`, `0.5`, `1.5s`, `500ms`, `1m`: a positive time in seconds (fractions allowed)."""
    match = _SECONDS_RE.fullmatch(text)
    if match:
        number, unit = match.groups()
        seconds = float(number) * _SECONDS_UNITS[(unit or "s").lower()]
        if seconds > 0:
            return seconds
    raise ValueError(f"not a positive time: {text!r} (examples: 2, 0.5, 1.5s, 500ms)")


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
