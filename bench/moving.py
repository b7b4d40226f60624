"""How fast `openkvs copy` moves data between two local servers, and in how much memory.

    .venv/bin/python -m bench.moving [--records 10000] [--gib 1]

Two `openkvs serve` processes (embedded store, default flags) on this machine; the source is
filled through the API with RECORDS records of 1 KiB and one record of GIB GiB; then `openkvs
copy` runs once per --parallel value for the small records (a fresh destination each time), and
once for the large record. Printed: wall time, records or MiB a second, and the copy's peak RSS
(VmHWM, read while it runs).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.procs import ProcGroup
from bench.systems import TOKEN, OpenKvs

KiB = 1024
MiB = 1024 * KiB


def _fill_small(server: OpenKvs, count: int) -> None:
    url = f"http://127.0.0.1:{server.port}/v2/key-value-stores/{server.store_id}/records/"
    with httpx.Client(headers=server.auth_headers(), timeout=60) as client:

        def put(index: int) -> None:
            body = index.to_bytes(4, "big") * (KiB // 4)
            response = client.put(f"{url}r{index:06d}", content=body)
            response.raise_for_status()

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(put, range(count)))


def _fill_large(server: OpenKvs, size: int) -> None:
    block = os.urandom(MiB)

    def chunks() -> Iterator[bytes]:
        for _ in range(size // MiB):
            yield block

    url = f"http://127.0.0.1:{server.port}/v2/key-value-stores/{server.store_id}/records/large"
    headers = {**server.auth_headers(), "Content-Length": str(size)}
    with httpx.Client(timeout=600) as client:
        client.put(url, content=chunks(), headers=headers).raise_for_status()


def _copy(source: OpenKvs, dest: OpenKvs, *args: str) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in KiB, the summary line."""
    command = [
        sys.executable,
        "-m",
        "openkvs",
        "copy",
        "--from",
        f"http://127.0.0.1:{source.port}",
        "--from-token",
        TOKEN,
        "--to",
        f"http://127.0.0.1:{dest.port}",
        "--to-token",
        TOKEN,
        "--quiet",
        *args,
    ]
    began = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak = max(peak, int(status.split("VmHWM:")[1].split()[0]))
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"copy failed: {err}")
    return time.monotonic() - began, peak, out.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()
    group = ProcGroup()
    root = Path(tempfile.mkdtemp(prefix="okvs-moving-"))
    try:
        small = OpenKvs(group, root / "small", name="source-small")
        small.start()
        _fill_small(small, args.records)
        for parallel in args.parallel:
            dest = OpenKvs(group, root / f"dest-{parallel}", name=f"dest-{parallel}")
            dest.start()
            took, peak, line = _copy(small, dest, "--parallel", str(parallel), "bench")
            print(
                f"{args.records:,} records of 1 KiB, --parallel {parallel}: {took:.1f} s, "
                f"{args.records / took:,.0f} records/s, peak RSS {peak / 1024:.0f} MiB ({line})"
            )
        size = int(args.gib * 1024) * MiB
        large = OpenKvs(group, root / "large", name="source-large")
        large.start()
        _fill_large(large, size)
        dest = OpenKvs(group, root / "dest-large", name="dest-large")
        dest.start()
        took, peak, line = _copy(large, dest, "bench")
        print(
            f"one record of {size / MiB:,.0f} MiB: {took:.1f} s, {size / MiB / took:,.0f} MiB/s, "
            f"peak RSS {peak / 1024:.0f} MiB ({line})"
        )
    finally:
        group.stop_all()
        subprocess.run(["rm", "-rf", str(root)], check=False)


if __name__ == "__main__":
    main()
