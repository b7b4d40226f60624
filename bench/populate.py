"""W6's store of many keys: filled once through the API, kept under bench/.cache/ for later runs.

The cache directory is named after a version string (the population format, openkvs's version and
a digest of the embedded store's schema) and the key count; a half-built one is never reused."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bench.procs import BenchError, ProcGroup, http_request
from bench.systems import OpenKvs
from bench.wrk import run_wrk

CACHE_ROOT = Path(__file__).resolve().parent / ".cache"
POPULATE_FORMAT = 1  # bump when the keys, bodies or layout below change
KEY_FORMAT = "k%07d"
CONNECTIONS = 128
PAGE = 1000


def cache_version() -> str:
    """Population format, openkvs version and embedded schema digest, e.g. p1-0.1.0-3fa2c1d09e."""
    version = "unknown"
    schema = "unknown"
    spec = importlib.util.find_spec("openkvs")
    if spec is not None and spec.origin is not None:
        package = Path(spec.origin).parent
        migrations = package / "backends" / "embedded" / "migrations.py"
        if migrations.exists():
            schema = hashlib.sha256(migrations.read_bytes()).hexdigest()[:10]
        import openkvs

        version = openkvs.__version__
    return f"p{POPULATE_FORMAT}-{version}-{schema}"


@dataclass
class KeyStore:
    """A filled data directory: `count` records KEY_FORMAT % 0 .. count-1 in store `store_id`."""

    path: Path  # holds data/ (the openkvs data directory) and meta.json
    store_id: str
    count: int
    key_format: str
    populate_seconds: float
    reused: bool
    version: str

    @property
    def data_dir(self) -> Path:
        return self.path / "data"


def list_all_keys(server: OpenKvs) -> set[str]:
    keys: set[str] = set()
    start: str | None = None
    while True:
        path = server.keys_path() + (f"&exclusiveStartKey={start}" if start else "")
        status, body = http_request(server.port, "GET", path, None, server.auth_headers())
        if status != 200:
            raise BenchError(f"openkvs: listing keys: {status} {body[:200]!r}")
        data = json.loads(body)["data"]
        keys.update(item["key"] for item in data["items"])
        if not data["isTruncated"]:
            return keys
        start = data["nextExclusiveStartKey"]


def _fill(server: OpenKvs, count: int, done_file: Path) -> None:
    prefix = f"/v2/key-value-stores/{server.store_id}/records/"
    slack = 4 * CONNECTIONS
    print(f"W6: writing {count} keys into a new store ({CONNECTIONS} connections)...", flush=True)
    result = run_wrk(
        server.base_url + "/",
        connections=CONNECTIONS,
        duration=max(600.0, count / 50),  # an upper bound: ends at done_file
        headers={**server.auth_headers(), "Content-Type": "application/octet-stream"},
        script="populate",
        script_args=[prefix, str(count), KEY_FORMAT, str(slack), str(done_file)],
        stop_file=done_file,
    )
    print(f"W6: {result.requests} PUTs at {result.rps:.0f}/s ({result.problem or 'no errors'})")
    present = list_all_keys(server)
    expected = {KEY_FORMAT % i for i in range(count)}
    missing = sorted(expected - present)
    if missing:
        print(f"W6: {len(missing)} keys missing after wrk, writing them one by one")
    headers = {**server.auth_headers(), "Content-Type": "application/octet-stream"}
    for key in missing:
        status, body = http_request(server.port, "PUT", prefix + key, b"1", headers)
        if status not in (200, 201):
            raise BenchError(f"openkvs: PUT {key}: {status} {body[:200]!r}")
    extra = present - expected
    if extra:
        raise BenchError(f"W6 store has unexpected keys, e.g. {sorted(extra)[:3]}")
    if missing and len(list_all_keys(server)) != count:
        raise BenchError("W6 store does not hold the expected keys after filling")


def ensure_key_store(count: int, group: ProcGroup) -> KeyStore:
    """The cached store of `count` keys, filled through the API first if there is none."""
    version = cache_version()
    name = f"w6-{version}-{count}"
    final = CACHE_ROOT / name
    meta_path = final / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        return KeyStore(
            path=final,
            store_id=meta["store_id"],
            count=int(meta["count"]),
            key_format=meta["key_format"],
            populate_seconds=float(meta["populate_seconds"]),
            reused=True,
            version=version,
        )
    if final.exists():  # no meta.json: not finished
        shutil.rmtree(final)
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    for stale in CACHE_ROOT.glob(f"{name}.building-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if not (pid.isdigit() and Path(f"/proc/{pid}").exists()):
            shutil.rmtree(stale, ignore_errors=True)
    build = CACHE_ROOT / f"{name}.building-{os.getpid()}"
    build.mkdir()
    started = time.monotonic()
    server = OpenKvs(group, build, name="openkvs (filling W6 store)")
    try:
        server.start()
        _fill(server, count, build / "wrk-done")
    finally:
        if server.proc is not None:
            group.stop(server.proc)
    seconds = time.monotonic() - started
    meta = {
        "store_id": server.store_id,
        "count": count,
        "key_format": KEY_FORMAT,
        "populate_seconds": round(seconds, 1),
        "version": version,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (build / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    build.rename(final)
    print(f"W6: store of {count} keys cached in {final} ({seconds:.0f}s)")
    return KeyStore(final, server.store_id, count, KEY_FORMAT, seconds, False, version)
