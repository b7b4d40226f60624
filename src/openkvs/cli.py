"""The `openkvs` command: serve, and manage users and tokens on a data directory."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from openkvs.backends.embedded.backend import EmbeddedBackend
from openkvs.config import Settings, parse_duration, parse_size
from openkvs.core.errors import ApiError
from openkvs.core.ids import hash_token, iso_ms, new_token
from openkvs.core.validation import check_username

T = TypeVar("T")


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


SIZE = ParsedInt("SIZE", parse_size)
DURATION = ParsedInt("DURATION", parse_duration)


def _env(name: str) -> dict[str, Any]:
    return {"envvar": f"OPENKVS_{name}", "show_envvar": True}


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("openkvs-data"),
    show_default=True,
    help="Directory of the embedded store (SQLite database and record files).",
    **_env("DATA_DIR"),
)


@click.group()
@click.version_option(package_name="openkvs")
def main() -> None:
    """openkvs: a self-hostable server for the Apify API v2 key-value-store endpoints."""


@main.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on.", **_env("HOST")
)
@click.option(
    "--port",
    type=int,
    default=8010,
    show_default=True,
    help="TCP port to listen on.",
    **_env("PORT"),
)
@data_dir_option
@click.option(
    "--public-url",
    default=None,
    help="Base URL clients reach this server at; used in every absolute URL "
    "(default: http://HOST:PORT).",
    **_env("PUBLIC_URL"),
)
@click.option(
    "--username",
    default="local",
    show_default=True,
    help="Username of the user created on first start.",
    **_env("USERNAME"),
)
@click.option(
    "--token",
    default=None,
    help="Token of the user created on first start (default: a random one, printed once).",
    **_env("TOKEN"),
)
@click.option(
    "--durability",
    type=click.Choice(["strict", "relaxed"]),
    default="strict",
    show_default=True,
    help="strict: data and metadata are on stable storage before a write is answered; "
    "relaxed: survives a process crash but not a power loss, faster.",
    **_env("DURABILITY"),
)
@click.option(
    "--max-record-size",
    type=SIZE,
    default="5GiB",
    show_default=True,
    help="Largest record body accepted (413 record-too-large above it).",
    **_env("MAX_RECORD_SIZE"),
)
@click.option(
    "--inline-threshold",
    type=SIZE,
    default="64KiB",
    show_default=True,
    help="Bodies up to this size live in the database; larger ones in files.",
    **_env("INLINE_THRESHOLD"),
)
@click.option(
    "--default-general-access",
    type=click.Choice(["RESTRICTED", "ANYONE_WITH_ID_CAN_READ", "ANYONE_WITH_NAME_CAN_READ"]),
    default="RESTRICTED",
    show_default=True,
    help="What FOLLOW_USER_SETTING means for stores that do not set their own general access.",
    **_env("DEFAULT_GENERAL_ACCESS"),
)
@click.option(
    "--unnamed-retention",
    type=DURATION,
    default=None,
    help="Delete unnamed stores not accessed for this long, e.g. 7d (default: keep forever).",
    **_env("UNNAMED_RETENTION"),
)
@click.option(
    "--rate-limit-records",
    type=int,
    default=None,
    help="Record requests per store and second (Apify: 200); 429 above it. Default: off.",
    **_env("RATE_LIMIT_RECORDS"),
)
@click.option(
    "--rate-limit-store",
    type=int,
    default=None,
    help="Other requests per store and second (Apify: 60); 429 above it. Default: off.",
    **_env("RATE_LIMIT_STORE"),
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log one line per request (tokens and signatures in URLs are masked).",
    **_env("ACCESS_LOG"),
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="Log verbosity.",
    **_env("LOG_LEVEL"),
)
def serve(**options: Any) -> None:
    """Start the server on the embedded store."""
    settings = Settings(**options)
    run_server(settings)


def run_server(settings: Settings) -> None:
    import uvicorn

    from openkvs.app import OpenKvs
    from openkvs.bootstrap import bootstrap

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    backend = EmbeddedBackend(settings.data_dir, settings.durability, settings.inline_threshold)
    app = OpenKvs(settings, backend)
    app.on_started.append(bootstrap)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=settings.log_level,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        sys.exit(1)


def _with_backend(data_dir: Path, work: Callable[[EmbeddedBackend], Awaitable[T]]) -> T:
    async def run() -> T:
        backend = EmbeddedBackend(data_dir)
        await backend.start(serve=False)
        try:
            return await work(backend)
        finally:
            await backend.close()

    try:
        return asyncio.run(run())
    except ApiError as exc:
        raise click.ClickException(exc.message) from None


@main.group()
def user() -> None:
    """Manage users."""


@user.command("create")
@click.argument("name")
@data_dir_option
def user_create(name: str, data_dir: Path) -> None:
    """Create user NAME and print its first token (works at once on a running server)."""
    try:
        check_username(name)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    token = new_token()

    async def work(backend: EmbeddedBackend) -> None:
        created = await backend.create_user(name)
        await backend.add_token(created.id, hash_token(token), "default")
        click.echo(f"created user {name} (id {created.id})", err=True)

    _with_backend(data_dir, work)
    click.echo(token)


@main.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.option("--user", "username", required=True, help="Username the token belongs to.")
@click.option("--name", "label", default="cli", show_default=True, help="A label for the token.")
@data_dir_option
def token_create(username: str, label: str, data_dir: Path) -> None:
    """Create a token for a user and print it (shown only this once)."""
    value = new_token()

    async def work(backend: EmbeddedBackend) -> None:
        found = await backend.user_by_username(username)
        if found is None:
            raise click.ClickException(f"no user named {username}")
        info = await backend.add_token(found.id, hash_token(value), label)
        click.echo(f"created token {info.id} for {username}", err=True)

    _with_backend(data_dir, work)
    click.echo(value)


@token.command("list")
@click.option("--user", "username", default=None, help="Only this user's tokens.")
@data_dir_option
def token_list(username: str | None, data_dir: Path) -> None:
    """List tokens (ids and labels; token values are stored hashed and never shown)."""

    async def work(backend: EmbeddedBackend) -> None:
        user_id = None
        if username is not None:
            found = await backend.user_by_username(username)
            if found is None:
                raise click.ClickException(f"no user named {username}")
            user_id = found.id
        click.echo(f"{'ID':<18} {'USER':<31} {'NAME':<16} {'CREATED':<25} STATE")
        for info in await backend.list_tokens(user_id):
            state = "revoked" if info.revoked else "active"
            created = iso_ms(info.created_at)
            click.echo(f"{info.id:<18} {info.username:<31} {info.name:<16} {created:<25} {state}")

    _with_backend(data_dir, work)


@token.command("revoke")
@click.argument("token_id")
@data_dir_option
def token_revoke(token_id: str, data_dir: Path) -> None:
    """Revoke a token by its id (see `openkvs token list`); it stops working at once."""

    async def work(backend: EmbeddedBackend) -> bool:
        return await backend.revoke_token(token_id)

    if not _with_backend(data_dir, work):
        raise click.ClickException(f"no active token with id {token_id}")
    click.echo(f"revoked {token_id}", err=True)
