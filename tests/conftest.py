"""Shared fixtures: real openkvs servers reached over HTTP, on every backend
(behaviour.md#backends).

The session fixture `backend` is parametrized over the backends (ids `embedded`, `scaleout`), so
every test that uses `server` (or `http`, `anon`, `store`, `base_url`, `token`, `other_user`,
`make_server`) runs once per backend. Pytest orders the tests so that all of one backend run
before the other. Select one with `-k embedded` / `-k scaleout`, or limit the backends with the
environment variable `OPENKVS_TEST_BACKENDS=embedded` (comma-separated).

Markers:
- `@pytest.mark.embedded_only("why")`: the test looks at the embedded store's own files; it is
  skipped on scale-out (where it has an equivalent, the reason names it).
- `@pytest.mark.scaleout_only("why")`: the reverse (multi-node, object store specifics).

The scale-out services (PostgreSQL, SeaweedFS) start on first use and stop at the session's end.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from tests.http_helpers import get_store, put_record
from tests.server_process import (
    BACKENDS,
    BackendConfig,
    MakeServer,
    ServerProcess,
    backend_config,
)


def selected_backends() -> list[str]:
    wanted = os.environ.get("OPENKVS_TEST_BACKENDS", ",".join(BACKENDS))
    names = [name.strip() for name in wanted.split(",") if name.strip()]
    unknown = set(names) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"OPENKVS_TEST_BACKENDS: unknown backend(s) {sorted(unknown)}")
    return names


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "embedded_only(reason): runs on the embedded backend only (skipped on others)"
    )
    config.addinivalue_line(
        "markers", "scaleout_only(reason): runs on the scale-out backend only (skipped on others)"
    )
    config.addinivalue_line(
        "markers",
        "reliability: crash, durability audit, concurrency, hostile input, disk full, soak",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip (before any fixture is set up) the backend variants that a marker rules out."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("backend") if callspec else None
        for marker_name, wanted in (("embedded_only", "embedded"), ("scaleout_only", "scaleout")):
            marker = item.get_closest_marker(marker_name)
            if marker is None:
                continue
            if name is None:
                raise pytest.UsageError(
                    f"{item.nodeid}: @{marker_name} without the backend fixture"
                )
            if name != wanted:
                reason = marker.args[0] if marker.args else f"{wanted} backend only"
                item.add_marker(pytest.mark.skip(reason=f"{wanted} only: {reason}"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    services = sys.modules.get("tests.services")
    if services is not None:
        services.stop_all()


# --- backends and servers ------------------------------------------------------------------------


@pytest.fixture(scope="session", params=selected_backends())
def backend(request: pytest.FixtureRequest) -> str:
    """The backend this test runs on: "embedded" or "scaleout"."""
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp(f"server-{backend}") / "data"
    proc = ServerProcess(data_dir, backend=backend_config(backend))
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def make_server(backend: str, tmp_path: Path) -> Iterator[MakeServer]:
    """A factory of dedicated servers on the current backend, all stopped after the test.

    make_server(extra_args=(), *, scaleout_args=(), embedded_args=(), share_with=None,
                token=..., username=..., env=None, start=True, backend_override=None)

    `scaleout_args`/`embedded_args` are added on that backend only; `share_with=proc` makes
    another node of `proc`'s deployment (same database and bucket prefix: scale-out only);
    `backend_override` (a BackendConfig) replaces the fresh store of the current backend.
    """
    made: list[ServerProcess] = []

    def make(
        extra_args: Sequence[str] = (),
        *,
        scaleout_args: Sequence[str] = (),
        embedded_args: Sequence[str] = (),
        share_with: ServerProcess | None = None,
        token: str = "test-token-owner",
        username: str = "tester",
        env: dict[str, str] | None = None,
        start: bool = True,
        backend_override: BackendConfig | None = None,
    ) -> ServerProcess:
        if share_with is not None:
            config = share_with.backend.shared()
        else:
            config = backend_override or backend_config(backend)
        args = [*extra_args, *(scaleout_args if config.is_scaleout else embedded_args)]
        data_dir = tmp_path / ("data" if not made else f"data-{len(made) + 1}")
        proc = ServerProcess(
            data_dir, token=token, username=username, extra_args=args, env=env, backend=config
        )
        made.append(proc)
        return proc.start() if start else proc

    try:
        yield make
    finally:
        for proc in reversed(made):
            proc.stop()


@pytest.fixture(scope="session")
def base_url(server: ServerProcess) -> str:
    return server.url


@pytest.fixture(scope="session")
def token(server: ServerProcess) -> str:
    return server.token


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    """A raw HTTP client with the owner's token."""
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=60
    ) as client:
        yield client


@pytest.fixture
def anon(server: ServerProcess) -> Iterator[httpx.Client]:
    """A raw HTTP client without any token."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture
def store_name() -> str:
    return "s-" + uuid.uuid4().hex[:12]


@pytest.fixture
def store(http: httpx.Client, store_name: str) -> dict[str, object]:
    """A fresh named store owned by the test user."""
    response = http.post("/v2/key-value-stores", params={"name": store_name})
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()["data"]
    return data


@pytest.fixture
def shared(http: httpx.Client, store: dict[str, object]) -> dict[str, str]:
    """A store with one record `k` = b"secret bytes"; its id, name and signing secret."""
    sid = str(store["id"])
    put_record(http, sid, "k", b"secret bytes", "text/plain")
    secret = get_store(http, sid)["urlSigningSecretKey"]
    return {"id": sid, "name": str(store["name"]), "secret": secret}


@pytest.fixture
def other_user(server: ServerProcess) -> str:
    """A token of a second user, made with `openkvs user create` on the live store."""
    return server.create_user()


def data_dir_of(server: ServerProcess) -> Path:
    return server.data_dir
