"""Read-after-write, concurrent writers (D10) and secrets kept out of logs (D7), over raw HTTP."""

from __future__ import annotations

import threading
import time
import uuid

import httpx

from tests.http_helpers import STORES, etag_of, put_record, record_url
from tests.server_process import ServerProcess


def test_every_read_sees_the_last_acknowledged_write(
    http: httpx.Client, store: dict[str, object]
) -> None:
    url = record_url(str(store["id"]), "counter")
    for i in range(30):
        body = str(i).encode() * (1 + i * 5000)  # crosses the inline/file threshold
        put_record(http, str(store["id"]), "counter", body, "text/plain")
        assert http.get(url).content == body, i


def test_concurrent_writers_never_produce_torn_reads(
    server: ServerProcess, store: dict[str, object]
) -> None:
    bodies = [bytes([65 + n]) * 200_000 for n in range(3)]
    url = record_url(str(store["id"]), "hot")
    problems: list[str] = []
    headers = {"Authorization": f"Bearer {server.token}"}

    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as first:
        put_record(first, str(store["id"]), "hot", bodies[0])

    def writer(body: bytes) -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            for _ in range(8):
                status = client.put(url, content=body).status_code
                if status != 201:
                    problems.append(f"PUT answered {status}")

    def reader() -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            for _ in range(15):
                response = client.get(url)
                if response.content not in bodies:
                    problems.append(f"torn read of {len(response.content)} bytes")
                elif response.headers.get("etag") != etag_of(response.content):
                    problems.append("ETag does not match the body it came with")

    threads = [threading.Thread(target=writer, args=(b,)) for b in bodies]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert problems == []
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        final = client.get(url)
        assert final.content in bodies
        items = client.get(f"{STORES}/{store['id']}/keys").json()["data"]["items"]
        assert [(i["key"], i["size"]) for i in items] == [("hot", 200_000)]


def test_tokens_are_not_written_to_the_log(
    server: ServerProcess, anon: httpx.Client, store: dict[str, object], other_user: str
) -> None:
    marker = "marker-" + uuid.uuid4().hex[:8]
    bogus = "bogus" + uuid.uuid4().hex
    anon.get(f"{STORES}/{store['id']}/records/{marker}", params={"token": server.token})
    anon.get(f"{STORES}/{store['id']}/records/{marker}", params={"token": other_user})
    anon.get(f"{STORES}/{store['id']}/records/{marker}", params={"token": bogus})
    anon.get(
        f"{STORES}/{store['id']}/records/{marker}",
        headers={"Authorization": f"Bearer {other_user}"},
    )
    deadline = time.monotonic() + 3
    while server.log().count(marker) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    log = server.log()
    assert log.count(marker) >= 4, "the access log has no line for these requests"
    assert other_user not in log
    assert bogus not in log
    after_start = log.split(marker, 1)[1]
    assert server.token not in after_start
