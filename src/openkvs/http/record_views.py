"""/v2/key-value-stores/{storeId}/records/{recordKey}: GET, HEAD, PUT, POST, DELETE."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from openkvs.core import validation as v
from openkvs.core.codecs import accepts_encoding, normalize_encoding
from openkvs.core.conditions import etag_matches, parse_etag_list
from openkvs.core.errors import ApiError, record_not_found
from openkvs.core.models import RecordMeta, WriteCondition
from openkvs.core.reading import decoded, decoded_chunks
from openkvs.core.signing import record_key_reserved, verify_record_signature
from openkvs.core.storage import BodyStream
from openkvs.core.uploads import receive_record, record_too_large
from openkvs.http.context import Ctx, Headers
from openkvs.http.ranges import parse_range
from openkvs.http.serialize import record_url

if TYPE_CHECKING:
    from openkvs.app import OpenKvs

REDIRECT_LIFETIME_S = 300
# Every record answer (any status, HEAD, attachment or not) carries these: whatever the spelling of
# its Content-Type (lists, case, spaces, parameters), no record may run script on the origin of
# the API and the console, so every record gets a sandbox rather than those that look like HTML.
# The console previews records from blobs and shows HTML in a sandboxed frame: nothing needs more.
RECORD_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"sandbox"),
)
# What may be redirected to the object store, whose answer has neither header: types no browser
# renders as a document that runs script, nor sniffs into one. text/plain is not among them
# (sniffed without nosniff by some browsers); PDF is (viewers run without the page's origin).
INERT_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/json",
        "application/zip",
        "application/gzip",
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
    }
)
INERT_TOP_LEVEL = ("audio/", "video/")
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# One media type with optional parameters; no list (no comma anywhere), no escapes.
_PARAMETER = rf"""{_TOKEN}=(?:{_TOKEN}|"[^"\\,\x00-\x1f\x7f]*")"""
_SINGLE_MEDIA_TYPE = re.compile(rf"[ \t]*({_TOKEN}/{_TOKEN})[ \t]*(?:;[ \t]*{_PARAMETER}[ \t]*)*")


@lru_cache(maxsize=4096)
def _http_date(seconds: int) -> bytes:
    return formatdate(seconds, usegmt=True).encode()


# The headers that depend on the record alone (`version_headers`), made once per version however
# many requests read it: by ETag, with the Content-Type and time they were made from, which are
# all they depend on (records with equal bodies share an ETag). Emptied when full; the limit is
# above the benchmark's 10,000 random keys (W8), about 10 MiB when full.
_KEPT_HEADERS: dict[str, tuple[str, int, Headers]] = {}
KEPT_HEADERS_LIMIT = 16384


def inert_type(content_type: str) -> bool:
    """Whether a stored Content-Type, strictly parsed, is one media type that cannot run script."""
    found = _SINGLE_MEDIA_TYPE.fullmatch(content_type)
    if found is None:
        return False
    media = found[1].lower()
    return media in INERT_TYPES or media.startswith(INERT_TOP_LEVEL)


def _not_modified(ctx: Ctx, record: RecordMeta) -> bool:
    tags = parse_etag_list(ctx.headers.get("if-none-match"))
    if tags is not None:
        return etag_matches(tags, record.etag)
    since = ctx.headers.get("if-modified-since")
    if since:
        try:
            return record.modified_at // 1000 <= int(parsedate_to_datetime(since).timestamp())
        except (TypeError, ValueError):
            return False
    return False


async def get_record(app: OpenKvs, ctx: Ctx) -> None:
    key = v.check_key(ctx.params["key"])
    if "service-worker" in ctx.headers:
        raise ApiError(
            403,
            "service-worker-registration-not-allowed",
            "Records cannot be used to register service workers.",
        )
    signature = ctx.query.get("signature")
    signed = (
        (lambda s: verify_record_signature(s.secret, s.id, key, signature)) if signature else None
    )
    store, _ = await app.access.readable(ctx.params["store_id"], ctx.user, signed, counters=False)
    app.record_limit.check(ctx, store.id)
    attachment = v.parse_bool("attachment", ctx.query.get("attachment"))
    backend = ctx.backend
    found = await backend.records.get(store.id, key)
    if found is None:
        raise record_not_found()
    if ctx.method == "HEAD":  # behaviour.md#stats: readCount counts GETs; a HEAD is an access
        backend.stores.note_access(store.id)
        await _answer(ctx, found, None, attachment, key)
        return
    backend.stores.note_read(store.id)
    if found.inline is not None:  # a small record: its bytes came with it
        await _answer(ctx, found, found.inline, attachment, key)
        if app.memo is not None:
            app.memo.keep(ctx, store.id, key)
        return
    if await _redirected(app, ctx, found, attachment, key):
        return
    if _not_modified(ctx, found):  # a 304 sends no bytes: nothing to open
        await _answer(ctx, found, None, attachment, key)
        return
    # Open first: the headers must describe the version whose bytes are sent.
    record, stream = await app.records.open(store.id, found)
    try:
        await _answer(ctx, record, stream, attachment, key)
    finally:
        await stream.close()


def version_headers(record: RecordMeta) -> Headers:
    """The headers that depend on the record alone, a copy for the caller to add to: kept from
    an earlier request for the same version, else made and kept."""
    kept = _KEPT_HEADERS.get(record.etag)
    if kept is not None and kept[1] == record.modified_at and kept[0] == record.content_type:
        return list(kept[2])
    headers: Headers = [
        (b"content-type", record.content_type.encode("latin-1", "replace")),
        (b"etag", record.etag.encode()),
        (b"last-modified", _http_date(record.modified_at // 1000)),
        *RECORD_SECURITY_HEADERS,
        (b"cache-control", b"private, no-cache"),
    ]
    if len(_KEPT_HEADERS) >= KEPT_HEADERS_LIMIT:
        _KEPT_HEADERS.clear()
    _KEPT_HEADERS[record.etag] = (record.content_type, record.modified_at, headers)
    return list(headers)


async def _answer(
    ctx: Ctx,
    record: RecordMeta,
    body: bytes | BodyStream | None,
    attachment: bool,
    key: str,
) -> None:
    """Headers and body for one version of a record. `body` is its bytes when they are in memory
    (an inline record's), else an open stream; None for HEAD."""
    headers = version_headers(record)
    if attachment:
        headers.append((b"content-disposition", f'attachment; filename="{key}"'.encode()))
    if _not_modified(ctx, record):
        await ctx.empty(304, headers)
        return
    if record.content_encoding is not None:
        headers.append((b"vary", b"Accept-Encoding"))
        if not accepts_encoding(ctx.headers.get("accept-encoding"), record.content_encoding):
            # Decoded on the fly: the length is not known in advance.
            await _send(ctx, 200, headers, _decoded(record, body))
            return
        headers.append((b"content-encoding", record.content_encoding.encode()))
        headers.append((b"content-length", str(record.size).encode()))
        await _send(ctx, 200, headers, _whole(body))
        return
    headers.append((b"accept-ranges", b"bytes"))
    wanted = parse_range(ctx.headers.get("range"), record.size)
    if wanted == "unsatisfiable":
        raise ApiError(
            416,
            "range-not-satisfiable",
            "The requested range is not satisfiable.",
            headers={"Content-Range": f"bytes */{record.size}"},
        )
    status, start, length = 200, 0, record.size
    if wanted is not None:
        status, (start, length) = 206, wanted
        end = start + length - 1
        headers.append((b"content-range", f"bytes {start}-{end}/{record.size}".encode()))
    headers.append((b"content-length", str(length).encode()))
    if isinstance(body, bytes):  # in memory: one message, no reads to wait for
        data = body if start == 0 and length == len(body) else body[start : start + length]
        await ctx.start(status, headers)
        await ctx.body(data)
        if status == 200:
            ctx.answer_body = data
        return
    await _send(ctx, status, headers, None if body is None else body.chunks(start, length))


def _whole(body: bytes | BodyStream | None) -> AsyncIterator[bytes] | None:
    if body is None:
        return None
    return in_memory(body) if isinstance(body, bytes) else body.chunks()


def _decoded(record: RecordMeta, body: bytes | BodyStream | None) -> AsyncIterator[bytes] | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return decoded(record, in_memory(body))
    return decoded_chunks(record, body)


async def in_memory(data: bytes) -> AsyncIterator[bytes]:
    """`data` as a body of one chunk, or of none if it is empty."""
    if data:
        yield data


async def _send(
    ctx: Ctx, status: int, headers: Headers, chunks: AsyncIterator[bytes] | None
) -> None:
    if chunks is None:
        await ctx.empty(status, headers)
        return
    first = await anext(chunks, b"")  # a failure to read surfaces before the status goes out
    second = await anext(chunks, None)
    await ctx.start(status, headers)
    if second is None:  # the whole body in one piece (small records): one message
        await ctx.body(first)
        return
    await ctx.body(first, more=True)
    await ctx.body(second, more=True)
    await ctx.stream(chunks)


async def _redirected(
    app: OpenKvs, ctx: Ctx, record: RecordMeta, attachment: bool, key: str
) -> bool:
    """302 to a short-lived presigned URL for large records in the object store, if configured.

    Only inert types: the object store's answer has no sandbox nor nosniff, so anything else is
    served here, with them. (Forcing `attachment` instead would turn a large page or text that a
    browser shows into a download: serving it here changes nothing but the path its bytes take.)
    """
    threshold = app.settings.redirect_large_records
    if threshold is None or record.size <= threshold or record.blob is None:
        return False
    if not inert_type(record.content_type):
        return False
    encoding = record.content_encoding
    if encoding and not accepts_encoding(ctx.headers.get("accept-encoding"), encoding):
        return False  # the object store would send bytes this client cannot decode
    disposition = f'attachment; filename="{key}"' if attachment else None
    url = await ctx.backend.records.presigned_url(record, disposition, REDIRECT_LIFETIME_S)
    if url is None:
        return False
    await ctx.empty(302, [(b"location", url.encode()), (b"cache-control", b"no-store")])
    return True


NO_CONDITION = WriteCondition()


def _write_condition(ctx: Ctx) -> WriteCondition:
    if "if-match" not in ctx.headers and "if-none-match" not in ctx.headers:
        return NO_CONDITION
    return WriteCondition(
        if_match=parse_etag_list(ctx.headers.get("if-match")),
        if_none_match=parse_etag_list(ctx.headers.get("if-none-match")),
    )


async def put_record(app: OpenKvs, ctx: Ctx) -> None:
    app.requests.uploads_in_flight += 1
    try:
        await _put_record(app, ctx)
    finally:
        app.requests.uploads_in_flight -= 1


async def _put_record(app: OpenKvs, ctx: Ctx) -> None:
    key = v.check_key(ctx.params["key"])
    store = await app.access.writable(ctx.params["store_id"], ctx.user, counters=False)
    app.record_limit.check(ctx, store.id)
    if record_key_reserved(store.id, key):
        raise ApiError(
            400,
            "invalid-record-key",
            "This record key is reserved: it could be mistaken for a storage signature of the "
            "store.",
        )
    content_type = v.check_content_type(ctx.headers.get("content-type"))
    encoding = normalize_encoding(ctx.headers.get("content-encoding"))
    limit = app.settings.max_record_size
    length = ctx.content_length()
    if length is not None and length > limit:
        raise record_too_large(limit)
    await receive_record(
        ctx.backend,
        store,
        key,
        content_type,
        encoding,
        ctx.stream_body(),
        limit,
        _write_condition(ctx),
        app.schema_workers,
        app.settings.max_inflation,
    )
    location = record_url(app.public_base, store, key, signed=False)
    await ctx.json(201, {}, [(b"location", location.encode())])


async def delete_record(app: OpenKvs, ctx: Ctx) -> None:
    key = v.check_key(ctx.params["key"])
    store = await app.access.writable(ctx.params["store_id"], ctx.user, counters=False)
    app.record_limit.check(ctx, store.id)
    await ctx.backend.records.delete(store.id, key, _write_condition(ctx))
    await ctx.empty(204)
