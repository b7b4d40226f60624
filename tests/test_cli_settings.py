"""The flags of `openkvs serve`: each one's default, OPENKVS_* variable and errors, as the serve
command turns them into Settings (README.md server flags); and what --database-url needs."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from openkvs import cli
from openkvs.config import Settings
from tests.cli_process import openkvs

# A value other than the default for every flag: as typed, and as Settings holds it.
SAMPLES: dict[str, tuple[str, Any]] = {
    "host": ("0.0.0.0", "0.0.0.0"),
    "port": ("9", 9),
    "data_dir": ("elsewhere", Path("elsewhere")),
    "database_url": ("postgresql://db.internal/openkvs", "postgresql://db.internal/openkvs"),
    "public_url": ("https://kvs.example.com", "https://kvs.example.com"),
    "username": ("alice", "alice"),
    "token": ("a-token", "a-token"),
    "durability": ("relaxed", "relaxed"),
    "max_record_size": ("1MiB", 1024 * 1024),
    "max_inflation": ("7", 7),
    "body_timeout": ("500ms", 0.5),
    "inline_threshold": ("1KiB", 1024),
    "body_cache": ("8MiB", 8 * 1024 * 1024),
    "default_general_access": ("ANYONE_WITH_NAME_CAN_READ", "ANYONE_WITH_NAME_CAN_READ"),
    "unnamed_retention": ("7d", 7 * 86400),
    "rate_limit_records": ("200", 200),
    "rate_limit_store": ("60", 60),
    "blob_url": ("s3://bucket/prefix", "s3://bucket/prefix"),
    "s3_endpoint": ("http://127.0.0.1:8333", "http://127.0.0.1:8333"),
    "object_grace": ("2h", 7200),
    "redirect_large_records": ("1MB", 1000 * 1000),
    "validation_timeout": ("1.5s", 1.5),
    "validation_workers": ("3", 3),
    "shutdown_timeout": ("1m", 60.0),
    "access_log": ("false", False),
    "log_level": ("debug", "debug"),
    "log_format": ("json", "json"),
    "log_health_checks": ("true", True),
    "metrics": ("false", False),
    "metrics_token": ("a-metrics-token", "a-metrics-token"),
}


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """The Settings `openkvs serve` would run with (the server itself is not started); no
    OPENKVS_* variable of this process is seen."""
    for name in list(os.environ):
        if name.startswith("OPENKVS_"):
            monkeypatch.delenv(name)
    captured: list[Settings] = []
    monkeypatch.setattr(cli, "run_server", captured.append)
    return captured


def serve(*args: str, env: dict[str, str] | None = None) -> Result:
    # `serve` itself, not the `openkvs` group: the group sets this process's umask.
    return CliRunner().invoke(cli.serve, list(args), env=env)


def flag_args(name: str, text: str) -> list[str]:
    dashed = name.replace("_", "-")
    if text in ("true", "false"):
        return [f"--{dashed}" if text == "true" else f"--no-{dashed}"]
    return [f"--{dashed}", text]


def test_every_flag_has_a_sample_that_is_not_its_default() -> None:
    names = {param.name for param in cli.serve.params}
    assert names == set(SAMPLES)
    defaults = Settings()
    for name, (_, value) in SAMPLES.items():
        assert getattr(defaults, name) != value, name


def test_without_flags_serve_runs_with_the_settings_defaults(served: list[Settings]) -> None:
    result = serve()
    assert result.exit_code == 0, result.output
    assert served == [Settings()]
    assert served[0].inline_threshold == 64 * 1024
    assert served[0].data_dir == Path("openkvs-data")


def test_help_shows_the_default_serve_runs_with() -> None:
    ctx = click.Context(cli.serve)
    defaults = Settings()
    shown = 0
    for param in cli.serve.params:
        assert isinstance(param, click.Option)
        record = param.get_help_record(ctx)
        assert record is not None, param.name
        extra = re.search(r"\[([^\[\]]*)\]$", record[1])  # [env var: ...; default: ...]
        assert extra is not None, record
        items = [item.split(": ", 1) for item in extra.group(1).split("; ") if ": " in item]
        text = dict(items).get("default")
        if text is None:
            assert getattr(defaults, str(param.name)) is None, param.name
            continue
        shown += 1
        if param.is_flag:  # shown as the flag that is on: access-log, no-log-health-checks
            value: Any = not text.startswith("no-")
        else:
            value = param.type.convert(text, param, ctx)
        assert value == getattr(defaults, str(param.name)), (param.name, text)
    assert shown == sum(getattr(defaults, name) is not None for name in SAMPLES)


def test_every_flag_reads_its_openkvs_variable(served: list[Settings]) -> None:
    env = {f"OPENKVS_{name.upper()}": text for name, (text, _) in SAMPLES.items()}
    result = serve(env=env)
    assert result.exit_code == 0, result.output
    (settings,) = served
    for name, (_, value) in SAMPLES.items():
        assert getattr(settings, name) == value, name


def test_every_flag_sets_its_setting(served: list[Settings]) -> None:
    args = [arg for name, (text, _) in SAMPLES.items() for arg in flag_args(name, text)]
    result = serve(*args)
    assert result.exit_code == 0, result.output
    (settings,) = served
    for name, (_, value) in SAMPLES.items():
        assert getattr(settings, name) == value, name


def test_a_flag_wins_over_its_variable(served: list[Settings]) -> None:
    result = serve("--inline-threshold", "2KiB", env={"OPENKVS_INLINE_THRESHOLD": "1KiB"})
    assert result.exit_code == 0, result.output
    assert served[0].inline_threshold == 2048


@pytest.mark.parametrize(
    ("variable", "text", "message"),
    [
        ("OPENKVS_PORT", "x", "'x' is not a valid integer."),
        ("OPENKVS_INLINE_THRESHOLD", "12q", "not a size: '12q' (examples: 1000, 64KiB, 5GiB)"),
        ("OPENKVS_DURABILITY", "weird", "'weird' is not one of 'strict', 'relaxed'."),
        ("OPENKVS_VALIDATION_WORKERS", "0", "0 is not in the range x>=1."),
        ("OPENKVS_BODY_TIMEOUT", "0", "not a positive time: '0'"),
        ("OPENKVS_UNNAMED_RETENTION", "3x", "not a duration: '3x'"),
    ],
)
def test_an_invalid_variable_names_its_flag(
    served: list[Settings], variable: str, text: str, message: str
) -> None:
    result = serve(env={variable: text})
    assert result.exit_code == 2
    flag = "--" + variable.removeprefix("OPENKVS_").lower().replace("_", "-")
    assert f"Invalid value for '{flag}' (env var: '{variable}'): {message}" in result.output
    assert served == []


# --- scale-out without --blob-url ---------------------------------------------------------------

NO_BLOB_URL = "Error: --database-url needs --blob-url s3://bucket/prefix"
NOWHERE = "postgresql://openkvs@127.0.0.1:9/nowhere"  # never reached: refused before


def test_serve_with_a_database_url_and_no_blob_url_fails_in_one_line() -> None:
    result = openkvs("serve", "--database-url", NOWHERE)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == NO_BLOB_URL
    assert "Traceback" not in result.stderr


def test_serve_with_a_database_url_variable_and_no_blob_url_fails() -> None:
    result = openkvs("serve", env={"OPENKVS_DATABASE_URL": NOWHERE})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == NO_BLOB_URL


def test_serve_with_a_malformed_blob_url_fails_in_one_line() -> None:
    result = openkvs("serve", "--database-url", NOWHERE, "--blob-url", "my-bucket")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last == "Error: --blob-url must look like s3://bucket/prefix, not 'my-bucket'"
    assert "Traceback" not in result.stderr


def test_check_of_a_database_url_without_a_blob_url_fails_in_one_line() -> None:
    result = openkvs("check", "--database-url", NOWHERE)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == NO_BLOB_URL


def test_a_scaleout_backend_without_a_blob_url_refuses_to_serve() -> None:
    """What `openkvs user` and `openkvs token` open: no bucket is assumed, and serving records
    needs one (it fails before connecting to the database)."""
    from openkvs.backends.factory import open_backend

    backend = open_backend(Settings(database_url=NOWHERE))
    with pytest.raises(ValueError, match="blob URL"):
        asyncio.run(backend.start(serve=True))
