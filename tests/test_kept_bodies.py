"""Record bodies kept in memory (core/kept_bodies.py): what is kept, within which bounds, and that
a GET never shows a kept copy of anything but the record's current version.

The first tests call the parts directly; the rest talk to real servers on every backend, reading
the body cache's numbers from /metrics (`openkvs_cache_lookups_total{cache="body"}`,
`openkvs_body_cache_bytes`)."""

from __future__ import annotations

import asyncio
import gzip
import io
import zipfile
from collections.abc import AsyncIterator

import pytest

from openkvs.core.kept_bodies import ENTRY_LIMIT, KeepingStream, KeptBodies
from tests.http_helpers import (
    create_store,
    etag_of,
    owner_client,
    raw_get_without_accept_encoding,
    raw_request,
    record_url,
)
from tests.metrics_scrape import scrape, value
from tests.server_process import MakeServer, ServerProcess

KiB = 1024
MiB = 1024 * KiB


def test_the_least_recently_used_body_goes_first_within_the_bound() -> None:
    kept = KeptBodies(3 * KiB)
    for name in ("a", "b", "c"):
        kept.keep(name, name.encode() * KiB)
    assert kept.get("a") == b"a" * KiB  # now the most recently used
    kept.keep("d", b"d" * KiB)
    assert kept.get("b") is None
    assert [kept.get(n) is not None for n in ("a", "c", "d")] == [True, True, True]
    assert kept.size == 3 * KiB


def test_a_body_over_the_entry_limit_or_the_whole_bound_is_not_kept() -> None:
    kept = KeptBodies(64 * MiB)
    kept.keep("at-limit", b"x" * ENTRY_LIMIT)
    kept.keep("over-limit", b"x" * (ENTRY_LIMIT + 1))
    assert kept.get("at-limit") is not None
    assert kept.get("over-limit") is None
    small = KeptBodies(10)
    small.keep("eleven", b"x" * 11)
    assert small.get("eleven") is None and small.size == 0
    off = KeptBodies(0)
    off.keep("one", b"x")
    assert off.get("one") is None and off.size == 0


def test_lookups_are_counted_for_the_metrics() -> None:
    lookups = [0, 0]
    kept = KeptBodies(MiB, lookups)
    kept.keep("a", b"a")
    kept.get("a")
    kept.get("b")
    kept.get("b", miss_counts=False)
    assert lookups == [1, 1]


class Pieces:
    """A body stream yielding `data` in pieces of `piece` bytes."""

    def __init__(self, data: bytes, piece: int) -> None:
        self.data = data
        self.piece = piece
        self.closed = False

    async def chunks(self, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        end = len(self.data) if length is None else min(len(self.data), start + length)
        for at in range(start, end, self.piece):
            yield self.data[at : min(end, at + self.piece)]

    async def close(self) -> None:
        self.closed = True


def _read(stream: KeepingStream, start: int = 0, length: int | None = None) -> bytes:
    async def whole() -> bytes:
        return b"".join([chunk async for chunk in stream.chunks(start, length)])

    return asyncio.run(whole())


def test_only_a_read_of_the_whole_body_keeps_it() -> None:
    data = bytes(range(256)) * 40
    kept = KeptBodies(MiB)
    assert _read(KeepingStream(Pieces(data, 1000), "n", len(data), kept), 10, 100) == data[10:110]
    assert _read(KeepingStream(Pieces(data, 1000), "n", len(data), kept), 0, 100) == data[:100]
    assert kept.get("n") is None
    assert _read(KeepingStream(Pieces(data, 1000), "n", len(data), kept)) == data
    assert kept.get("n") == data


def test_a_short_read_keeps_nothing() -> None:
    """A body that came short of its recorded size (a truncated file or object) is not kept."""
    data = b"y" * 5000
    kept = KeptBodies(MiB)
    assert _read(KeepingStream(Pieces(data[:4000], 1000), "n", len(data), kept)) == data[:4000]
    assert kept.get("n") is None


def _body_numbers(proc: ServerProcess) -> tuple[float, float, float]:
    """(hits, misses, bytes kept) of the body cache, from /metrics."""
    samples = scrape(proc)
    return (
        value(samples, "openkvs_cache_lookups_total", cache="body", result="hit"),
        value(samples, "openkvs_cache_lookups_total", cache="body", result="miss"),
        value(samples, "openkvs_body_cache_bytes"),
    )


def test_a_record_read_again_is_answered_from_memory_and_follows_every_write(
    make_server: MakeServer,
) -> None:
    proc = make_server()
    first, second = b"1" * (200 * KiB), b"2" * (300 * KiB)
    with owner_client(proc) as http:
        store_id = create_store(http)["id"]
        url = record_url(store_id, "big")
        assert http.put(url, content=first).status_code in (200, 201)
        assert _body_numbers(proc) == (0, 0, 0)
        for _ in range(3):
            got = http.get(url)
            assert got.content == first and got.headers["etag"] == etag_of(first)
        assert _body_numbers(proc) == (2, 1, len(first))
        assert http.put(url, content=second).status_code in (200, 201)
        got = http.get(url)
        assert got.content == second and got.headers["etag"] == etag_of(second)
        assert http.put(url, content=b"small now").status_code in (200, 201)
        assert http.get(url).content == b"small now"
        assert http.put(url, content=first).status_code in (200, 201)
        assert http.get(url).content == first
        assert http.delete(url).status_code == 204
        assert http.get(url).status_code == 404


def test_ranges_conditions_and_heads_of_a_kept_body(make_server: MakeServer) -> None:
    proc = make_server()
    data = bytes(range(256)) * 1000
    with owner_client(proc) as http:
        store_id = create_store(http)["id"]
        url = record_url(store_id, "big")
        assert http.put(url, content=data).status_code in (200, 201)
        etag = http.get(url).headers["etag"]
        assert _body_numbers(proc)[2] == len(data)
        part = http.get(url, headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == data[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
        assert http.get(url, headers={"Range": "bytes=-10"}).content == data[-10:]
        assert http.get(url, headers={"If-None-Match": etag}).status_code == 304
        head = http.head(url)
        assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
        hits, _, _ = _body_numbers(proc)
        assert hits == 2  # the two ranges; a 304 needs no body


def test_an_encoded_kept_body_is_sent_as_the_client_accepts_it(make_server: MakeServer) -> None:
    proc = make_server()
    plain = bytes(range(256)) * 800
    stored = gzip.compress(plain, compresslevel=0)
    with owner_client(proc) as http:
        store_id = create_store(http)["id"]
        url = record_url(store_id, "zipped")
        put = http.put(url, content=stored, headers={"Content-Encoding": "gzip"})
        assert put.status_code in (200, 201)
        for _ in range(2):
            answer, sent = raw_request(http, "GET", url, headers={"Accept-Encoding": "gzip"})
            assert sent == stored and answer.headers["content-encoding"] == "gzip"
            answer, sent = raw_get_without_accept_encoding(http, url)
            assert sent == plain and "content-encoding" not in answer.headers
        assert _body_numbers(proc)[:2] == (3, 1)


def test_bodies_over_1_mib_are_not_kept_and_the_total_stays_within_the_setting(
    make_server: MakeServer,
) -> None:
    proc = make_server(["--body-cache", "1MiB"])
    bodies = {f"r{n}": bytes([n]) * (300 * KiB) for n in range(6)}
    bodies["exactly-1-mib"] = b"e" * MiB
    bodies["over-1-mib"] = b"o" * (MiB + 1)
    with owner_client(proc) as http:
        store_id = create_store(http)["id"]
        for key, data in bodies.items():
            assert http.put(record_url(store_id, key), content=data).status_code in (200, 201)
        for key, data in bodies.items():
            assert http.get(record_url(store_id, key)).content == data
            assert _body_numbers(proc)[2] <= MiB
        assert _body_numbers(proc) == (0, len(bodies), MiB)  # the last 1 MiB one, alone
        assert http.get(record_url(store_id, "exactly-1-mib")).content == bodies["exactly-1-mib"]
        assert _body_numbers(proc) == (1, len(bodies), MiB)
        for key in ("r0", "r1", "r2", "r2"):
            assert http.get(record_url(store_id, key)).content == bodies[key]
        assert _body_numbers(proc) == (2, len(bodies) + 3, 3 * 300 * KiB)


def test_body_cache_0_keeps_nothing(make_server: MakeServer) -> None:
    proc = make_server(["--body-cache", "0"])
    data = b"z" * (200 * KiB)
    with owner_client(proc) as http:
        store_id = create_store(http)["id"]
        url = record_url(store_id, "big")
        assert http.put(url, content=data).status_code in (200, 201)
        for _ in range(3):
            assert http.get(url).content == data
    assert _body_numbers(proc) == (0, 3, 0)


def test_a_zip_download_uses_kept_bodies_but_keeps_none(make_server: MakeServer) -> None:
    proc = make_server()
    bodies = {f"r{n}": bytes([65 + n]) * (100 * KiB) for n in range(3)}
    with owner_client(proc) as http:
        store_id = create_store(http)["id"]
        for key, data in bodies.items():
            assert http.put(record_url(store_id, key), content=data).status_code in (200, 201)
        assert http.get(record_url(store_id, "r0")).content == bodies["r0"]
        zipped = http.get(f"/v2/key-value-stores/{store_id}/records")
        assert zipped.status_code == 200, zipped.text
        with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
            assert {name: archive.read(name) for name in archive.namelist()} == bodies
    hits, misses, size = _body_numbers(proc)
    assert (hits, misses, size) == (1, 3, len(bodies["r0"]))


@pytest.mark.embedded_only("looks at the body files in the data directory")
def test_a_kept_body_is_sent_without_its_file(make_server: MakeServer) -> None:
    """What proves the copy in memory is what is sent: with the file gone behind the server's
    back, the kept record still answers, one never read whole does not."""
    proc = make_server()
    kept_data, cold_data = b"k" * (200 * KiB), b"c" * (200 * KiB)
    with owner_client(proc) as http:
        store_id = create_store(http)["id"]
        assert http.put(record_url(store_id, "kept"), content=kept_data).status_code == 201
        assert http.get(record_url(store_id, "kept")).content == kept_data
        assert http.put(record_url(store_id, "cold"), content=cold_data).status_code == 201
        files = [path for path in (proc.data_dir / "blobs").rglob("*") if path.is_file()]
        assert len(files) == 2
        for path in files:
            path.unlink()
        assert http.get(record_url(store_id, "kept")).content == kept_data
        assert http.get(record_url(store_id, "cold")).status_code == 404
        # A conditional GET answered 304 needs no body: it does not even open the file.
        matching = {"If-None-Match": etag_of(cold_data)}
        assert http.get(record_url(store_id, "cold"), headers=matching).status_code == 304
