"""`openkvs import`, `openkvs export` and `openkvs copy` (what they do: moving/)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from openkvs.moving.api import KvsApi
from openkvs.moving.copying import RECOVERABLE, copy_stores
from openkvs.moving.exporting import export_to_folder, export_to_zip
from openkvs.moving.importing import import_folder
from openkvs.moving.progress import Reporter

F = TypeVar("F", bound=Callable[..., Any])
INTERRUPTED = 130  # what a shell reports for a command stopped by Ctrl-C


def _server(command: F) -> F:
    """--url and --token, from APIFY_API_BASE_URL and APIFY_TOKEN as Apify's tools take them."""
    command = click.option(
        "--token",
        envvar="APIFY_TOKEN",
        show_envvar=True,
        default=None,
        help="API token of the user whose stores these are.",
    )(command)
    return click.option(
        "--url",
        envvar="APIFY_API_BASE_URL",
        show_envvar=True,
        required=True,
        help="The server, as http://host:port (Apify's tools add /v2 themselves).",
    )(command)


def _common(command: F) -> F:
    command = click.option(
        "--parallel",
        type=click.IntRange(1, 64),
        default=4,
        show_default=True,
        help="Records moved at once.",
    )(command)
    command = click.option(
        "--fail-fast", is_flag=True, help="Stop at the first record that fails."
    )(command)
    return click.option(
        "--quiet", is_flag=True, help="No progress; only problems and the summary."
    )(command)


def _api(url: str, token: str | None) -> KvsApi:
    url = url.rstrip("/")
    return KvsApi(url.removesuffix("/v2"), token)


def _run(verb: str, quiet: bool, work: Callable[[Reporter], None]) -> None:
    """Runs `work`, prints the summary, exits 1 if anything failed (130 when interrupted)."""
    with Reporter(quiet, verb) as report:
        try:
            work(report)
        except KeyboardInterrupt:
            click.echo(report.summary.line(f"interrupted, {verb} so far"), err=True)
            sys.exit(INTERRUPTED)
        except RECOVERABLE as exc:  # with --fail-fast, or before any record
            click.echo(report.summary.line(f"{verb} so far"), err=True)
            raise click.ClickException(str(exc)) from None
    click.echo(report.summary.line(verb))
    if report.summary.failed:
        sys.exit(1)


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--store",
    "stores",
    multiple=True,
    help="Only this store (by directory or store name); repeatable. Default: every store.",
)
@_server
@_common
def import_(
    path: Path,
    stores: tuple[str, ...],
    url: str,
    token: str | None,
    quiet: bool,
    fail_fast: bool,
    parallel: int,
) -> None:
    """Import the key-value stores of the local storage folder PATH (as Crawlee for Python or
    JavaScript, or the Apify CLI, write it: PATH, PATH/storage or PATH/key_value_stores) into
    the server. Each store directory fills the store of the same name."""
    with _api(url, token) as api:
        _run(
            "imported",
            quiet,
            lambda report: import_folder(api, path, list(stores), report, fail_fast, parallel),
        )


@click.command()
@click.argument("where", nargs=-1, required=True, metavar="[STORE] DEST")
@click.option("--all", "every", is_flag=True, help="Every store of the user instead of STORE.")
@click.option(
    "--layout",
    type=click.Choice(["python", "js"]),
    default="python",
    show_default=True,
    help="Whose local storage to write: Crawlee for Python's or for JavaScript's.",
)
@_server
@_common
def export(
    where: tuple[str, ...],
    every: bool,
    layout: str,
    url: str,
    token: str | None,
    quiet: bool,
    fail_fast: bool,
    parallel: int,
) -> None:
    """Export STORE (an id or a name), or with --all every store of the user, to DEST: a local
    storage folder Crawlee opens as its own (DEST/key_value_stores/<store name>/...), or a ZIP
    of one when DEST ends in .zip."""
    if len(where) != (1 if every else 2):
        raise click.UsageError("give STORE and DEST, or --all and DEST")
    store, dest = (None, Path(where[0])) if every else (where[0], Path(where[1]))
    with _api(url, token) as api:

        def work(report: Reporter) -> None:
            stores = api.chosen([] if store is None else [store])
            if dest.suffix.lower() == ".zip":
                export_to_zip(api, stores, dest, layout, report, fail_fast)
            else:
                export_to_folder(api, stores, dest, layout, report, fail_fast, parallel)

        _run("exported", quiet, work)


@click.command()
@click.argument("stores", nargs=-1)
@click.option("--from", "source", required=True, help="The server to copy from (http://host:port).")
@click.option("--from-token", default=None, help="API token on the source.")
@click.option("--to", "dest", required=True, help="The server to copy to.")
@click.option("--to-token", default=None, help="API token on the destination.")
@_common
def copy(
    stores: tuple[str, ...],
    source: str,
    from_token: str | None,
    dest: str,
    to_token: str | None,
    quiet: bool,
    fail_fast: bool,
    parallel: int,
) -> None:
    """Copy STORES (ids or names; none: every store of the source's user) between two servers
    that speak the Apify API. A named store keeps its name; an unnamed one gets a new unnamed
    store. Records already identical on the destination are skipped, so a stopped copy can be
    run again; every record written is checked against what was read."""
    with _api(source, from_token) as origin, _api(dest, to_token) as target:
        _run(
            "copied",
            quiet,
            lambda report: copy_stores(origin, target, list(stores), report, fail_fast, parallel),
        )
