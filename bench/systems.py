"""The systems under test: openkvs (embedded store, default flags: strict durability, access log
on), openkvs-nolog and openkvs-nometrics (the same with `--no-access-log` or `--no-metrics`, for
the cost of each alone), SeaweedFS's
S3 gateway (`weed mini`, anonymous access), nginx (static files, one worker), and the floor (a
Python ASGI app that stores nothing, on openkvs's HTTP stack: bench/floor_app.py). All on
127.0.0.1."""

from __future__ import annotations

import json
import os
import sys
from abc import ABC, abstractmethod
from pathlib import Path

from bench.procs import HOST, BenchError, Proc, ProcGroup, free_ports, http_request, wait_until
from bench.tools import find_binary, openkvs_binary, weed_binary

TOKEN = "bench-token"
STORE_NAME = "bench"
BUCKET = "bench"


class System(ABC):
    """One server: where its records live and how to make sure one exists."""

    name: str
    port: int
    proc: Proc | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @abstractmethod
    def record_path(self, key: str) -> str:
        """The URL path of a record / object / file."""

    def auth_headers(self) -> dict[str, str]:
        """Headers every request needs (wrk -H)."""
        return {}

    @abstractmethod
    def ensure_record(self, key: str, body: bytes) -> None:
        """Store `body` under `key` and check that a GET returns it."""

    def _check_get(self, key: str, body: bytes) -> None:
        status, got = http_request(
            self.port, "GET", self.record_path(key), None, self.auth_headers()
        )
        if status != 200 or got != body:
            raise BenchError(f"{self.name}: GET {key} after writing it: {status}, {len(got)} bytes")

    def command_line(self) -> str:
        return " ".join(self.proc.command) if self.proc else "(not started)"


class OpenKvs(System):
    """`openkvs serve` on the embedded store with its default flags (strict durability, access
    log on): what users get. Only --host, --port, --data-dir and --token are given."""

    def __init__(
        self,
        group: ProcGroup,
        root: Path,
        name: str = "openkvs",
        launcher: list[str] | None = None,
        flags: tuple[str, ...] = (),
    ) -> None:
        """`launcher` replaces the `openkvs` command (bench/ladder.py's variants); `flags` are
        added to the default ones (`--no-access-log` for openkvs-nolog, `--no-metrics` for
        openkvs-nometrics: measured apart, for the cost of the log and of the metrics)."""
        self.group = group
        self.launcher = launcher
        self.flags = flags
        self.root = root
        self.name = name
        self.data_dir = root / "data"
        self.store_id = ""

    def start(self, store_id: str | None = None) -> None:
        """Start on `self.data_dir`; create the store `bench` unless `store_id` names one."""
        self.port = free_ports(1)[0]
        command = [
            *(self.launcher or [openkvs_binary()]),
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--token",
            TOKEN,
            *self.storage_flags(),
            *self.flags,
        ]
        # No OPENKVS_* setting of the calling shell may change what is measured.
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKVS_")}
        env.update(self.extra_env())
        self.proc = self.group.spawn(self.name, command, self.root / "server.log", env=env)

        def ready() -> bool:
            status, _ = http_request(self.port, "GET", "/v2/users/me", None, self.auth_headers())
            return status == 200

        wait_until("answer on /v2/users/me", ready, self.proc)
        self.store_id = store_id or self.create_store(STORE_NAME)

    def storage_flags(self) -> list[str]:
        """Where the records live: the embedded store in `data_dir`."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return ["--data-dir", str(self.data_dir)]

    def extra_env(self) -> dict[str, str]:
        return {}

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def create_store(self, name: str) -> str:
        status, body = http_request(
            self.port, "POST", f"/v2/key-value-stores?name={name}", None, self.auth_headers()
        )
        if status not in (200, 201):
            raise BenchError(f"openkvs: creating store {name}: {status} {body[:200]!r}")
        store_id: str = json.loads(body)["data"]["id"]
        return store_id

    def record_path(self, key: str) -> str:
        return f"/v2/key-value-stores/{self.store_id}/records/{key}"

    def keys_path(self) -> str:
        return f"/v2/key-value-stores/{self.store_id}/keys?limit=1000"

    def ensure_record(self, key: str, body: bytes) -> None:
        headers = {**self.auth_headers(), "Content-Type": "application/octet-stream"}
        status, answer = http_request(self.port, "PUT", self.record_path(key), body, headers)
        if status not in (200, 201):
            raise BenchError(f"openkvs: PUT {key}: {status} {answer[:200]!r}")
        self._check_get(key, body)


# `weed mini`'s listening ports. Each gRPC port is its HTTP port + 10000 (weed's own default
# rule, which its embedded admin worker assumes whatever -admin.port.grpc says).
WEED_HTTP_PORTS = ["master.port", "volume.port", "filer.port", "s3.port", "admin.port"]
WEED_OTHER_PORTS = ["webdav.port", "debug.port", "s3.debug.port"]
GRPC_OFFSET = 10000


class SeaweedFS(System):
    """`weed mini` with its S3 gateway, anonymous access to the pre-created bucket `bench`."""

    def __init__(self, group: ProcGroup, root: Path) -> None:
        self.group = group
        self.root = root
        self.name = "SeaweedFS"
        self.ports: dict[str, int] = {}

    def start(self) -> None:
        root = self.root
        for sub in ("data", "logs", "webdav-cache"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        http_ports = free_ports(len(WEED_HTTP_PORTS), grpc_offset=GRPC_OFFSET)
        taken = set(http_ports) | {p + GRPC_OFFSET for p in http_ports}
        other = [p for p in free_ports(len(WEED_OTHER_PORTS) + 6) if p not in taken]
        self.ports = dict(zip(WEED_HTTP_PORTS, http_ports, strict=True))
        for name, port in zip(WEED_HTTP_PORTS, http_ports, strict=True):
            self.ports[name + ".grpc"] = port + GRPC_OFFSET
        self.ports.update(zip(WEED_OTHER_PORTS, other, strict=False))
        self.port = self.ports["s3.port"]
        command = [
            weed_binary(),
            f"-logdir={root / 'logs'}",
            "mini",
            f"-dir={root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            # The Iceberg catalog and Lance namespace servers: 0 switches them off.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-admin.ui=false",
            f"-filer.localSocket={root / 'filer.sock'}",
            f"-s3.localSocket={root / 's3.sock'}",
            f"-webdav.cacheDir={root / 'webdav-cache'}",
            f"-bucket={BUCKET}",
        ]
        # No -s3.config and no AWS_* credentials in the environment: weed mini then creates no
        # identity and serves the buckets it pre-created (-bucket) to anonymous requests.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "S3_", "WEED_", "SEAWEEDFS_"))
        }
        env["TMPDIR"] = str(root)
        self.proc = self.group.spawn(self.name, command, root / "weed.log", cwd=root, env=env)

        probe = b"anonymous-probe"
        last_status = [0]

        def writable() -> bool:
            # While the bucket is being created an anonymous PUT gets 403 too: keep trying.
            status, _ = http_request(self.port, "PUT", self.record_path("readiness"), probe)
            last_status[0] = status
            if status != 200:
                return False
            status, got = http_request(self.port, "GET", self.record_path("readiness"))
            return status == 200 and got == probe

        try:
            wait_until("anonymous PUT and GET on its S3 port", writable, self.proc, timeout=90)
        except BenchError as exc:
            if last_status[0] == 403:
                raise BenchError(
                    "SeaweedFS keeps refusing anonymous PUTs (403): is an identity configured "
                    f"(AWS_ACCESS_KEY_ID, an s3 config)?\n{exc}"
                ) from exc
            raise

    def record_path(self, key: str) -> str:
        return f"/{BUCKET}/{key}"

    def ensure_record(self, key: str, body: bytes) -> None:
        status, answer = http_request(
            self.port,
            "PUT",
            self.record_path(key),
            body,
            {"Content-Type": "application/octet-stream"},
        )
        if status != 200:
            raise BenchError(f"SeaweedFS: PUT {key}: {status} {answer[:200]!r}")
        self._check_get(key, body)


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {root}/nginx.pid;
error_log stderr warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path {root}/client_body;
    server {{
        listen {host}:{port};
        root {root}/www;
    }}
}}
"""


class Nginx(System):
    """nginx serving static files from a temp dir, one worker, no access log."""

    def __init__(self, group: ProcGroup, root: Path) -> None:
        self.group = group
        self.root = root
        self.name = "nginx"
        self.www = root / "www"

    def start(self) -> None:
        binary = find_binary("nginx")
        if binary is None:
            raise BenchError("nginx is missing (apt-get install -y nginx-light)")
        self.www.mkdir(parents=True, exist_ok=True)
        (self.root / "client_body").mkdir(exist_ok=True)
        # The worker runs as `nobody`: it must be able to reach the files (the directories
        # above self.root must be searchable by others too: see run.py).
        for path in (self.root, self.www):
            path.chmod(0o755)
        self.port = free_ports(1)[0]
        conf = self.root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(root=self.root, host=HOST, port=self.port))
        command = [
            binary,
            "-p",
            str(self.root),
            "-e",
            "stderr",
            "-c",
            str(conf),
        ]
        self.proc = self.group.spawn(self.name, command, self.root / "nginx.out", cwd=self.root)
        probe = b"nginx-probe"
        (self.www / "readiness").write_bytes(probe)

        def ready() -> bool:
            status, got = http_request(self.port, "GET", "/readiness")
            return status == 200 and got == probe

        wait_until("GET of a static file", ready, self.proc)

    def record_path(self, key: str) -> str:
        return f"/{key}"

    def ensure_record(self, key: str, body: bytes) -> None:
        target = self.www / key
        tmp = target.with_name(key + ".tmp")
        tmp.write_bytes(body)
        tmp.chmod(0o644)
        tmp.replace(target)
        self._check_get(key, body)


class Floor(System):
    """bench/floor_app.py: a Python ASGI app with no storage on openkvs's HTTP stack."""

    def __init__(self, group: ProcGroup, root: Path) -> None:
        self.group = group
        self.root = root
        self.name = "floor"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_ports(1)[0]
        command = [
            sys.executable,
            "-m",
            "bench.floor_app",
            "--host",
            HOST,
            "--port",
            str(self.port),
        ]
        self.proc = self.group.spawn(self.name, command, self.root / "floor.log")
        probe = b"floor-probe"

        def ready() -> bool:
            status, _ = http_request(self.port, "PUT", self.record_path("readiness"), probe)
            return status == 201

        wait_until("PUT on /r/readiness", ready, self.proc)

    def record_path(self, key: str) -> str:
        return f"/r/{key}"

    def ensure_record(self, key: str, body: bytes) -> None:
        status, answer = http_request(self.port, "PUT", self.record_path(key), body)
        if status != 201:
            raise BenchError(f"floor: PUT {key}: {status} {answer[:200]!r}")
        self._check_get(key, body)
