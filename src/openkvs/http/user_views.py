"""/v2/users/me and /v2/users/{userId}: what the Apify CLI reads before every command
(behaviour.md#scope)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openkvs.core.errors import ApiError
from openkvs.core.validation import STORE_ID_RE, USERNAME_RE
from openkvs.http.authentication import signed_in
from openkvs.http.context import Ctx
from openkvs.http.serialize import user_json

if TYPE_CHECKING:
    from openkvs.app import OpenKvs


async def get_user(app: OpenKvs, ctx: Ctx) -> None:
    ref = ctx.params["user_id"]
    # Anonymous callers see no user, not even whether a username exists: usernames name stores
    # (`username~name`). Any token holder sees another user's public fields.
    caller = signed_in(ctx)
    if ref == "me":
        await ctx.json(200, {"data": user_json(caller, private=True)})
        return
    user = None
    if STORE_ID_RE.fullmatch(ref):  # user ids have the same form as store ids
        user = await ctx.backend.accounts.user_by_id(ref)
    if user is None and USERNAME_RE.fullmatch(ref):
        user = await ctx.backend.accounts.user_by_username(ref)
    if user is None:
        raise ApiError(404, "record-not-found", "User was not found.")
    own = caller.id == user.id
    await ctx.json(200, {"data": user_json(user, private=own)})
