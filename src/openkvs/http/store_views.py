"""/v2/key-value-stores and /v2/key-value-stores/{storeId}."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openkvs.core import validation as v
from openkvs.core.errors import ApiError, invalid_parameter, store_not_found
from openkvs.core.models import Store
from openkvs.core.stores import Grant
from openkvs.http.authentication import signed_in
from openkvs.http.context import Ctx
from openkvs.http.json_body import read_json_object
from openkvs.http.serialize import store_json, store_url

if TYPE_CHECKING:
    from openkvs.app import OpenKvs

OWNERSHIP = ("ownedByMe", "sharedWithMe")


async def list_stores(app: OpenKvs, ctx: Ctx) -> None:
    user = signed_in(ctx)
    q = ctx.query
    offset = v.parse_non_negative_int("offset", q.get("offset"), 0)
    limit = v.parse_page_limit(q.get("limit"), v.STORES_PAGE_MAX)
    desc = v.parse_bool("desc", q.get("desc"))
    unnamed = v.parse_bool("unnamed", q.get("unnamed"))
    ownership = q.get("ownership") or None
    if ownership is not None and ownership not in OWNERSHIP:
        raise invalid_parameter("ownership", "must be ownedByMe or sharedWithMe.")
    if ownership == "sharedWithMe":  # openkvs has no sharing: nothing is shared with anyone
        total, stores = 0, list[Store]()
    else:
        total, stores = await ctx.backend.stores.page(user.id, offset, limit, desc, unnamed)
    await ctx.json(
        200,
        {
            "data": {
                "total": total,
                "offset": offset,
                "limit": limit,
                "desc": desc,
                "unnamed": unnamed,
                "count": len(stores),
                "items": [store_json(s, app.public_base, True) for s in stores],
            }
        },
    )


async def create_store(app: OpenKvs, ctx: Ctx) -> None:
    user = signed_in(ctx)
    name = ctx.query.get("name") or None
    if name is not None:
        v.check_store_name(name)
    body = await read_json_object(ctx, app.settings.max_json_body) or {}
    if name is not None:
        existing = await ctx.backend.stores.by_name(user.id, name)
        if existing is not None:
            await ctx.json(200, {"data": store_json(existing, app.public_base, True)})
            return
    schema = body.get("schema")
    if schema is not None:
        schema = await app.schema_workers.check_store_schema(schema)
    store, created = await ctx.backend.stores.get_or_create(user.id, name, schema)
    headers = [(b"location", store_url(app.public_base, store.id).encode())] if created else None
    await ctx.json(
        201 if created else 200, {"data": store_json(store, app.public_base, True)}, headers
    )


async def get_store(app: OpenKvs, ctx: Ctx) -> None:
    store, grant = await app.access.readable(ctx.params["store_id"], ctx.user)
    app.store_limit.check(ctx, store.id)
    ctx.backend.stores.note_access(store.id)
    # Signed URLs and the secret: the owner's alone (no signature is asked for here).
    await ctx.json(200, {"data": store_json(store, app.public_base, grant is Grant.OWNER)})


def _store_changes(body: dict[str, Any]) -> dict[str, Any]:
    """The `update_store` arguments for the fields the body sets: the others stay as they are."""
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = None if body["name"] is None else v.check_store_name(body["name"])
    if "generalAccess" in body and body["generalAccess"] is not None:
        changes["general_access"] = v.check_general_access(body["generalAccess"])
    if "title" in body:
        changes["title"] = v.check_title(body["title"])
    return changes


async def update_store(app: OpenKvs, ctx: Ctx) -> None:
    store = await app.access.writable(ctx.params["store_id"], ctx.user)
    app.store_limit.check(ctx, store.id)
    body = await read_json_object(ctx, app.settings.max_json_body)
    if body is None:
        raise ApiError(400, "invalid-request", "The request body must be a JSON object.")
    updated = await ctx.backend.stores.update(store.id, **_store_changes(body))
    if updated is None:
        raise store_not_found()
    await ctx.json(200, {"data": store_json(updated, app.public_base, True)})


async def delete_store(app: OpenKvs, ctx: Ctx) -> None:
    store = await app.access.writable(ctx.params["store_id"], ctx.user)
    app.store_limit.check(ctx, store.id)
    await ctx.backend.stores.delete(store.id)
    await ctx.empty(204)
