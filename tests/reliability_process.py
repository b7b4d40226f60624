"""Servers for the reliability tests: run under a wrapper (strace), log outside the data directory,
and a way to read the server's resident memory.

`WrappedServer` is a `ServerProcess` whose command is prefixed by `wrapper` (for example
`["strace", "-f", "-o", trace, "--"]`). Its `proc` is then the wrapper; `server_pid` is the openkvs
process itself (the wrapper's child), which is what `stop()` signals, so that the wrapper ends
when its tracee does and flushes what it wrote.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from tests.server_process import BackendConfig, ServerProcess


class WrappedServer(ServerProcess):
    def __init__(
        self,
        data_dir: Path,
        *,
        wrapper: Sequence[str] = (),
        log_path: Path | None = None,
        extra_args: list[str] | None = None,
        backend: BackendConfig | str | None = None,
        token: str = "test-token-owner",
    ) -> None:
        super().__init__(data_dir, token=token, extra_args=extra_args, backend=backend)
        self.wrapper = list(wrapper)
        if log_path is not None:
            self.log_path = log_path

    def command(self) -> list[str]:
        return [
            *self.wrapper,
            sys.executable,
            "-m",
            "openkvs",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--token",
            self.token,
            "--username",
            self.username,
            *self.backend.extra_args,
            *self.extra_args,
        ]

    def start(self, timeout: float = 30.0) -> WrappedServer:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.backend.env, **self.env},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"openkvs exited early:\n{self.log()}")
            try:
                response = httpx.get(
                    f"{self.url}/v2/users/me",
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=1.0,
                )
                if response.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"openkvs did not start in {timeout}s:\n{self.log()}")

    @property
    def server_pid(self) -> int:
        """The openkvs process: the wrapper's only child, or `proc` itself without a wrapper."""
        assert self.proc is not None
        if not self.wrapper:
            return self.proc.pid
        children_file = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        children = [int(pid) for pid in children_file.read_text().split()]
        assert len(children) == 1, f"expected one child of the wrapper, found {children}"
        return children[0]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if not self.wrapper:
            super().stop()
            return
        pid: int | None = None
        with contextlib.suppress(OSError, AssertionError):
            pid = self.server_pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
            return
        except subprocess.TimeoutExpired:
            pass
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (psutil when installed, else /proc/<pid>/status)."""
    try:
        import psutil
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS in /proc/{pid}/status") from None
    return int(psutil.Process(pid).memory_info().rss)
