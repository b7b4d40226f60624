"""`openkvs copy`: stores from one server to another, record by record, streamed."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import httpx

from openkvs.moving.api import ApiFailure, KvsApi, Store
from openkvs.moving.layouts import LayoutError
from openkvs.moving.progress import Reporter
from openkvs.moving.sameness import Counted, identical
from openkvs.moving.workers import Workers, stop

# What fails one record (or one store) and lets the rest go on.
RECOVERABLE = (ApiFailure, LayoutError, httpx.HTTPError, OSError)


def attempt(report: Reporter, fail_fast: bool, where: str, work: Callable[[], None]) -> None:
    try:
        work()
    except RECOVERABLE as exc:
        failed(report, fail_fast, where, exc)


def failed(report: Reporter, fail_fast: bool, where: str, exc: Exception) -> None:
    """Reports a failure, or (with --fail-fast) ends the run with it."""
    if fail_fast:
        stop()  # the records other threads hold go no further either
        raise exc
    report.failed(where, str(exc) or type(exc).__name__)


def workers(report: Reporter, fail_fast: bool, parallel: int) -> Workers:
    return Workers(parallel, partial(attempt, report, fail_fast))


def label(store: Store) -> str:
    return store.name or store.id


def copy_stores(
    source: KvsApi,
    dest: KvsApi,
    wanted: list[str],
    report: Reporter,
    fail_fast: bool,
    parallel: int,
) -> None:
    """`wanted` (ids or names; none: every store of the source's user). A store keeps its name;
    an unnamed one gets a new unnamed store on every run."""
    stores = source.chosen(wanted)
    with workers(report, fail_fast, parallel) as pool:
        for store in stores:
            work = partial(copy_store, source, dest, store, report, pool)
            attempt(report, fail_fast, f"store {label(store)}", work)


def copy_store(source: KvsApi, dest: KvsApi, store: Store, report: Reporter, pool: Workers) -> None:
    target = dest.open_store(store.name)
    present = dict(dest.keys(target.id))
    report.store(f"{label(store)} -> {label(target)}", None)
    for key, size in source.keys(store.id):
        work = partial(_copy_record, source, dest, store.id, target.id, key, size, present, report)
        pool.submit(f"{label(store)} / {key}", work)
    pool.drain()


def _copy_record(
    source: KvsApi,
    dest: KvsApi,
    store_id: str,
    target_id: str,
    key: str,
    size: int,
    present: dict[str, int],
    report: Reporter,
) -> None:
    if present.get(key) == size:
        head = source.head(store_id, key)
        if head is not None and identical(head, dest.head(target_id, key)):
            report.done(size, skipped=True)
            return
    with source.read(store_id, key) as (head, chunks):
        body = Counted(chunks)
        dest.write(target_id, key, head.content_type, head.encoding, body, head.size)
    problem = body.check(dest.head(target_id, key), head.content_type)
    if problem is not None:
        raise ApiFailure(f"written but not as read: {problem}")
    report.done(body.size)
