"""W8's records: the same 10,000 bodies of 1 KiB on every system, written once per benchmark run
before W8's first round, then a sample read back.

Every request of W8 names a record drawn at random among these (bench/lua/get_random.lua), so no
answer can be replayed from a one-key memo as W1's can. The fill is timed and printed, and it is
never part of a measured run.
"""

from __future__ import annotations

import http.client
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.procs import HOST, BenchError, http_request
from bench.systems import Nginx, System

COUNT = 10_000
KEY_FORMAT = "w8-%05d"  # printf-style, shared with the Lua script: w8-00000 .. w8-09999
SIZE = 1024
# Keep-alive connections writing at once: enough for openkvs's strict writes to be grouped, few
# enough to leave the busy machine's two cores to the servers.
FILL_CONNECTIONS = 16
SAMPLE = 100  # random keys read back after the fill, besides the first and the last


def key(index: int) -> str:
    return KEY_FORMAT % index


def body(name: str) -> bytes:
    """The record's 1 KiB, derived from its key: distinct per key, the same on every system and
    run (random.Random seeds from a str by its SHA-512, not by the salted hash())."""
    return random.Random(name).randbytes(SIZE)


@dataclass
class Fill:
    system: str
    seconds: float
    how: str
    checked: int

    def describe(self) -> str:
        return (
            f"{self.system}: {COUNT:,} records written in {self.seconds:.1f} s ({self.how}), "
            f"{self.checked} read back equal"
        )


def _put_keys(system: System, names: list[str]) -> None:
    """PUT each of `names` over one keep-alive connection."""
    headers = {**system.auth_headers(), "Content-Type": "application/octet-stream"}
    conn = http.client.HTTPConnection(HOST, system.port, timeout=60)
    try:
        for name in names:
            conn.request("PUT", system.record_path(name), body=body(name), headers=headers)
            response = conn.getresponse()
            answer = response.read()
            if response.status not in (200, 201):
                raise BenchError(f"{system.name}: PUT {name}: {response.status} {answer[:200]!r}")
    finally:
        conn.close()


def _write_files(nginx: Nginx, names: list[str]) -> None:
    for name in names:
        target = nginx.www / name
        target.write_bytes(body(name))
        target.chmod(0o644)  # nginx's worker runs as nobody


def sample_keys(count: int = COUNT, size: int = SAMPLE) -> list[str]:
    """The keys read back after a fill: the first, the last and `size` drawn at random."""
    drawn = random.Random(8).sample(range(1, count - 1), size)
    return [key(i) for i in (0, count - 1, *drawn)]


def check_sample(system: System) -> int:
    """GET the sample keys; every one must answer its own body. Returns how many were read."""
    names = sample_keys()
    for name in names:
        status, got = http_request(
            system.port, "GET", system.record_path(name), None, system.auth_headers()
        )
        if status != 200 or got != body(name):
            raise BenchError(
                f"{system.name}: GET {name} after the fill: {status}, {len(got)} bytes"
            )
    return len(names)


def fill(system: System) -> Fill:
    """Write the W8 records to `system` (nginx: as files; the others: PUTs) and check a sample."""
    names = [key(i) for i in range(COUNT)]
    started = time.monotonic()
    if isinstance(system, Nginx):
        _write_files(system, names)
        how = "files written into nginx's root"
    else:
        slices = [names[i::FILL_CONNECTIONS] for i in range(FILL_CONNECTIONS)]
        with ThreadPoolExecutor(FILL_CONNECTIONS) as pool:
            # list(): re-raises the first failure of any connection
            list(pool.map(lambda part: _put_keys(system, part), slices))
        how = f"PUTs over {FILL_CONNECTIONS} keep-alive connections"
    seconds = time.monotonic() - started
    return Fill(system.name, seconds, how, check_sample(system))
