"""The `openkvs` command: serve, manage users and tokens (accounts_cli), maintain a data directory
(maintenance_cli), move data in and out (moving_cli)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from openkvs.accounts_cli import token, user
from openkvs.backends.factory import open_backend
from openkvs.cli_options import DURATION, SECONDS, SIZE, env, storage_options
from openkvs.config import Settings
from openkvs.maintenance_cli import backup, check, restore
from openkvs.moving_cli import copy, export, import_


@click.group()
@click.version_option(package_name="openkvs")
def main() -> None:
    """openkvs: a self-hostable server for the Apify API v2 key-value-store endpoints."""
    # Whatever any command creates (data directory, database, record files) is the user's alone.
    os.umask(0o077)


main.add_command(user)
main.add_command(token)
main.add_command(backup)
main.add_command(restore)
main.add_command(check)
main.add_command(import_)
main.add_command(export)
main.add_command(copy)


@main.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on.", **env("HOST")
)
@click.option(
    "--port",
    type=int,
    default=8010,
    show_default=True,
    help="TCP port to listen on.",
    **env("PORT"),
)
@storage_options
@click.option(
    "--public-url",
    default=None,
    help="Base URL clients reach this server at; used in every absolute URL "
    "(default: http://HOST:PORT).",
    **env("PUBLIC_URL"),
)
@click.option(
    "--username",
    default="local",
    show_default=True,
    help="Username of the user created on first start.",
    **env("USERNAME"),
)
@click.option(
    "--token",
    default=None,
    help="Token of the user created on first start (default: a random one, printed once).",
    **env("TOKEN"),
)
@click.option(
    "--durability",
    type=click.Choice(["strict", "relaxed"]),
    default="strict",
    show_default=True,
    help="strict: data and metadata are on stable storage before a write is answered; "
    "relaxed: survives a process crash but not a power loss, faster.",
    **env("DURABILITY"),
)
@click.option(
    "--max-record-size",
    type=SIZE,
    default="5GiB",
    show_default=True,
    help="Largest record body accepted (413 record-too-large above it).",
    **env("MAX_RECORD_SIZE"),
)
@click.option(
    "--max-inflation",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="An encoded (gzip, br, deflate) record may decode to at most this many times its "
    "stored size, plus 1 MiB (413 record-too-large above it): what a reader can make the "
    "server decode.",
    **env("MAX_INFLATION"),
)
@click.option(
    "--body-timeout",
    type=SECONDS,
    default="60s",
    show_default=True,
    help="A request whose body sends nothing for this long is ended with 408 request-timeout.",
    **env("BODY_TIMEOUT"),
)
@click.option(
    "--inline-threshold",
    type=SIZE,
    default="64KiB",
    show_default=True,
    help="Bodies up to this size live in the database; larger ones in files.",
    **env("INLINE_THRESHOLD"),
)
@click.option(
    "--default-general-access",
    type=click.Choice(["RESTRICTED", "ANYONE_WITH_ID_CAN_READ", "ANYONE_WITH_NAME_CAN_READ"]),
    default="RESTRICTED",
    show_default=True,
    help="What FOLLOW_USER_SETTING means for stores that do not set their own general access.",
    **env("DEFAULT_GENERAL_ACCESS"),
)
@click.option(
    "--unnamed-retention",
    type=DURATION,
    default=None,
    help="Delete unnamed stores not accessed for this long, e.g. 7d (default: keep forever).",
    **env("UNNAMED_RETENTION"),
)
@click.option(
    "--rate-limit-records",
    type=int,
    default=None,
    help="Record requests per store and second (Apify: 200); 429 above it. Default: off.",
    **env("RATE_LIMIT_RECORDS"),
)
@click.option(
    "--rate-limit-store",
    type=int,
    default=None,
    help="Other requests per store and second (Apify: 60); 429 above it. Default: off.",
    **env("RATE_LIMIT_STORE"),
)
@click.option(
    "--blob-url",
    default=None,
    help="s3://bucket/prefix for large record bodies (scale-out, with --database-url); "
    "credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION.",
    **env("BLOB_URL"),
)
@click.option(
    "--s3-endpoint",
    default=None,
    help="Endpoint of a non-AWS S3-compatible store, e.g. http://127.0.0.1:8333.",
    **env("S3_ENDPOINT"),
)
@click.option(
    "--object-grace",
    type=DURATION,
    default="1h",
    show_default=True,
    help="Scale-out: how long an object no record points at is kept before the sweeper "
    "removes it (longer than any read or upload takes).",
    **env("OBJECT_GRACE"),
)
@click.option(
    "--redirect-large-records",
    type=SIZE,
    default=None,
    help="Scale-out: answer GETs of records in the object store larger than SIZE with a 302 "
    "to a short-lived presigned URL (default: off, always served directly).",
    **env("REDIRECT_LARGE_RECORDS"),
)
@click.option(
    "--validation-timeout",
    type=SECONDS,
    default="2s",
    show_default=True,
    help="Longest a record's JSON schema validation (or a store schema's check) may take; "
    "400 schema-validation-failed above it. Runs in worker processes, off the event loop.",
    **env("VALIDATION_TIMEOUT"),
)
@click.option(
    "--validation-workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker processes for schema validation; more validations wait for a free one.",
    **env("VALIDATION_WORKERS"),
)
@click.option(
    "--shutdown-timeout",
    type=SECONDS,
    default="30s",
    show_default=True,
    help="On SIGTERM or SIGINT: how long requests in flight get to finish before they are "
    "cancelled (no new connection is taken meanwhile); then the server exits.",
    **env("SHUTDOWN_TIMEOUT"),
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log one line per request (tokens and signatures in URLs are masked).",
    **env("ACCESS_LOG"),
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="Log verbosity.",
    **env("LOG_LEVEL"),
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one readable line per event; json: one JSON object per line (time, level, "
    "request id, method, route, status, duration, bytes, user id; never a token).",
    **env("LOG_FORMAT"),
)
@click.option(
    "--log-health-checks/--no-log-health-checks",
    default=False,
    show_default=True,
    help="Write /health/live and /health/ready requests to the access log.",
    **env("LOG_HEALTH_CHECKS"),
)
@click.option(
    "--metrics/--no-metrics",
    default=True,
    show_default=True,
    help="Serve Prometheus metrics at GET /metrics.",
    **env("METRICS"),
)
@click.option(
    "--metrics-token",
    default=None,
    help="Require this Bearer token for /metrics (default: /metrics is open, like the health "
    "checks; it shows counts by route, never a store, key, user or token).",
    **env("METRICS_TOKEN"),
)
def serve(**options: Any) -> None:
    """Start the server: on the embedded store in --data-dir, or scale-out with --database-url."""
    settings = Settings(**options)
    run_server(settings)


def run_server(settings: Settings) -> None:
    from openkvs import log_format, serving
    from openkvs.app import OpenKvs
    from openkvs.bootstrap import bootstrap

    log_format.configure(settings.log_level, settings.log_format)
    if settings.database_url and not settings.blob_url:
        raise click.UsageError("--database-url needs --blob-url s3://bucket/prefix")
    try:
        serving.check_port_free(settings.host, settings.port)
    except serving.PortInUse as exc:
        raise click.ClickException(str(exc)) from exc
    backend = open_backend(
        settings.data_dir,
        database_url=settings.database_url,
        blob_url=settings.blob_url,
        s3_endpoint=settings.s3_endpoint,
        durability=settings.durability,
        inline_threshold=settings.inline_threshold,
        object_grace=settings.object_grace,
    )
    app = OpenKvs(settings, backend)
    app.on_started.append(bootstrap)
    if not serving.serve(app, settings.host, settings.port):
        sys.exit(1)
