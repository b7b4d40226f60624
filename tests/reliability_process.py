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
from collections.abc import Sequence
from pathlib import Path

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
        return [*self.wrapper, *super().command()]

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
