"""Large record bodies as plain files: written to tmp/, moved to blobs/ after the commit."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
from collections.abc import AsyncIterator, Callable
from concurrent import futures
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

READ_CHUNK = 1024 * 1024
# An upload's writes of this many bytes or more, and its flush, run in the file threads: a write
# to the page cache can wait for the disk (dirty pages over the kernel's limit, pages still being
# written back for other uploads' flushes), for milliseconds, and the event loop would wait with it.
OFF_LOOP_WRITE = 64 * 1024
FILE_THREADS = 8
_file_threads: futures.ThreadPoolExecutor | None = None
# `openkvs backup` holds a shared lock on this file while it copies: body files are then kept
# (their removal deferred), so that every file its copy of the database names is still there.
HOLD_FILE = "backup.hold"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobFiles:
    def __init__(self, root: Path, strict: bool) -> None:
        self.tmp = root / "tmp"
        self.blobs = root / "blobs"
        self.strict = strict
        self.tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.blobs.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._hold_fd = os.open(root / HOLD_FILE, os.O_RDWR | os.O_CREAT, 0o600)

    def held(self) -> bool:
        """Whether a backup is copying body files right now (two system calls)."""
        try:
            fcntl.flock(self._hold_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._hold_fd, fcntl.LOCK_UN)
        return False

    def close(self) -> None:
        os.close(self._hold_fd)

    def final_path(self, blob: str) -> Path:
        return self.blobs / blob[:2] / blob

    def tmp_path(self, blob: str) -> Path:
        return self.tmp / blob

    def publish(self, blob: str) -> None:
        """Move a committed blob into place (post-commit; recovery redoes it after a crash)."""
        final = self.final_path(blob)
        final.parent.mkdir(mode=0o700, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.rename(self.tmp_path(blob), final)

    def remove(self, blob: str) -> None:
        for path in (self.final_path(blob), self.tmp_path(blob)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def open_fd(self, blob: str) -> int | None:
        # Between COMMIT and publish() a committed blob still sits in tmp/.
        for path in (self.final_path(blob), self.tmp_path(blob), self.final_path(blob)):
            try:
                return os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
        return None

    def leftover_tmp(self) -> list[str]:
        return [entry.name for entry in os.scandir(self.tmp) if entry.is_file()]


class SpooledBody:
    """An upload: kept in memory up to the inline threshold, then spilled to a file in tmp/."""

    def __init__(self, files: BlobFiles, inline_threshold: int) -> None:
        self._files = files
        self._threshold = inline_threshold
        self._buffer = bytearray()
        self._fd: int | None = None
        self.blob: str | None = None
        self.size = 0

    @property
    def inline(self) -> bytes | None:
        return None if self.blob is not None else bytes(self._buffer)

    async def write(self, chunk: bytes, tap: Callable[[bytes], object] | None = None) -> None:
        """`tap` runs in the file thread that writes `chunk`, just before it: one trip to a
        thread for both (docs/performance.md, "Large records")."""
        self.size += len(chunk)
        if self.blob is None:
            self._buffer += chunk
            if len(self._buffer) <= self._threshold:
                if tap is not None:
                    await on_file_thread(tap, chunk)
                return
            self.blob = secrets.token_hex(16)
            first, self._buffer = bytes(self._buffer), bytearray()
            # Creating a file can wait on the disk as a write can, and can cost the file system
            # most of a millisecond of CPU (docs/performance.md, "Large records").
            await on_file_thread(self._create, self.blob, first, tap, chunk)
            return
        assert self._fd is not None
        if tap is None and len(chunk) < OFF_LOOP_WRITE:
            _write_all(self._fd, chunk)
        else:
            await on_file_thread(_tapped_write, self._fd, chunk, tap)

    def _create(
        self, blob: str, first: bytes, tap: Callable[[bytes], object] | None, chunk: bytes
    ) -> None:
        """In a file thread: `tap(chunk)`, then the body's file in tmp/, holding its first bytes
        (`chunk` is their end). The descriptor is kept at once, so that `discard` closes it even
        if the caller was cancelled meanwhile."""
        if tap is not None:
            tap(chunk)
        path = self._files.tmp_path(blob)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        _write_all(self._fd, first)

    async def finish(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if self._files.strict:
                await on_file_thread(_sync_and_dir, fd, self._files.tmp)
        finally:
            os.close(fd)

    async def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.blob is not None:
            self._files.remove(self.blob)
            self.blob = None
        self._buffer = bytearray()


async def on_file_thread(work: Callable[..., T], *args: object) -> T:
    """`work(*args)` in the file threads. A caller cancelled meanwhile still waits for it: the
    work uses a file descriptor that the caller closes next, and a number closed too early could
    by then name another file."""
    global _file_threads
    if _file_threads is None:
        _file_threads = futures.ThreadPoolExecutor(FILE_THREADS, "openkvs-files")
    job = _file_threads.submit(work, *args)
    try:
        return await asyncio.wrap_future(job)
    except asyncio.CancelledError:
        futures.wait([job])  # at most one write or flush
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _tapped_write(fd: int, data: bytes, tap: Callable[[bytes], object] | None) -> None:
    if tap is not None:
        tap(data)
    _write_all(fd, data)


def _sync_and_dir(fd: int, directory: Path) -> None:
    os.fsync(fd)
    fsync_dir(directory)


def _read_cached(fd: int, size: int, pos: int) -> bytes | None:
    """`size` bytes at `pos` read on the event loop, if the page cache seems to hold them: cheaper
    than a trip to a thread. The probe (RWF_NOWAIT: never waits for the disk) looks at the
    range's first and last byte; None sends the read to a thread."""
    probe = bytearray(1)
    try:
        for at in (pos, pos + size - 1):
            if os.preadv(fd, [probe], at, os.RWF_NOWAIT) != 1:
                return None
    except OSError:  # BlockingIOError: not cached; EOPNOTSUPP: not on this file system
        return None
    return os.pread(fd, size, pos)


class FileBodyStream:
    """An open file: unlinking it (overwrite, delete) does not change what this reads."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._size = size

    async def chunks(self, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        pos = start
        left = self._size - start if length is None else min(length, self._size - start)
        while left > 0:
            size = min(READ_CHUNK, left)
            chunk = _read_cached(self._fd, size, pos)
            if chunk is None:
                chunk = await loop.run_in_executor(None, os.pread, self._fd, size, pos)
            if not chunk:
                raise OSError(f"record file is shorter than its recorded size {self._size}")
            pos += len(chunk)
            left -= len(chunk)
            yield chunk

    async def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
