"""Who is calling: the user of the token a request sends, if any (behaviour.md#access)."""

from __future__ import annotations

from openkvs.core.errors import invalid_token, token_not_provided
from openkvs.core.ids import hash_token
from openkvs.core.models import User
from openkvs.http.context import Ctx


async def authenticate(ctx: Ctx) -> None:
    """Sets `ctx.user` from the Bearer header, else `?token=`. A supplied token must be valid,
    even where none is needed: 401 `invalid-token` otherwise."""
    token = ctx.query.get("token")
    header = ctx.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            token = value.strip()
    if not token:
        return
    user = await ctx.backend.accounts.user_by_token_hash(hash_token(token))
    if user is None:
        raise invalid_token()
    ctx.user = user


def signed_in(ctx: Ctx) -> User:
    """The caller, for what no anonymous caller may do: 401 `token-not-provided` otherwise."""
    if ctx.user is None:
        raise token_not_provided()
    return ctx.user
