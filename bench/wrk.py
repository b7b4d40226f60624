"""Running wrk (one thread, loopback) and reading its figures."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.procs import BenchError
from bench.tools import REPO, find_binary

LUA_DIR = Path(__file__).resolve().parent / "lua"
TIMEOUT = "10s"  # wrk's per-request timeout (its default, 2 s, is short for 1 MiB PUTs)


@dataclass
class WrkResult:
    command: str
    output: str
    requests: int
    duration_s: float
    bytes_read: int
    non_2xx: int  # "Non-2xx or 3xx responses: N" (wrk counts statuses above 399)
    socket_errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def problem(self) -> str | None:
        """Why this run does not count (None when it does)."""
        parts = []
        if self.non_2xx:
            parts.append(f"{self.non_2xx} non-2xx")
        parts += [f"{n} socket {kind} errors" for kind, n in self.socket_errors.items() if n]
        if self.requests == 0:
            parts.append("no request completed")
        return ", ".join(parts) or None


_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def run_wrk(
    url: str,
    *,
    connections: int,
    duration: float,
    headers: Mapping[str, str] | None = None,
    script: str | None = None,
    script_args: Sequence[str] = (),
    latency: bool = False,
    stop_file: Path | None = None,
) -> WrkResult:
    """One wrk run; with `stop_file`, it is ended (SIGINT) once the script creates that file."""
    wrk = find_binary("wrk")
    if wrk is None:
        raise BenchError("wrk is missing (apt-get install -y wrk)")
    command = [wrk, "-t1", f"-c{connections}", f"-d{duration:g}s", f"--timeout={TIMEOUT}"]
    if latency:
        command.append("--latency")
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    # Every script (summary.lua alone for plain GETs) is given relative to the repository root,
    # where wrk runs, so the commands in the report can be pasted there.
    script_path = LUA_DIR / f"{script or 'summary'}.lua"
    command += ["-s", str(script_path.relative_to(REPO)), url]
    if script_args:
        command += ["--", *script_args]
    shown = shlex.join(command)
    deadline = time.monotonic() + duration + 120
    with subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        signalled = False
        try:
            while True:
                try:
                    output, _ = proc.communicate(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if time.monotonic() > deadline:
                    raise BenchError(f"wrk did not finish: {shown}")
                # wrk's main thread sleeps out -d; SIGINT ends it early, with its summary.
                if stop_file is not None and not signalled and stop_file.exists():
                    proc.send_signal(signal.SIGINT)
                    signalled = True
        except BaseException:
            proc.kill()
            raise
    line = next((ln for ln in output.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({proc.returncode}): {shown}\n{output}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    non_2xx_match = _NON_2XX.search(output)
    non_2xx = int(non_2xx_match.group(1)) if non_2xx_match else 0
    socket_match = _SOCKET.search(output)
    kinds = ("connect", "read", "write", "timeout")
    if socket_match:
        socket_errors = {k: int(v) for k, v in zip(kinds, socket_match.groups(), strict=True)}
    else:
        socket_errors = {k: int(data[k]) for k in kinds}
    return WrkResult(
        command=shown,
        output="\n".join(ln for ln in output.splitlines() if not ln.startswith("BENCH_JSON ")),
        requests=int(data["requests"]),
        duration_s=float(data["duration_us"]) / 1e6,
        bytes_read=int(data["bytes"]),
        non_2xx=max(non_2xx, int(data["status"])),
        socket_errors=socket_errors,
        p50_ms=float(data["p50_us"]) / 1000,
        p90_ms=float(data["p90_us"]) / 1000,
        p99_ms=float(data["p99_us"]) / 1000,
        mean_ms=float(data["mean_us"]) / 1000,
        max_ms=float(data["max_us"]) / 1000,
    )
