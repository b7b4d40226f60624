"""`openkvs export`: stores into a Crawlee storage folder (moving/layouts.py) or a ZIP of one.

Bodies are written as Crawlee keeps them: decoded (the server decodes a stored encoding on the
way). In a folder each body goes to a temporary file first and is renamed into place with its
metadata, so a stopped export leaves whole records only, and a second run overwrites them. A ZIP
is written to DEST.partial and renamed when complete; a record that fails before its first byte
is left out and reported, one that fails half-way ends the export.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from stream_zip import ZIP_64, stream_zip

from openkvs.moving import layouts
from openkvs.moving.api import KvsApi, Store
from openkvs.moving.copying import RECOVERABLE, failed, label, workers
from openkvs.moving.progress import Reporter
from openkvs.moving.sameness import Counted

LAYOUTS = {"python": layouts.python_names, "js": layouts.js_names}
METADATA_WRITERS = {"python": layouts.python_metadata, "js": layouts.js_metadata}
FILE_MODE = 0o600


def _store_dir(store: Store) -> str:
    return store.name or store.id


def export_to_folder(
    api: KvsApi,
    stores: list[Store],
    dest: Path,
    layout: str,
    report: Reporter,
    fail_fast: bool,
    parallel: int,
) -> None:
    base = dest / layouts.STORES_DIR
    scratch = dest / ".openkvs-export"  # beside the stores: no library takes it for one
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        with workers(report, fail_fast, parallel) as pool:
            for store in stores:
                directory = base / _store_dir(store)
                directory.mkdir(parents=True, exist_ok=True)
                meta = layouts.store_metadata(store.id, store.name, store.dates)
                _replace(directory / layouts.METADATA, meta, scratch)
                report.store(f"{label(store)} -> {directory}", None)
                for key, _ in api.keys(store.id):
                    work = partial(
                        _record_to_folder, api, store, key, directory, layout, scratch, report
                    )
                    pool.submit(f"{label(store)} / {key}", work)
                pool.drain()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _record_to_folder(
    api: KvsApi,
    store: Store,
    key: str,
    directory: Path,
    layout: str,
    scratch: Path,
    report: Reporter,
) -> None:
    with api.read(store.id, key, stored=False) as (head, chunks):
        body_name, meta_name = LAYOUTS[layout](key, head.content_type)
        fd, temp = tempfile.mkstemp(dir=scratch)
        try:
            with os.fdopen(fd, "wb") as out:
                body = Counted(chunks)
                for chunk in body:
                    out.write(chunk)
            os.replace(temp, directory / body_name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    meta = METADATA_WRITERS[layout](key, head.content_type, body.size)
    _replace(directory / meta_name, meta, scratch)
    report.done(body.size)


def _replace(path: Path, data: bytes, scratch: Path) -> None:
    fd, temp = tempfile.mkstemp(dir=scratch)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(temp, path)


def export_to_zip(
    api: KvsApi, stores: list[Store], dest: Path, layout: str, report: Reporter, fail_fast: bool
) -> None:
    partial_path = dest.with_name(dest.name + ".partial")
    try:
        with partial_path.open("wb") as out:
            members = _zip_members(api, stores, layout, report, fail_fast)
            for chunk in stream_zip(members, get_compressobj=_compressor):
                out.write(chunk)
        os.replace(partial_path, dest)
    finally:
        partial_path.unlink(missing_ok=True)


def _compressor() -> Any:
    return zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)


Member = tuple[str, datetime, int, Any, Iterator[bytes]]


@dataclass
class _Opened:
    body_name: str
    meta_name: str
    content_type: str
    body: Counted


def _zip_members(
    api: KvsApi, stores: list[Store], layout: str, report: Reporter, fail_fast: bool
) -> Iterator[Member]:
    now = datetime.now(UTC)
    for store in stores:
        folder = f"{layouts.STORES_DIR}/{_store_dir(store)}"
        meta = layouts.store_metadata(store.id, store.name, store.dates)
        yield f"{folder}/{layouts.METADATA}", now, FILE_MODE, ZIP_64, iter((meta,))
        report.store(f"{label(store)} -> {folder}", None)
        for key, _ in api.keys(store.id):
            with contextlib.ExitStack() as stack:
                opened = _open(api, store, key, layout, stack, report, fail_fast)
                if opened is None:
                    continue
                # The archive reads the body while this generator waits here.
                yield f"{folder}/{opened.body_name}", now, FILE_MODE, ZIP_64, iter(opened.body)
            size = opened.body.size
            meta = METADATA_WRITERS[layout](key, opened.content_type, size)
            yield f"{folder}/{opened.meta_name}", now, FILE_MODE, ZIP_64, iter((meta,))
            report.done(size)


def _open(
    api: KvsApi,
    store: Store,
    key: str,
    layout: str,
    stack: contextlib.ExitStack,
    report: Reporter,
    fail_fast: bool,
) -> _Opened | None:
    """The record's GET, begun before its member is, so that one that cannot be read is left
    out of the archive (and reported) instead of ending it."""
    try:
        head, chunks = stack.enter_context(api.read(store.id, key, stored=False))
        body_name, meta_name = LAYOUTS[layout](key, head.content_type)
    except RECOVERABLE as exc:
        failed(report, fail_fast, f"{label(store)} / {key}", exc)
        return None
    return _Opened(body_name, meta_name, head.content_type, Counted(chunks))
