"""Users and tokens in PostgreSQL."""

from __future__ import annotations

import asyncpg

from openkvs.backends.scaleout.state import ScaleOutState
from openkvs.core.errors import username_taken
from openkvs.core.ids import now_ms, random_id
from openkvs.core.models import TokenInfo, User

TOKEN_SELECT = (
    "SELECT t.id, t.user_id, u.username, t.name, t.created_at, t.revoked "
    "FROM tokens t JOIN users u ON u.id = t.user_id"
)


class AccountRows(ScaleOutState):
    async def count_users(self) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM users"))

    async def create_user(self, username: str) -> User:
        user = User(random_id(), username, now_ms())
        try:
            await self.pool.execute(
                "INSERT INTO users (id, username, created_at) VALUES ($1, $2, $3)",
                user.id,
                user.username,
                user.created_at,
            )
        except asyncpg.UniqueViolationError:
            raise username_taken(username) from None
        return user

    async def _user(self, where: str, arg: str) -> User | None:
        row = await self.pool.fetchrow(
            f"SELECT id, username, created_at FROM users WHERE {where} = $1", arg
        )
        return User(*row) if row else None

    async def user_by_id(self, user_id: str) -> User | None:
        return await self._user("id", user_id)

    async def user_by_username(self, username: str) -> User | None:
        return await self.users_by_name.get(username, lambda: self._user("username", username))

    async def user_by_token_hash(self, token_hash: str) -> User | None:
        async def fetch() -> User | None:
            row = await self.lanes.fetchrow(
                "SELECT u.id, u.username, u.created_at FROM tokens t "
                "JOIN users u ON u.id = t.user_id WHERE t.hash = $1 AND NOT t.revoked",
                token_hash,
            )
            return User(*row) if row else None

        return await self.users_by_token.get(token_hash, fetch)

    async def add_token(self, user_id: str, token_hash: str, name: str) -> TokenInfo:
        token_id = random_id()
        await self.pool.execute(
            "INSERT INTO tokens (id, user_id, hash, name, created_at) VALUES ($1, $2, $3, $4, $5)",
            token_id,
            user_id,
            token_hash,
            name,
            now_ms(),
        )
        row = await self.pool.fetchrow(TOKEN_SELECT + " WHERE t.id = $1", token_id)
        return TokenInfo(*row)

    async def list_tokens(self, user_id: str | None) -> list[TokenInfo]:
        if user_id is None:
            rows = await self.pool.fetch(TOKEN_SELECT + " ORDER BY t.created_at")
        else:
            rows = await self.pool.fetch(
                TOKEN_SELECT + " WHERE t.user_id = $1 ORDER BY t.created_at", user_id
            )
        return [TokenInfo(*r) for r in rows]

    async def revoke_token(self, token_id: str) -> bool:
        status = await self.pool.execute(
            "UPDATE tokens SET revoked = true WHERE id = $1 AND NOT revoked", token_id
        )
        return bool(status.endswith(" 1"))
