"""`openkvs user` and `openkvs token`: accounts on the same storage a running server uses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from openkvs.backends.factory import open_backend
from openkvs.cli_options import storage_options
from openkvs.config import Settings
from openkvs.core.errors import ApiError
from openkvs.core.ids import hash_token, iso_ms, new_token
from openkvs.core.storage import Backend
from openkvs.core.validation import check_username

T = TypeVar("T")


def _with_backend(
    data_dir: Path, database_url: str | None, work: Callable[[Backend], Awaitable[T]]
) -> T:
    async def run() -> T:
        # Users and tokens only: no --blob-url, as no record body is read or written.
        backend = open_backend(Settings(data_dir=data_dir, database_url=database_url))
        await backend.start(serve=False)
        try:
            return await work(backend)
        finally:
            await backend.close()

    try:
        return asyncio.run(run())
    except ApiError as exc:
        raise click.ClickException(exc.message) from None


async def _user_id(backend: Backend, username: str) -> str:
    found = await backend.accounts.user_by_username(username)
    if found is None:
        raise click.ClickException(f"no user named {username}")
    return found.id


@click.group()
def user() -> None:
    """Manage users."""


@user.command("create")
@click.argument("name")
@storage_options
def user_create(name: str, data_dir: Path, database_url: str | None) -> None:
    """Create user NAME and print its first token (works at once on a running server)."""
    try:
        check_username(name)
    except ApiError as exc:
        raise click.ClickException(exc.message) from None
    value = new_token()

    async def work(backend: Backend) -> None:
        created = await backend.accounts.create_user(name)
        await backend.accounts.add_token(created.id, hash_token(value), "default")
        click.echo(f"created user {name} (id {created.id})", err=True)

    _with_backend(data_dir, database_url, work)
    click.echo(value)


@click.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.option("--user", "username", required=True, help="Username the token belongs to.")
@click.option("--name", "label", default="cli", show_default=True, help="A label for the token.")
@storage_options
def token_create(username: str, label: str, data_dir: Path, database_url: str | None) -> None:
    """Create a token for a user and print it (shown only this once)."""
    value = new_token()

    async def work(backend: Backend) -> None:
        info = await backend.accounts.add_token(
            await _user_id(backend, username), hash_token(value), label
        )
        click.echo(f"created token {info.id} for {username}", err=True)

    _with_backend(data_dir, database_url, work)
    click.echo(value)


@token.command("list")
@click.option("--user", "username", default=None, help="Only this user's tokens.")
@storage_options
def token_list(username: str | None, data_dir: Path, database_url: str | None) -> None:
    """List tokens (ids and labels; token values are stored hashed and never shown)."""

    async def work(backend: Backend) -> None:
        user_id = None if username is None else await _user_id(backend, username)
        click.echo(f"{'ID':<18} {'USER':<31} {'NAME':<16} {'CREATED':<25} STATE")
        for info in await backend.accounts.list_tokens(user_id):
            state = "revoked" if info.revoked else "active"
            created = iso_ms(info.created_at)
            click.echo(f"{info.id:<18} {info.username:<31} {info.name:<16} {created:<25} {state}")

    _with_backend(data_dir, database_url, work)


@token.command("revoke")
@click.argument("token_id")
@storage_options
def token_revoke(token_id: str, data_dir: Path, database_url: str | None) -> None:
    """Revoke a token by its id (see `openkvs token list`); it stops working at once."""

    async def work(backend: Backend) -> bool:
        return await backend.accounts.revoke_token(token_id)

    if not _with_backend(data_dir, database_url, work):
        raise click.ClickException(f"no active token with id {token_id}")
    click.echo(f"revoked {token_id}", err=True)
