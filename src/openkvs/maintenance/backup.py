"""`openkvs backup` and `openkvs restore` for the embedded store.

A backup is a directory shaped like a data directory: `openkvs.db` and the body files it names
under `blobs/`. It is consistent (one moment of the store) and can be taken while a server
keeps serving:

1. The backup takes a shared lock on `backup.hold` in the data directory. While any backup
   holds it, the server keeps the body files of overwritten or deleted records instead of
   removing them (they stay listed in `dead_blobs`, and go once the hold is released).
2. SQLite's online backup API copies the database as of one moment, without stopping writers.
3. Every body file that copy names is hard-linked into the backup (copied when the backup is on
   another file system). None can have been removed: a file goes only after the commit that
   stops its record using it, and any such commit after step 1 leaves the file in place; a
   commit before step 1 is in the snapshot of step 2, which then does not name the file.

The backup is built in a temporary directory beside DEST and renamed into place when complete,
so DEST never holds half a backup. Restore checks a backup like `openkvs check` does, copies it
the same way into a new directory beside the data directory, and renames it into place; it
refuses a directory that a server is using.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from openkvs.backends.embedded.backend import server_running
from openkvs.backends.embedded.blobs import HOLD_FILE, fsync_dir
from openkvs.maintenance.check_embedded import check_data_dir
from openkvs.maintenance.data_dir import (
    DB_FILE,
    MaintenanceError,
    body_file,
    fsync_file,
    fsync_tree,
    link_or_copy,
    require_store,
)

BACKUP_PAGES = -1  # the whole database in one step: one consistent snapshot


@dataclass
class CopySummary:
    records: int
    files: int
    linked: int  # of the files, how many are hard links (no space used)
    bytes: int  # database and body files

    def line(self, what: str, where: Path) -> str:
        return (
            f"{what} {where}: {self.records} records, {self.files} body files "
            f"({self.linked} hard-linked), {self.bytes:,} bytes"
        )


def backup(data_dir: Path, dest: Path) -> CopySummary:
    source_db = require_store(data_dir)
    _require_empty_target(dest)
    work = _work_dir(dest)
    try:
        with _hold(data_dir):
            _copy_database(source_db, work / DB_FILE)
            summary = _copy_bodies(data_dir, work)
        fsync_tree(work)
        _replace(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return summary


def restore(source: Path, data_dir: Path, force: bool = False) -> tuple[CopySummary, Path | None]:
    """Copy the backup `source` into `data_dir`; returns the summary and where the store that
    was there went (kept, never deleted), if there was one."""
    require_store(source)
    if server_running(data_dir):
        raise MaintenanceError(
            f"a server is running on {data_dir}: stop it first (restore never replaces a live "
            "store)"
        )
    had_store = (data_dir / DB_FILE).exists()
    if data_dir.exists() and any(data_dir.iterdir()) and not (had_store and force):
        raise MaintenanceError(
            f"{data_dir} is not empty: restore into a new directory, or pass --force to move "
            "the store that is there aside (it is kept, renamed)"
        )
    findings = check_data_dir(source)
    if findings.damage:
        raise MaintenanceError(
            "the backup is damaged; nothing was restored:\n  " + "\n  ".join(findings.damage)
        )
    work = _work_dir(data_dir)
    try:
        _copy_database(source / DB_FILE, work / DB_FILE)
        summary = _copy_bodies(source, work)
        fsync_tree(work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    aside = None
    if data_dir.exists() and any(data_dir.iterdir()):
        aside = data_dir.with_name(
            f"{data_dir.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        os.rename(data_dir, aside)
    elif data_dir.exists():
        data_dir.rmdir()
    _replace(work, data_dir)
    return summary, aside


class _hold:
    """The shared lock that keeps the server from removing body files (module docstring)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / HOLD_FILE
        self.fd = -1

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_SH)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # releases the lock


def _copy_database(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=BACKUP_PAGES)
        dst.execute("PRAGMA journal_mode=WAL")  # as the server keeps it
    finally:
        dst.close()
        src.close()
    os.chmod(target, 0o600)
    fsync_file(target)


def _copy_bodies(source_dir: Path, target_dir: Path) -> CopySummary:
    """Link or copy every body file the database in `target_dir` names."""
    db = sqlite3.connect(f"file:{target_dir / DB_FILE}?mode=ro", uri=True)
    try:
        (records,) = db.execute("SELECT count(*) FROM records").fetchone()
        blobs = [blob for (blob,) in db.execute("SELECT blob FROM records WHERE blob IS NOT NULL")]
    finally:
        db.close()
    total = (target_dir / DB_FILE).stat().st_size
    linked = 0
    for blob in blobs:
        found = body_file(source_dir, blob)
        if found is None:  # only a store damaged beforehand gets here (module docstring)
            raise MaintenanceError(f"the body file of a record is missing: blobs/{blob[:2]}/{blob}")
        target = target_dir / "blobs" / blob[:2] / blob
        linked += link_or_copy(found, target)
        total += target.stat().st_size
    return CopySummary(records, len(blobs), linked, total)


def _require_empty_target(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise MaintenanceError(f"{dest} exists and is not an empty directory")


def _work_dir(final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    work = final.with_name(f".{final.name}.tmp-{secrets.token_hex(4)}")
    work.mkdir(mode=0o700)
    (work / "blobs").mkdir(mode=0o700)
    return work


def _replace(work: Path, final: Path) -> None:
    if final.exists():
        final.rmdir()  # empty (checked before)
    os.rename(work, final)
    fsync_dir(final.parent)
