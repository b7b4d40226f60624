"""The embedded store's directory as the maintenance commands see it: where things are, whether
a server holds it, and copying files into another directory."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from openkvs.backends.embedded.blobs import fsync_dir

DB_FILE = "openkvs.db"


class MaintenanceError(Exception):
    """A command cannot go on; the message says why, for the person running it."""


def require_store(data_dir: Path) -> Path:
    db = data_dir / DB_FILE
    if not db.is_file():
        raise MaintenanceError(f"{data_dir} holds no openkvs store (no {DB_FILE} in it)")
    return db


def body_file(data_dir: Path, blob: str) -> Path | None:
    """Where a committed body file is: blobs/ once published, tmp/ just after its commit."""
    for path in (data_dir / "blobs" / blob[:2] / blob, data_dir / "tmp" / blob):
        if path.is_file():
            return path
    return None


def listed_body_files(data_dir: Path) -> dict[str, Path]:
    """Every file under blobs/, by name."""
    found: dict[str, Path] = {}
    blobs = data_dir / "blobs"
    if blobs.is_dir():
        for shard in os.scandir(blobs):
            if shard.is_dir():
                for entry in os.scandir(shard.path):
                    if entry.is_file():
                        found[entry.name] = Path(entry.path)
    return found


def link_or_copy(source: Path, target: Path) -> bool:
    """Hard-link `source` at `target` (True) or, across file systems, copy it (False). Body
    files are never changed in place, so a link is as good as a copy and costs no space."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.link(source, target)
        return True
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
    shutil.copyfile(source, target)
    os.chmod(target, 0o600)
    fsync_file(target)
    return False


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Every directory under `root` (and `root`) flushed: their entries survive a power loss."""
    for directory, _, _ in os.walk(root):
        fsync_dir(Path(directory))
