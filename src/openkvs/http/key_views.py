"""/v2/key-value-stores/{storeId}/keys and the ZIP download at .../records."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stream_zip import ZIP_64

from openkvs.core import validation as v
from openkvs.core.errors import ApiError
from openkvs.core.key_range import KeyRange, key_range
from openkvs.core.models import Store
from openkvs.core.reading import decoded_chunks
from openkvs.core.schema import collection_filter
from openkvs.core.signing import verify_storage_signature
from openkvs.core.storage import Backend
from openkvs.core.stores import Grant
from openkvs.http.context import Ctx
from openkvs.http.serialize import record_url
from openkvs.http.zip_stream import zip_stream

if TYPE_CHECKING:
    from openkvs.app import OpenKvs

ZIP_PAGE = 100


def _storage_signed(ctx: Ctx) -> Any:
    signature = ctx.query.get("signature")
    if not signature:
        return None
    return lambda store: verify_storage_signature(store.secret, store.id, signature)


async def _listing(app: OpenKvs, ctx: Ctx) -> tuple[Store, Grant, KeyRange]:
    store, grant = await app.access.readable(
        ctx.params["store_id"], ctx.user, _storage_signed(ctx), counters=False
    )
    app.store_limit.check(ctx, store.id)
    collection = ctx.query.get("collection") or None
    flt = collection_filter(store.schema, collection) if collection is not None else None
    return store, grant, key_range(ctx.query.get("prefix"), flt)


async def list_keys(app: OpenKvs, ctx: Ctx) -> None:
    limit = v.parse_page_limit(ctx.query.get("limit"), v.KEYS_PAGE_MAX)
    store, grant, bounds = await _listing(app, ctx)
    start = ctx.query.get("exclusiveStartKey") or None
    # Keys have no NUL (nor anything below "!"), so cutting there keeps "keys after it" exact
    # and spares databases whose text cannot hold NUL.
    after = start.split("\x00", 1)[0] or None if start else None
    items = []
    if not bounds.empty:
        items = await ctx.backend.records.keys(
            store.id, after, bounds.lower, bounds.upper, limit + 1
        )
    truncated = len(items) > limit
    items = items[:limit]
    # Record URLs are signed for those who could sign them anyway: the owner and the holders of
    # a storage signature that verified; never for a public store's anonymous reader
    # (behaviour.md#access).
    signed = grant.may_sign
    ctx.backend.stores.note_list(store.id)
    await ctx.json(
        200,
        {
            "data": {
                "items": [
                    {
                        "key": item.key,
                        "size": item.size,
                        "recordPublicUrl": record_url(app.public_base, store, item.key, signed),
                    }
                    for item in items
                ],
                "count": len(items),
                "limit": limit,
                "exclusiveStartKey": start,
                "isTruncated": truncated,
                "nextExclusiveStartKey": items[-1].key if truncated else None,
            }
        },
    )


async def download_zip(app: OpenKvs, ctx: Ctx) -> None:
    store, _grant, bounds = await _listing(app, ctx)
    ctx.backend.stores.note_list(store.id)
    await ctx.start(
        200,
        [
            (b"content-type", b"application/zip"),
            (
                b"content-disposition",
                f'attachment; filename="{store.name or store.id}.zip"'.encode(),
            ),
        ],
    )
    if ctx.method == "HEAD":
        await ctx.body(b"")
        return
    members = _members(app, ctx.backend, store, bounds)
    await ctx.stream(zip_stream(members, _compressor))


def _compressor() -> Any:
    # Level 6 rather than the library's 9: most of the gain for a fraction of the CPU.
    return zlib.compressobj(level=6, wbits=-zlib.MAX_WBITS)


async def _members(
    app: OpenKvs, backend: Backend, store: Store, bounds: KeyRange
) -> AsyncIterator[Any]:
    if bounds.empty:
        return
    after: str | None = None
    while True:
        keys = await backend.records.keys(store.id, after, bounds.lower, bounds.upper, ZIP_PAGE)
        for item in keys:
            found = await backend.records.get(store.id, item.key)
            if found is None:  # deleted while the archive was being written
                continue
            try:
                record, stream = await app.records.open(store.id, found, keep=False)
            except ApiError:  # deleted between the lookup and the open
                continue
            modified = datetime.fromtimestamp(record.modified_at / 1000, tz=UTC)
            yield record.key, modified, 0o644, ZIP_64, decoded_chunks(record, stream)
        if len(keys) < ZIP_PAGE:
            return
        after = keys[-1].key
