"""`openkvs backup`, `openkvs restore` and `openkvs check` (what they do: maintenance/)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from openkvs.cli_options import required_blob_url, setting_option
from openkvs.maintenance.backup import backup as take_backup
from openkvs.maintenance.backup import restore as restore_backup
from openkvs.maintenance.check_embedded import check_data_dir
from openkvs.maintenance.check_scaleout import check_deployment
from openkvs.maintenance.data_dir import MaintenanceError

DATA_DIR = setting_option("data_dir", help="The embedded store's directory.")


@click.command()
@click.argument("dest", type=click.Path(path_type=Path))
@DATA_DIR
def backup(dest: Path, data_dir: Path) -> None:
    """Copy the embedded store in --data-dir to DEST (a new or empty directory), consistent as
    of one moment, while a server may keep serving. Body files are hard-linked when DEST is on
    the same file system."""
    try:
        summary = take_backup(data_dir, dest)
    except MaintenanceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(summary.line("backed up to", dest))


@click.command()
@click.argument("source", type=click.Path(path_type=Path, exists=True, file_okay=False))
@DATA_DIR
@click.option(
    "--force",
    is_flag=True,
    help="Move a store already in --data-dir aside (renamed, kept) instead of refusing.",
)
def restore(source: Path, data_dir: Path, force: bool) -> None:
    """Restore the backup SOURCE into --data-dir. Refuses while a server runs on --data-dir,
    and refuses a damaged backup."""
    try:
        summary, aside = restore_backup(source, data_dir, force)
    except MaintenanceError as exc:
        raise click.ClickException(str(exc)) from None
    if aside is not None:
        click.echo(f"the store that was in {data_dir} is now in {aside}")
    click.echo(summary.line("restored into", data_dir))


@click.command()
@DATA_DIR
@click.option("--deep", is_flag=True, help="Also compare every body's MD5 with its ETag.")
@click.option("--repair", is_flag=True, help="Remove body files that no record uses.")
@setting_option(
    "database_url", help="Check a scale-out deployment (with --blob-url) instead of --data-dir."
)
@setting_option("blob_url", help="s3://bucket/prefix (scale-out).")
@setting_option("s3_endpoint", help="A non-AWS S3 endpoint.")
@setting_option(
    "object_grace",
    help="Scale-out: unused objects younger than this are uploads on their way, not counted.",
)
def check(
    data_dir: Path,
    deep: bool,
    repair: bool,
    database_url: str | None,
    blob_url: str | None,
    s3_endpoint: str | None,
    object_grace: int,
) -> None:
    """Check that every record's body is there, whole (and with --deep, unchanged), and list
    what no record uses. Exit status 0: clean; 1: something was found."""
    try:
        if database_url:
            blob_url = required_blob_url(blob_url)
            if deep or repair:
                raise click.UsageError("--deep and --repair are for the embedded store")
            findings = asyncio.run(
                check_deployment(database_url, blob_url, s3_endpoint, object_grace)
            )
        else:
            findings = check_data_dir(data_dir, deep=deep, repair=repair)
    except MaintenanceError as exc:
        raise click.ClickException(str(exc)) from None
    for line in findings.lines():
        click.echo(line)
    sys.exit(0 if findings.clean else 1)
