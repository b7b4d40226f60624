"""Installing openkvs as users do: a wheel and an sdist built with `python -m build` (no
deprecation warning), `pip install` of the wheel and of a source tree in fresh virtual
environments, and `pipx install`; each installed `openkvs` starts and serves. The test tools
are not installed with it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.server_process import free_port

ROOT = Path(__file__).resolve().parent.parent
# What a clone holds that a build reads (the working tree minus caches and tests).
SOURCE_PARTS = ("pyproject.toml", "README.md", "src")


def run(*args: str | Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("clone")
    for part in SOURCE_PARTS:
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, tree / part, ignore=shutil.ignore_patterns("*.egg-info"))
        else:
            shutil.copy2(ROOT / part, tree / part)
    return tree


@pytest.fixture(scope="module")
def wheel(source_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    log = run(sys.executable, "-m", "build", "--outdir", out, source_tree)
    assert "deprecat" not in log.lower(), log
    assert sorted(p.suffix for p in out.iterdir()) == [".gz", ".whl"]
    return next(out.glob("*.whl"))


def fresh_venv(where: Path) -> Path:
    run(sys.executable, "-m", "venv", where)
    return where / "bin"


def serves(openkvs: Path, tmp_path: Path) -> None:
    """The installed command starts a server that creates a store, and stops on SIGTERM."""
    port = free_port()
    proc = subprocess.Popen(
        [openkvs, "serve", "--port", str(port), "--data-dir", tmp_path / "data", "--token", "t"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/v2/key-value-stores",
                    params={"name": "packaged"},
                    headers={"Authorization": "Bearer t"},
                    timeout=2,
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "did not start"
                time.sleep(0.1)
        assert response.status_code == 201, response.text
        assert httpx.get(f"http://127.0.0.1:{port}/console", timeout=5).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_the_wheel_installs_and_serves(wheel: Path, tmp_path: Path) -> None:
    bin_dir = fresh_venv(tmp_path / "venv")
    log = run(bin_dir / "pip", "install", wheel)
    assert "deprecat" not in log.lower(), log
    assert run(bin_dir / "openkvs", "--version").strip().endswith("0.1.0")
    installed = run(bin_dir / "pip", "list", "--format=freeze").lower().replace("_", "-")
    assert "prometheus-client" in installed and "pytest" not in installed
    assert "playwright" not in installed  # the test tools stay with make test
    serves(bin_dir / "openkvs", tmp_path)


def test_pip_install_from_a_source_tree(source_tree: Path, tmp_path: Path) -> None:
    bin_dir = fresh_venv(tmp_path / "venv")
    log = run(bin_dir / "pip", "install", source_tree)
    assert "deprecat" not in log.lower(), log
    assert run(bin_dir / "openkvs", "--version").strip().endswith("0.1.0")
    run(bin_dir / "openkvs", "check", "--help")


def test_pipx_install(wheel: Path, tmp_path: Path) -> None:
    env = {
        "PIPX_HOME": str(tmp_path / "pipx-home"),
        "PIPX_BIN_DIR": str(tmp_path / "pipx-bin"),
        "PIPX_MAN_DIR": str(tmp_path / "pipx-man"),
    }
    pipx = Path(sys.executable).parent / "pipx"
    run(pipx, "install", wheel, env=env)
    openkvs = tmp_path / "pipx-bin" / "openkvs"
    assert run(openkvs, "--version").strip().endswith("0.1.0")
    serves(openkvs, tmp_path)


def test_make_serve_installs_the_server_alone(source_tree: Path) -> None:
    shutil.copy2(ROOT / "Makefile", source_tree / "Makefile")
    plan = run("make", "-n", "-C", source_tree, "serve")
    assert "pip install -q -e ." in plan and "[test]" not in plan, plan
    assert "[test]" in run("make", "-n", "-C", source_tree, "lint")
