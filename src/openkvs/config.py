"""Server settings: every flag of `openkvs serve`, also readable from OPENKVS_* variables."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8010
    data_dir: Path = Path("openkvs-data")
    public_url: str | None = None
    username: str = "local"
    token: str | None = None
    durability: str = "strict"
    max_record_size: int = 5 * 1024**3
    max_json_body: int = 9 * 1024 * 1024
    body_timeout: float = 60.0  # seconds a request body may send nothing
    max_inflation: int = 1000  # an encoded record may decode to this times its size (+1 MiB)
    inline_threshold: int = 64 * 1024
    default_general_access: str = "RESTRICTED"
    unnamed_retention: int | None = None
    rate_limit_records: int | None = None
    rate_limit_store: int | None = None
    database_url: str | None = None
    blob_url: str | None = None
    s3_endpoint: str | None = None
    object_grace: int = 3600
    redirect_large_records: int | None = None
    access_log: bool = True
    log_level: str = "info"
    log_format: str = "text"  # or "json": one object per line
    log_health_checks: bool = False  # /health/* requests in the access log
    metrics: bool = True  # GET /metrics
    metrics_token: str | None = None  # when set, /metrics needs it as a Bearer token
    shutdown_timeout: float = 30.0  # seconds requests in flight get to finish on SIGTERM
    validation_timeout: float = 2.0
    validation_workers: int = 2

    @property
    def public_base(self) -> str:
        """The base of every absolute URL the API returns (behaviour.md#access)."""
        return self.public_url.rstrip("/") if self.public_url else self.served_base

    @property
    def served_base(self) -> str:
        """Where this process listens, as a local client reaches it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"
