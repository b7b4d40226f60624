"""A small tmpfs mounted for one test: a file system that can really be filled."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def mounted_tmpfs(mount_point: Path, mib: int) -> Iterator[Path]:
    """`mount_point` as a `mib` MiB tmpfs (skips the test where mounting is not allowed)."""
    mount_point.mkdir(exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={mib}m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a {mib} MiB tmpfs at {mount_point} (needs root or "
            f"CAP_SYS_ADMIN): {mounted.stderr.strip() or mounted.returncode}"
        )
    try:
        yield mount_point
    finally:
        for _ in range(50):
            if subprocess.run(["umount", str(mount_point)], check=False).returncode == 0:
                break
            time.sleep(0.2)
        else:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)
