"""W7: one large record through curl both ways, the server's memory, the bytes read back."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import subprocess
import threading
import time
from pathlib import Path

from bench.procs import BenchError, http_request
from bench.tools import find_binary
from bench.workloads import DOWN, RSS, UP, Context, MiB, Run

CHUNK = MiB


def make_file(path: Path, size: int) -> str:
    """Write `size` random bytes to `path`; their sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            block = os.urandom(min(CHUNK, left))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


def status_kib(pid: int) -> dict[str, int]:
    """The kB fields of /proc/<pid>/status (VmRSS, VmHWM...)."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0])
    return fields


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux 4.0+: write 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssSampler(threading.Thread):
    """The largest VmRSS seen, read every 10 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.peak_kib = max(self.peak_kib, status_kib(self.pid)["VmRSS"])
            self._halt.wait(0.01)

    def finish(self) -> int:
        self._halt.set()
        self.join(5)
        return self.peak_kib


def _curl() -> str:
    curl = find_binary("curl")
    if curl is None:
        raise BenchError("curl is missing (apt-get install -y curl)")
    return curl


def run_large(ctx: Context, system_name: str, rnd: int) -> Run:
    server = ctx.systems[system_name]
    if ctx.w7_file is None or server.proc is None:
        raise BenchError("W7 needs its file and a running server")
    size = ctx.w7_bytes
    key = f"w7-r{rnd}"
    url = server.base_url + server.record_path(key)
    auth = [arg for name, v in server.auth_headers().items() for arg in ("-H", f"{name}: {v}")]
    pid = server.proc.pid
    notes: list[str] = []

    reset_ok = reset_peak(pid)
    before_kib = status_kib(pid)["VmRSS"]
    sampler = RssSampler(pid)
    sampler.start()
    try:
        up_cmd = [
            _curl(),
            "-sS",
            "-T",
            str(ctx.w7_file),
            *auth,
            "-H",
            "Content-Type: application/octet-stream",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{time_total} %{size_upload}",
            url,
        ]
        done = subprocess.run(up_cmd, capture_output=True, text=True, timeout=1800)
        up_status, up_time, up_bytes = done.stdout.split()
        down_cmd = [_curl(), "-sS", *auth, "-w", "%{stderr}%{http_code} %{time_total}", url]
        digest = hashlib.sha256()
        got = 0
        started = time.monotonic()
        with subprocess.Popen(down_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as curl:
            assert curl.stdout is not None and curl.stderr is not None
            while block := curl.stdout.read(CHUNK):
                digest.update(block)
                got += len(block)
            err = curl.stderr.read().decode(errors="replace")
            curl.wait(60)
        wall = time.monotonic() - started
        down_status, down_time = err.split()[-2:]
    finally:
        peak_sampled = sampler.finish()
    after = status_kib(pid)
    peak_kib = max(after["VmHWM"] if reset_ok else 0, peak_sampled)
    growth_mib = (peak_kib - before_kib) / 1024
    notes.append(
        f"VmRSS before {before_kib / 1024:.0f} MiB, peak {peak_kib / 1024:.0f} MiB "
        f"(VmHWM {after['VmHWM'] / 1024:.0f} MiB{'' if reset_ok else ' (not reset)'}, "
        f"sampled {peak_sampled / 1024:.0f} MiB); curl upload {float(up_time):.2f} s, "
        f"download {float(down_time):.2f} s (until the last byte was hashed: {wall:.2f} s)"
    )

    problems = []
    if up_status not in ("200", "201") or int(float(up_bytes)) != size:
        problems.append(f"upload answered {up_status} after {up_bytes} bytes")
    if down_status != "200" or got != size:
        problems.append(f"download answered {down_status} with {got} bytes")
    sha_ok = digest.hexdigest() == ctx.w7_sha256
    if not sha_ok:
        problems.append("sha256 of the bytes read back differs from the file's")
    notes.append(f"sha256 read back {'equals' if sha_ok else 'DIFFERS FROM'} the file's")

    # Free the disk space (a later round writes its own key).
    http_request(server.port, "DELETE", server.record_path(key), None, server.auth_headers())
    values = {
        UP.key: size / MiB / float(up_time),
        DOWN.key: size / MiB / float(down_time),
        RSS.key: growth_mib,
    }
    return Run(
        "W7",
        system_name,
        rnd,
        values,
        "; ".join(problems) or None,
        [shlex.join(up_cmd), shlex.join(down_cmd) + " | sha256"],
        notes,
    )
