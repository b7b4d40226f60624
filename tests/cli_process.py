"""Running the `openkvs` command as a user would, for the tests of its subcommands."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without OPENKVS_* settings (they would change what is tested), with the
    source tree importable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKVS_")}
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def openkvs(
    *args: str | Path, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`openkvs ARGS...`, its output captured; `env` is added to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "openkvs", *map(str, args)],
        cwd=REPO,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
