"""Users and tokens in PostgreSQL."""

from __future__ import annotations

from typing import Any

import asyncpg

from openkvs.backends.scaleout.lanes import Lanes
from openkvs.backends.scaleout.node_cache import Kept, NodeCache
from openkvs.core.errors import username_taken
from openkvs.core.ids import now_ms, random_id
from openkvs.core.models import TokenInfo, User

USER_COLUMNS = "u.id, u.username, u.created_at"
TOKEN_SELECT = (
    "SELECT t.id, t.user_id, u.username, t.name, t.created_at, t.revoked "
    "FROM tokens t JOIN users u ON u.id = t.user_id"
)


def _user(row: Any) -> User:
    """A row of USER_COLUMNS."""
    return User(row["id"], row["username"], row["created_at"])


def _token(row: Any) -> TokenInfo:
    """A row of TOKEN_SELECT."""
    return TokenInfo(
        row["id"], row["user_id"], row["username"], row["name"], row["created_at"], row["revoked"]
    )


class ScaleOutAccounts:
    def __init__(self, pool: Any, lanes: Lanes, cache: NodeCache) -> None:
        self._pool = pool  # asyncpg.Pool
        self._lanes = lanes  # for the lookup of every request's token
        self._cache = cache  # forgotten at once after a revocation here (others are notified)
        self._by_token: Kept[str, User] = Kept(cache)  # token hash -> its user (not revoked)
        self._by_username: Kept[str, User] = Kept(cache)

    async def count_users(self) -> int:
        return int(await self._pool.fetchval("SELECT count(*) FROM users"))

    async def create_user(self, username: str) -> User:
        user = User(random_id(), username, now_ms())
        try:
            await self._pool.execute(
                "INSERT INTO users (id, username, created_at) VALUES ($1, $2, $3)",
                user.id,
                user.username,
                user.created_at,
            )
        except asyncpg.UniqueViolationError:
            raise username_taken(username) from None
        return user

    async def _one_user(self, where: str, arg: str) -> User | None:
        row = await self._pool.fetchrow(
            f"SELECT {USER_COLUMNS} FROM users u WHERE u.{where} = $1", arg
        )
        return _user(row) if row else None

    async def user_by_id(self, user_id: str) -> User | None:
        return await self._one_user("id", user_id)

    async def user_by_username(self, username: str) -> User | None:
        return await self._by_username.get(username, lambda: self._one_user("username", username))

    async def user_by_token_hash(self, token_hash: str) -> User | None:
        async def fetch() -> User | None:
            row = await self._lanes.fetchrow(
                f"SELECT {USER_COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id "
                "WHERE t.hash = $1 AND NOT t.revoked",
                token_hash,
            )
            return _user(row) if row else None

        return await self._by_token.get(token_hash, fetch)

    async def add_token(self, user_id: str, token_hash: str, name: str) -> TokenInfo:
        token_id = random_id()
        await self._pool.execute(
            "INSERT INTO tokens (id, user_id, hash, name, created_at) VALUES ($1, $2, $3, $4, $5)",
            token_id,
            user_id,
            token_hash,
            name,
            now_ms(),
        )
        row = await self._pool.fetchrow(TOKEN_SELECT + " WHERE t.id = $1", token_id)
        return _token(row)

    async def list_tokens(self, user_id: str | None) -> list[TokenInfo]:
        if user_id is None:
            rows = await self._pool.fetch(TOKEN_SELECT + " ORDER BY t.created_at")
        else:
            rows = await self._pool.fetch(
                TOKEN_SELECT + " WHERE t.user_id = $1 ORDER BY t.created_at", user_id
            )
        return [_token(r) for r in rows]

    async def revoke_token(self, token_id: str) -> bool:
        status = await self._pool.execute(
            "UPDATE tokens SET revoked = true WHERE id = $1 AND NOT revoked", token_id
        )
        revoked = bool(status.endswith(" 1"))
        if revoked:
            self._cache.forget()
        return revoked
