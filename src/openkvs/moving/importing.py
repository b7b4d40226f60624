"""`openkvs import`: a Crawlee storage folder's key-value stores into a server (moving/layouts.py).

Each store directory becomes the store of the same name (created when missing); a record whose
bytes, type and MD5 the server already has is skipped, so a stopped import can be run again. What
the server refuses (a store name or key it does not allow) is reported with its reason, never
renamed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from openkvs.moving import layouts
from openkvs.moving.api import ApiFailure, KvsApi
from openkvs.moving.copying import attempt, workers
from openkvs.moving.progress import Reporter
from openkvs.moving.sameness import Counted
from openkvs.moving.workers import Workers, check_stopping

CHUNK = 256 * 1024


def store_dirs(path: Path) -> list[Path]:
    """Every store directory under the storage folder at `path`, by name."""
    return sorted(p for p in layouts.stores_dir(path).iterdir() if p.is_dir())


def import_folder(
    api: KvsApi, path: Path, only: list[str], report: Reporter, fail_fast: bool, parallel: int
) -> None:
    with workers(report, fail_fast, parallel) as pool:
        for directory in store_dirs(path):
            store = layouts.read_store(directory)
            if only and store.name not in only and directory.name not in only:
                continue
            for problem in store.problems:
                report.failed(f"{directory.name}", problem)
            work = partial(_import_store, api, store, report, pool)
            attempt(report, fail_fast, f"store {store.name}", work)


def _import_store(api: KvsApi, store: layouts.LocalStore, report: Reporter, pool: Workers) -> None:
    target = api.open_store(store.name)
    present = dict(api.keys(target.id))
    report.store(f"{store.directory} -> {store.name}", len(store.records))
    for record in store.records:
        work = partial(_import_record, api, target.id, record, present, report)
        pool.submit(f"{store.name} / {record.key}", work)
    pool.drain()


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in _file_chunks(path):
        check_stopping()
        digest.update(chunk)
    return digest.hexdigest()


def _import_record(
    api: KvsApi,
    store_id: str,
    record: layouts.LocalRecord,
    present: dict[str, int],
    report: Reporter,
) -> None:
    size = record.path.stat().st_size
    if present.get(record.key) == size:
        head = api.head(store_id, record.key)
        if (
            head is not None
            and head.content_type == record.content_type
            and head.encoding is None
            and head.etag == _md5(record.path)
        ):
            report.done(size, skipped=True)
            return
    body = Counted(_file_chunks(record.path))
    api.write(store_id, record.key, record.content_type, None, body, size)
    problem = body.check(api.head(store_id, record.key), record.content_type)
    if problem is not None:
        raise ApiFailure(f"written but not as read: {problem}")
    report.done(body.size)
