"""The data directory is private to the server's user (behaviour.md#operations): 0700 for it, 0600
for its files."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
# SQLite gives its -wal and -shm files the mode of the database file, so the database is created
# (or corrected) first.
DB_SIDE_FILES = ("", "-wal", "-shm")


def make_private(data_dir: Path, db_path: Path) -> None:
    """Create the data directory private, or make an existing one private (older openkvs versions
    left it and the database readable by everyone)."""
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(data_dir, DIR_MODE)
    os.close(os.open(db_path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    for suffix in DB_SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{db_path}{suffix}", FILE_MODE)
    for name in ("tmp", "blobs"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(data_dir / name, DIR_MODE)
