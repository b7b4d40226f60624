"""Processes (each in its own process group, stopped at the end whatever happens), ports, HTTP."""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

HOST = "127.0.0.1"


class BenchError(RuntimeError):
    """A failure that ends the benchmark (a system did not start, a tool is missing...)."""


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL when the benchmark process dies (even kill -9)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


@dataclass
class Proc:
    """A server started by the benchmark, leading its own process group."""

    name: str
    command: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to the whole group, SIGKILL after `grace` seconds."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(grace)
        # Whatever is left in the group (children of the leader), then the leader.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


@dataclass
class ProcGroup:
    """Every server of a run; `stop_all` stops them in reverse order of start."""

    procs: list[Proc] = field(default_factory=list)

    def spawn(
        self,
        name: str,
        command: list[str],
        log_path: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Proc:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            log.write(("$ " + " ".join(command) + "\n").encode())
            log.flush()
            popen = subprocess.Popen(
                command,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        proc = Proc(name, command, log_path, popen)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        while self.procs:
            proc = self.procs.pop()
            try:
                proc.stop()
            except Exception as exc:  # keep stopping the others
                print(f"warning: stopping {proc.name} (pid {proc.pid}): {exc}")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_ports(count: int, grpc_offset: int | None = None) -> list[int]:
    """`count` distinct free loopback ports; with `grpc_offset`, port + offset is free too."""
    chosen: list[int] = []
    taken: set[int] = set()
    held: list[socket.socket] = []
    try:
        while len(chosen) < count:
            sock = socket.socket()
            sock.bind((HOST, 0))
            held.append(sock)
            port = int(sock.getsockname()[1])
            if port in taken:
                continue
            if grpc_offset is not None:
                partner = port + grpc_offset
                if partner > 65535 or partner in taken or not _bindable(partner):
                    continue
                taken.add(partner)
            taken.add(port)
            chosen.append(port)
    finally:
        for sock in held:
            sock.close()
    return chosen


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes]:
    """One request on a fresh connection: (status, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_until(
    what: str,
    check: Callable[[], bool],
    proc: Proc,
    timeout: float = 60.0,
) -> None:
    """Poll `check` until it is true; fail early when `proc` exits."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not proc.alive():
            raise BenchError(
                f"{proc.name} exited ({proc.popen.returncode}) before {what}:\n{proc.log_tail()}"
            )
        try:
            if check():
                return
        except (OSError, http.client.HTTPException) as exc:
            last = exc
        time.sleep(0.2)
    raise BenchError(f"{proc.name}: no {what} in {timeout:.0f}s ({last!r}):\n{proc.log_tail()}")


def listening_ports(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of the TCP listeners of these processes (from `ss -ltnpH`)."""
    try:
        out = subprocess.run(
            ["ss", "-ltnpH"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found: list[tuple[str, int]] = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 6 or not any(f"pid={pid}," in parts[-1] for pid in pids):
            continue
        address, _, port = parts[3].rpartition(":")
        found.append((address, int(port)))
    return found


def group_pids(leader: int) -> set[int]:
    """The pids of a process group (leader included)."""
    pids = {leader}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) == leader:
                pids.add(int(entry.name))
        except OSError:
            continue
    return pids


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def exit_on_signals() -> None:
    """SIGTERM and SIGHUP end a benchmark as an exception does: through its `finally`, which
    stops every server it started."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)


_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command (the first is field 3, the state)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) so far of a process and its descendants (PostgreSQL's backends
    each start a session of their own), reaped children included."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parents[int(entry.name)] = int(_stat(int(entry.name))[1])
    tree, grew = {root}, True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= found
        grew = bool(found)
    total = 0
    for pid in tree:
        with contextlib.suppress(OSError):  # gone meanwhile
            # utime, stime, cutime, cstime: fields 14..17
            total += sum(int(v) for v in _stat(pid)[11:15])
    return total / _TICK
