"""Server settings: every flag of `openkvs serve`, also readable from OPENKVS_* variables.

Each flag is declared once, as a field of `Settings`: its default, help and type. The flag's
name (`--inline-threshold`) and variable (`OPENKVS_INLINE_THRESHOLD`) follow from the field's
name; `cli_options` turns the declarations into click options.
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any

import click

from openkvs.quantities import DURATION, SECONDS, SIZE

DATA_DIR = Path("openkvs-data")
GENERAL_ACCESS = ["RESTRICTED", "ANYONE_WITH_ID_CAN_READ", "ANYONE_WITH_NAME_CAN_READ"]


@dataclass(frozen=True, slots=True)
class Flag:
    """How a setting is given on the command line: `--name`, or `--name/--no-name` for a yes/no."""

    default: Any  # as typed and as --help shows it ("64KiB"); None: help says what happens
    help: str
    type: click.ParamType[Any] | None  # None: whatever the default is (text, number, yes/no)


def setting(default: Any, help: str, type: click.ParamType[Any] | None = None) -> Any:
    """A field of `Settings` that is a flag; the field's default is the flag's, as parsed."""
    value = type.convert(default, None, None) if type and isinstance(default, str) else default
    return field(default=value, metadata={"flag": Flag(default, help, type)})


@dataclass(slots=True)
class Settings:
    host: str = setting("127.0.0.1", "Address to listen on.")
    port: int = setting(8010, "TCP port to listen on.", click.INT)
    data_dir: Path = setting(
        DATA_DIR,
        "Directory of the embedded store (SQLite database and record files); with "
        "--database-url it only holds the bootstrap token copy.",
        click.Path(path_type=Path, file_okay=False),
    )
    database_url: str | None = setting(
        None,
        "postgresql://... : use PostgreSQL instead of the embedded store (the server also "
        "needs --blob-url).",
    )
    public_url: str | None = setting(
        None,
        "Base URL clients reach this server at; used in every absolute URL "
        "(default: http://HOST:PORT).",
    )
    username: str = setting("local", "Username of the user created on first start.")
    token: str | None = setting(
        None, "Token of the user created on first start (default: a random one, printed once)."
    )
    durability: str = setting(
        "strict",
        "strict: data and metadata are on stable storage before a write is answered; "
        "relaxed: survives a process crash but not a power loss, faster.",
        click.Choice(["strict", "relaxed"]),
    )
    max_record_size: int = setting(
        "5GiB", "Largest record body accepted (413 record-too-large above it).", SIZE
    )
    max_inflation: int = setting(
        1000,
        "An encoded (gzip, br, deflate) record may decode to at most this many times its "
        "stored size, plus 1 MiB (413 record-too-large above it): what a reader can make the "
        "server decode.",
        click.IntRange(min=1),
    )
    body_timeout: float = setting(
        "60s",
        "A request whose body sends nothing for this long is ended with 408 request-timeout.",
        SECONDS,
    )
    inline_threshold: int = setting(
        "64KiB", "Bodies up to this size live in the database; larger ones in files.", SIZE
    )
    body_cache: int = setting(
        "64MiB",
        "Memory for copies of record bodies up to 1 MiB read from files or the object store, "
        "the most recently read kept; 0 keeps none.",
        SIZE,
    )
    default_general_access: str = setting(
        "RESTRICTED",
        "What FOLLOW_USER_SETTING means for stores that do not set their own general access.",
        click.Choice(GENERAL_ACCESS),
    )
    unnamed_retention: int | None = setting(
        None,
        "Delete unnamed stores not accessed for this long, e.g. 7d (default: keep forever).",
        DURATION,
    )
    rate_limit_records: int | None = setting(
        None,
        "Record requests per store and second (Apify: 200); 429 above it. Default: off.",
        click.INT,
    )
    rate_limit_store: int | None = setting(
        None,
        "Other requests per store and second (Apify: 60); 429 above it. Default: off.",
        click.INT,
    )
    blob_url: str | None = setting(
        None,
        "s3://bucket/prefix for large record bodies (scale-out, with --database-url); "
        "credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION.",
    )
    s3_endpoint: str | None = setting(
        None, "Endpoint of a non-AWS S3-compatible store, e.g. http://127.0.0.1:8333."
    )
    object_grace: int = setting(
        "1h",
        "Scale-out: how long an object no record points at is kept before the sweeper "
        "removes it (longer than any read or upload takes).",
        DURATION,
    )
    redirect_large_records: int | None = setting(
        None,
        "Scale-out: answer GETs of records in the object store larger than SIZE with a 302 "
        "to a short-lived presigned URL (default: off, always served directly).",
        SIZE,
    )
    validation_timeout: float = setting(
        "2s",
        "Longest a record's JSON schema validation (or a store schema's check) may take; "
        "400 schema-validation-failed above it. Runs in worker processes, off the event loop.",
        SECONDS,
    )
    validation_workers: int = setting(
        2,
        "Worker processes for schema validation; more validations wait for a free one.",
        click.IntRange(min=1),
    )
    shutdown_timeout: float = setting(
        "30s",
        "On SIGTERM or SIGINT: how long requests in flight get to finish before they are "
        "cancelled (no new connection is taken meanwhile); then the server exits.",
        SECONDS,
    )
    access_log: bool = setting(
        True, "Log one line per request (tokens and signatures in URLs are masked)."
    )
    log_level: str = setting(
        "info", "Log verbosity.", click.Choice(["debug", "info", "warning", "error"])
    )
    log_format: str = setting(
        "text",
        "text: one readable line per event; json: one JSON object per line (time, level, "
        "request id, method, route, status, duration, bytes, user id; never a token).",
        click.Choice(["text", "json"]),
    )
    log_health_checks: bool = setting(
        False, "Write /health/live and /health/ready requests to the access log."
    )
    metrics: bool = setting(True, "Serve Prometheus metrics at GET /metrics.")
    metrics_token: str | None = setting(
        None,
        "Require this Bearer token for /metrics (default: /metrics is open, like the health "
        "checks; it shows counts by route, never a store, key, user or token).",
    )
    max_json_body: int = 9 * 1024 * 1024  # store create/update bodies; fixed, not a flag

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


def flags() -> dict[str, Flag]:
    """Every setting that is a flag, by field name, in the order --help lists them."""
    declared: tuple[Field[Any], ...] = fields(Settings)
    return {f.name: f.metadata["flag"] for f in declared if "flag" in f.metadata}
