"""Start and stop a real openkvs server process for the tests, on either backend
(behaviour.md#backends).

A `BackendConfig` says which store a server uses: `embedded` (its own `--data-dir`) or `scaleout`
(PostgreSQL + S3 from tests/services.py). `backend_config("scaleout")` makes a fresh database and
a fresh bucket prefix; `config.shared()` gives the same ones again, for a second node of one
deployment.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from tests.services import Postgres, SeaweedFS

BACKENDS = ("embedded", "scaleout")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class BackendConfig:
    """Which store a server process uses, as command-line arguments and environment."""

    name: str = "embedded"
    extra_args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    # scale-out only: where its metadata and objects live
    database: str | None = None
    database_url: str | None = None
    bucket: str | None = None
    prefix: str | None = None

    @property
    def is_scaleout(self) -> bool:
        return self.name == "scaleout"

    def account_args(self, data_dir: Path) -> list[str]:
        """What `openkvs user|token ...` needs to reach this store."""
        if self.is_scaleout:
            assert self.database_url
            return ["--database-url", self.database_url]
        return ["--data-dir", str(data_dir)]

    def shared(self) -> BackendConfig:
        """A config for another node of the same deployment (same database, same prefix).

        The embedded store is one process's directory: there is no second node to share it.
        """
        if not self.is_scaleout:
            raise ValueError("only the scale-out backend has several nodes on one store")
        return self

    @property
    def objects_prefix(self) -> str:
        """Where the scale-out backend puts record bodies: `<prefix>/objects/<object>`."""
        assert self.prefix is not None
        return f"{self.prefix}/objects/"

    # Live handles on the services; importing tests.services only happens for scale-out.
    @property
    def postgres(self) -> Postgres:
        from tests import services

        return services.postgres()

    @property
    def s3(self) -> SeaweedFS:
        from tests import services

        return services.seaweedfs()


EMBEDDED = BackendConfig()


def scaleout_config(
    *, extra_args: tuple[str, ...] = (), s3_endpoint: str | None = None
) -> BackendConfig:
    """A fresh scale-out deployment: a new database and a new prefix in the shared bucket.

    Starts PostgreSQL and SeaweedFS on first use (once per session). `s3_endpoint` replaces the
    SeaweedFS address the server is given (a `services.TcpProxy` in front of it, say).
    """
    from tests import services

    pg, s3 = services.start_all()
    database = pg.create_database()
    prefix = "okvs-" + uuid.uuid4().hex[:16]
    url = pg.url(database)
    return BackendConfig(
        name="scaleout",
        extra_args=(
            "--database-url",
            url,
            "--blob-url",
            f"s3://{services.S3_BUCKET}/{prefix}",
            "--s3-endpoint",
            s3_endpoint or s3.endpoint,
            *extra_args,
        ),
        env=s3.env,
        database=database,
        database_url=url,
        bucket=services.S3_BUCKET,
        prefix=prefix,
    )


def backend_config(name: str | BackendConfig) -> BackendConfig:
    """A fresh store of the named backend (a config passed in is returned as it is)."""
    if isinstance(name, BackendConfig):
        return name
    if name == "embedded":
        return EMBEDDED
    if name == "scaleout":
        return scaleout_config()
    raise ValueError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")


class ServerProcess:
    """`python -m openkvs serve` on a free loopback port with its own data directory, on the
    backend its `BackendConfig` says (embedded by default)."""

    def __init__(
        self,
        data_dir: Path,
        token: str = "test-token-owner",
        username: str = "tester",
        extra_args: list[str] | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
        backend: BackendConfig | str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.token = token
        self.username = username
        self.extra_args = extra_args or []
        self.port = port or free_port()
        self.env = env or {}
        self.backend = backend_config(backend or EMBEDDED)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The server's command line (subclasses may wrap it, e.g. in strace)."""
        return [
            sys.executable,
            "-m",
            "openkvs",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--token",
            self.token,
            "--username",
            self.username,
            *self.backend.extra_args,
            *self.extra_args,
        ]

    def start(self, timeout: float = 30.0) -> ServerProcess:
        args = self.command()
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.backend.env, **self.env},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"openkvs exited early:\n{self.log()}")
            try:
                response = httpx.get(
                    f"{self.url}/v2/users/me",
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=1.0,
                )
                if response.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"openkvs did not start in {timeout}s:\n{self.log()}")

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def account_args(self) -> list[str]:
        """`--data-dir D` or `--database-url U`: what `openkvs user|token` needs for this store."""
        return self.backend.account_args(self.data_dir)

    def create_user(self, name: str | None = None) -> str:
        """`openkvs user create` on this server's store; returns the new user's token."""
        name = name or "u" + uuid.uuid4().hex[:10]
        out = subprocess.run(
            [sys.executable, "-m", "openkvs", "user", "create", name, *self.account_args()],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, f"user create failed ({out.returncode}):\n{out.stderr}"
        return out.stdout.strip().splitlines()[-1].strip()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no chance to flush or clean up."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()


# The `make_server` fixture's factory (see conftest.py).
MakeServer = Callable[..., ServerProcess]
