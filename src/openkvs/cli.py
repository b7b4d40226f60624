"""The `openkvs` command: serve, manage users and tokens (accounts_cli), maintain a data directory
(maintenance_cli), move data in and out (moving_cli)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from openkvs.accounts_cli import token, user
from openkvs.backends.factory import open_backend
from openkvs.cli_options import required_blob_url, settings_options
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
@settings_options
def serve(**options: Any) -> None:
    """Start the server: on the embedded store in --data-dir, or scale-out with --database-url."""
    settings = Settings(**options)
    if settings.database_url:
        required_blob_url(settings.blob_url)
    run_server(settings)


def run_server(settings: Settings) -> None:
    from openkvs import log_format, serving
    from openkvs.app import OpenKvs
    from openkvs.bootstrap import bootstrap

    log_format.configure(settings.log_level, settings.log_format)
    try:
        backend = open_backend(settings)
    except ValueError as exc:  # a --blob-url that is not s3://bucket/prefix
        raise click.UsageError(str(exc)) from None
    try:
        serving.check_port_free(settings.host, settings.port)
    except serving.PortInUse as exc:
        raise click.ClickException(str(exc)) from exc
    app = OpenKvs(settings, backend)
    app.on_started.append(bootstrap)
    if not serving.serve(app, settings.host, settings.port):
        sys.exit(1)
