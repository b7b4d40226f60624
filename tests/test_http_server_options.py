"""Behaviour that depends on server options: public URL, default access, sizes, rate limits."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.http_helpers import (
    STORES,
    assert_error,
    create_store,
    key_names,
    list_keys,
    owner_client,
    put_record,
    record_url,
    run_server,
    set_access,
    unique_name,
)
from tests.server_process import MakeServer, ServerProcess

PUBLIC = "http://public.example:9999"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def public_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from run_server(
        tmp_path_factory.mktemp("public") / "data",
        ["--public-url", PUBLIC, "--default-general-access", "ANYONE_WITH_ID_CAN_READ"],
        backend,
    )


@pytest.fixture(scope="module")
def small_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from run_server(
        tmp_path_factory.mktemp("small") / "data", ["--max-record-size", "1MiB"], backend
    )


@pytest.fixture(scope="module")
def limited_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from run_server(
        tmp_path_factory.mktemp("limited") / "data",
        ["--rate-limit-records", "5", "--rate-limit-store", "5"],
        backend,
    )


# --- public URL -----------------------------------------------------------------------------------


def test_absolute_urls_use_public_url(public_server: ServerProcess) -> None:
    with owner_client(public_server) as http:
        response = http.post(STORES, params={"name": unique_name()})
        assert response.status_code == 201
        data = response.json()["data"]
        sid = data["id"]
        assert response.headers["location"] == f"{PUBLIC}{STORES}/{sid}"
        assert data["keysPublicUrl"].startswith(f"{PUBLIC}{STORES}/{sid}/keys?")
        assert data["recordsPublicUrl"].startswith(f"{PUBLIC}{STORES}/{sid}/records")
        response = put_record(http, sid, "k", b"v")
        assert response.headers["location"] == f"{PUBLIC}{STORES}/{sid}/records/k"
        item = list_keys(http, sid)["items"][0]
        assert item["recordPublicUrl"].startswith(f"{PUBLIC}{STORES}/{sid}/records/k?signature=")
        for text in (http.get(f"{STORES}/{sid}").text, http.get(f"{STORES}/{sid}/keys").text):
            assert "127.0.0.1" not in text


def test_public_urls_work_when_pointed_at_the_real_server(public_server: ServerProcess) -> None:
    with owner_client(public_server) as http, httpx.Client(timeout=60) as anon:
        data = create_store(http, unique_name(), "RESTRICTED")
        put_record(http, data["id"], "k", b"signed")
        item = list_keys(http, data["id"])["items"][0]

        def fetch(url: str) -> httpx.Response:
            response = anon.get(url.replace(PUBLIC, public_server.url))
            assert response.status_code == 200, (url, response.text)
            return response

        assert fetch(item["recordPublicUrl"]).content == b"signed"
        assert fetch(data["keysPublicUrl"]).json()["data"]["items"][0]["key"] == "k"
        assert fetch(data["recordsPublicUrl"]).content[:2] == b"PK"


def test_follow_user_setting_follows_default_general_access(public_server: ServerProcess) -> None:
    with (
        owner_client(public_server) as http,
        httpx.Client(base_url=public_server.url, timeout=60) as anon,
    ):
        data = create_store(http, unique_name(), "FOLLOW_USER_SETTING")
        put_record(http, data["id"], "k", b"v")
        assert anon.get(f"{STORES}/{data['id']}").status_code == 200
        assert anon.get(f"{STORES}/{data['id']}/keys").status_code == 200
        assert anon.get(record_url(data["id"], "k")).content == b"v"
        by_name = anon.get(f"{STORES}/tester~{data['name']}")  # not readable by name: "missing"
        assert_error(by_name, 404, "record-not-found")
        set_access(http, data["id"], "RESTRICTED")
        assert_error(anon.get(f"{STORES}/{data['id']}"), 403, "insufficient-permissions")
        assert_error(anon.get(record_url(data["id"], "k")), 403, "insufficient-permissions")


# --- record size ----------------------------------------------------------------------------------


def test_record_of_exactly_max_size_is_accepted(small_server: ServerProcess) -> None:
    with owner_client(small_server) as http:
        sid = create_store(http)["id"]
        put_record(http, sid, "k", b"x" * MIB)
        assert list_keys(http, sid)["items"][0]["size"] == MIB


def test_record_over_max_size_with_content_length_is_413(small_server: ServerProcess) -> None:
    with owner_client(small_server) as http:
        sid = create_store(http)["id"]
        response = http.put(record_url(sid, "k"), content=b"x" * (MIB + 1))
        assert "content-length" in response.request.headers
        assert_error(response, 413, "record-too-large")
        assert key_names(http, sid) == []


def test_oversized_content_length_is_refused_before_the_body_arrives(
    small_server: ServerProcess,
) -> None:
    with owner_client(small_server) as http:
        sid = create_store(http)["id"]
    head = (
        f"PUT {STORES}/{sid}/records/k HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {small_server.token}\r\nContent-Length: {2 * MIB}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", small_server.port), timeout=5) as sock:
        sock.sendall(head.encode() + b"x" * 100)  # the rest of the body never comes
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    with owner_client(small_server) as http:
        assert key_names(http, sid) == []


def test_chunked_record_over_max_size_is_413_and_old_value_kept(
    small_server: ServerProcess,
) -> None:
    with owner_client(small_server) as http:
        sid = create_store(http)["id"]
        put_record(http, sid, "k", b"old")

        def body() -> Iterator[bytes]:
            for _ in range(16):
                yield b"y" * (64 * 1024)
            yield b"!"

        response = http.put(record_url(sid, "k"), content=body())
        assert "content-length" not in response.request.headers
        assert_error(response, 413, "record-too-large")
        assert http.get(record_url(sid, "k")).content == b"old"
        response = http.put(record_url(sid, "fresh"), content=body())
        assert_error(response, 413, "record-too-large")
        assert key_names(http, sid) == ["k"]


# --- rate limits ----------------------------------------------------------------------------------


def burst(client: httpx.Client, url: str, n: int = 15) -> list[httpx.Response]:
    return [client.get(url) for _ in range(n)]


def test_record_reads_over_rate_limit_get_429_and_every_response_has_limit_header(
    limited_server: ServerProcess,
) -> None:
    with owner_client(limited_server) as http:
        sid = create_store(http)["id"]
        put_record(http, sid, "k", b"v")
        time.sleep(1.1)
        responses = burst(http, record_url(sid, "k"))
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 429}, statuses
        assert statuses.count(429) >= 1, statuses
        assert statuses.count(200) >= 1, statuses
        for response in responses:
            assert response.headers.get("x-ratelimit-limit") == "5", response.headers
        assert_error(next(r for r in responses if r.status_code == 429), 429, "rate-limit-exceeded")


def test_rate_limit_is_per_store_and_recovers(limited_server: ServerProcess) -> None:
    with owner_client(limited_server) as http:
        first = create_store(http)["id"]
        second = create_store(http)["id"]
        put_record(http, first, "k", b"1")
        put_record(http, second, "k", b"2")
        time.sleep(1.1)
        assert 429 in [r.status_code for r in burst(http, record_url(first, "k"))]
        assert http.get(record_url(second, "k")).status_code == 200
        time.sleep(1.1)
        response = http.get(record_url(first, "k"))
        assert response.status_code == 200
        assert response.content == b"1"


def test_store_requests_over_rate_limit_get_429(limited_server: ServerProcess) -> None:
    with owner_client(limited_server) as http:
        sid = create_store(http)["id"]
        time.sleep(1.1)
        responses = burst(http, f"{STORES}/{sid}/keys")
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 429}, statuses
        assert statuses.count(429) >= 1, statuses
        for response in responses:
            assert response.headers.get("x-ratelimit-limit") == "5", response.headers
        assert_error(next(r for r in responses if r.status_code == 429), 429, "rate-limit-exceeded")


def test_rate_limits_are_off_by_default(http: httpx.Client, store: dict[str, object]) -> None:
    put_record(http, str(store["id"]), "k", b"v")
    statuses = [r.status_code for r in burst(http, record_url(str(store["id"]), "k"), 40)]
    assert statuses == [200] * 40


# --- 5xx ------------------------------------------------------------------------------------------


@pytest.mark.embedded_only(
    "breaks the embedded store's spool directory; scale-out: "
    "test_server_error_when_the_object_store_goes_away"
)
def test_server_error_is_an_envelope_with_request_id_that_the_log_has(
    make_server: MakeServer,
) -> None:
    proc = make_server()
    data_dir = proc.data_dir
    with owner_client(proc) as http:
        sid = create_store(http)["id"]
        # Make large uploads fail inside the server: its spool directory becomes a plain file.
        spool = data_dir / "tmp"
        assert spool.is_dir(), sorted(p.name for p in data_dir.iterdir())
        spool.rmdir()
        spool.write_bytes(b"not a directory")
        response = http.put(record_url(sid, "big"), content=b"z" * 500_000)
        check_server_error(proc, response)
        put_record(http, sid, "small", b"still works")
        assert key_names(http, sid) == ["small"]


@pytest.mark.scaleout_only("cuts the connection to the object store")
def test_server_error_when_the_object_store_goes_away(make_server: MakeServer) -> None:
    from tests import services
    from tests.server_process import scaleout_config

    proxy = services.TcpProxy(services.seaweedfs().ports["s3.port"])
    try:
        proc = make_server(backend_override=scaleout_config(s3_endpoint=proxy.url))
        with owner_client(proc) as http:
            sid = create_store(http)["id"]
            put_record(http, sid, "before", b"y" * 500_000)  # through the object store
            proxy.cut()
            response = http.put(record_url(sid, "big"), content=b"z" * 500_000)
            check_server_error(proc, response)
            # Small bodies live in PostgreSQL: writing them does not need the object store.
            put_record(http, sid, "small", b"still works")
            assert key_names(http, sid) == ["before", "small"]
            proxy.restore()
            assert http.get(record_url(sid, "before")).content == b"y" * 500_000
            put_record(http, sid, "big", b"z" * 500_000)
            assert http.get(record_url(sid, "big")).content == b"z" * 500_000
    finally:
        proxy.close()


def check_server_error(proc: ServerProcess, response: httpx.Response) -> None:
    error = assert_error(response, 500)
    request_id = response.headers["x-request-id"]
    assert request_id
    assert "Traceback" not in response.text and "Error:" not in error["type"]
    assert request_id in proc.log()


# --- retention ------------------------------------------------------------------------------------


def test_unnamed_store_not_accessed_for_retention_period_is_deleted(
    make_server: MakeServer,
) -> None:
    proc = make_server(["--unnamed-retention", "2s"])
    with owner_client(proc) as http:
        idle = create_store(http)["id"]
        busy = create_store(http)["id"]
        named = create_store(http, unique_name())["id"]
        put_record(http, busy, "k", b"v")
        deadline = time.monotonic() + 6
        gone = False
        while time.monotonic() < deadline and not gone:
            assert http.get(record_url(busy, "k")).status_code == 200
            time.sleep(0.4)
            listed = [
                i["id"] for i in http.get(STORES, params={"unnamed": "1"}).json()["data"]["items"]
            ]
            gone = idle not in listed
        assert gone, "idle unnamed store still there after 6 s"
        assert_error(http.get(f"{STORES}/{idle}"), 404, "record-not-found")
        assert http.get(f"{STORES}/{busy}").status_code == 200
        assert http.get(f"{STORES}/{named}").status_code == 200
