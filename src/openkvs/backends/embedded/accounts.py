"""Users and tokens in the embedded database."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

from openkvs.backends.embedded.read_cache import ACCOUNTS_POLL_SECONDS, MISSING, ReadCache
from openkvs.backends.embedded.writer import After, Writer
from openkvs.core.errors import username_taken
from openkvs.core.ids import now_ms, random_id
from openkvs.core.models import TokenInfo, User
from openkvs.telemetry import Telemetry

USER_COLUMNS = "u.id, u.username, u.created_at"
USER_BY_TOKEN = (
    f"SELECT {USER_COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id "
    "WHERE t.hash = ? AND t.revoked = 0"
)
TOKEN_SELECT = (
    "SELECT t.id, t.user_id, u.username, t.name, t.created_at, t.revoked "
    "FROM tokens t JOIN users u ON u.id = t.user_id"
)


def _user(row: Any) -> User:
    """A row of USER_COLUMNS."""
    user_id, username, created_at = row
    return User(user_id, username, created_at)


def _token(row: Any) -> TokenInfo:
    """A row of TOKEN_SELECT."""
    token_id, user_id, username, name, created_at, revoked = row
    return TokenInfo(token_id, user_id, username, name, created_at, bool(revoked))


class EmbeddedAccounts:
    """Reads on the event loop's connection; writes through the writer. Tokens found are kept
    in the read cache."""

    def __init__(
        self,
        reader: sqlite3.Connection,
        writer: Writer,
        cache: ReadCache,
        telemetry: Telemetry,
        served_elsewhere: Callable[[], bool],
    ) -> None:
        """`served_elsewhere`: whether a server in another process uses this database (and
        keeps tokens in memory)."""
        self._reader = reader
        self._writer = writer
        self._cache = cache
        self._telemetry = telemetry
        self._served_elsewhere = served_elsewhere

    async def count_users(self) -> int:
        (count,) = self._reader.execute("SELECT count(*) FROM users").fetchone()
        return int(count)

    async def create_user(self, username: str) -> User:
        user = User(random_id(), username, now_ms())

        def op(conn: sqlite3.Connection, after: After) -> User:
            try:
                conn.execute(
                    "INSERT INTO users (id, username, created_at) VALUES (?, ?, ?)",
                    (user.id, user.username, user.created_at),
                )
            except sqlite3.IntegrityError:
                raise username_taken(username) from None
            return user

        result: User = await self._writer.run(op)
        return result

    def _user_where(self, column: str, arg: str) -> User | None:
        row = self._reader.execute(
            f"SELECT {USER_COLUMNS} FROM users u WHERE u.{column} = ?", (arg,)
        ).fetchone()
        return _user(row) if row else None

    async def user_by_id(self, user_id: str) -> User | None:
        return self._user_where("id", user_id)

    async def user_by_username(self, username: str) -> User | None:
        return self._user_where("username", username)

    async def user_by_token_hash(self, token_hash: str) -> User | None:
        user = self._cache.token(token_hash)
        looked = self._telemetry.cache["token"]
        if user is not MISSING:
            looked[0] += 1
        else:
            looked[1] += 1
            epoch = self._cache.accounts_epoch
            row = self._reader.execute(USER_BY_TOKEN, (token_hash,)).fetchone()
            user = _user(row) if row else None
            self._cache.keep_token(token_hash, user, epoch)
        return user  # type: ignore[no-any-return]

    async def add_token(self, user_id: str, token_hash: str, name: str) -> TokenInfo:
        token_id = random_id()

        def op(conn: sqlite3.Connection, after: After) -> None:
            conn.execute(
                "INSERT INTO tokens (id, user_id, hash, name, created_at) VALUES (?, ?, ?, ?, ?)",
                (token_id, user_id, token_hash, name, now_ms()),
            )

        await self._writer.run(op)
        tokens = [t for t in await self.list_tokens(user_id) if t.id == token_id]
        return tokens[0]

    async def list_tokens(self, user_id: str | None) -> list[TokenInfo]:
        sql = TOKEN_SELECT
        args: tuple[str, ...] = ()
        if user_id is not None:
            sql += " WHERE t.user_id = ?"
            args = (user_id,)
        return [_token(r) for r in self._reader.execute(sql + " ORDER BY t.created_at", args)]

    async def revoke_token(self, token_id: str) -> bool:
        def op(conn: sqlite3.Connection, after: After) -> bool:
            cur = conn.execute(
                "UPDATE tokens SET revoked = 1 WHERE id = ? AND revoked = 0", (token_id,)
            )
            return cur.rowcount > 0

        revoked = bool(await self._writer.run(op))
        self._cache.accounts_changed()
        if revoked and self._served_elsewhere():
            # A running server notices another process's commit within its poll interval.
            await asyncio.sleep(10 * ACCOUNTS_POLL_SECONDS)
        return revoked
