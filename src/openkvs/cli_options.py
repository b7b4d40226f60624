"""Click options made from the settings' declarations (config.Settings), for `openkvs serve` and
the commands that share some of its flags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from openkvs.config import flags

F = TypeVar("F", bound=Callable[..., Any])


def setting_option(name: str, **changes: Any) -> Callable[[F], F]:
    """The flag of setting `name`; `changes` (another help, say) for a command that is not serve."""
    flag = flags()[name]
    dashed = name.replace("_", "-")
    decls = [f"--{dashed}/--no-{dashed}" if isinstance(flag.default, bool) else f"--{dashed}"]
    options: dict[str, Any] = {
        "type": flag.type,
        "default": flag.default,
        "help": flag.help,
        # Without a default, the help says what happens instead.
        "show_default": flag.default is not None,
        "envvar": f"OPENKVS_{name.upper()}",
        "show_envvar": True,
        **changes,
    }
    return click.option(*decls, **options)


def settings_options(command: F) -> F:
    """Every setting's flag, in the order they are declared."""
    for name in reversed(flags()):
        command = setting_option(name)(command)
    return command


def storage_options(command: F) -> F:
    """--data-dir (embedded store) and --database-url (scale-out metadata)."""
    command = setting_option("database_url")(command)
    return setting_option("data_dir")(command)


def required_blob_url(blob_url: str | None) -> str:
    """With --database-url: large record bodies live in a bucket, and only --blob-url names it."""
    if not blob_url:
        raise click.UsageError("--database-url needs --blob-url s3://bucket/prefix")
    return blob_url
