"""Finding a store from `{storeId}` and deciding who may read or write it (D2, D7)."""

from __future__ import annotations

from collections.abc import Callable

from openkvs.backends.base import Backend
from openkvs.core.access import anonymous_read_allowed
from openkvs.core.errors import forbidden, store_not_found, token_not_provided
from openkvs.core.models import Store, User
from openkvs.core.validation import STORE_ID_RE, STORE_NAME_RE, USERNAME_RE


class StoreAccess:
    def __init__(self, backend: Backend, default_access: str) -> None:
        self.backend = backend
        self.default_access = default_access

    async def resolve(
        self, ref: str, user: User | None, counters: bool = True
    ) -> tuple[Store, bool]:
        """The store named by an id, `~name` or `username~name`; the flag says it was by name.

        Without `counters` the store's stats and times may be stale (and the object shared):
        enough to decide access and to find its records, never to show."""
        if "~" not in ref:
            # A malformed reference cannot name a store: no need to ask storage (D2).
            if not STORE_ID_RE.fullmatch(ref):
                raise store_not_found()
            store = await self.backend.store_by_id(ref, counters=counters)
            if store is None:
                raise store_not_found()
            return store, False
        username, _, name = ref.partition("~")
        if not STORE_NAME_RE.fullmatch(name) or (username and not USERNAME_RE.fullmatch(username)):
            raise store_not_found()
        if not username:
            if user is None:
                raise token_not_provided()
            owner: User | None = user
        elif user is not None and user.username == username:
            owner = user
        else:
            owner = await self.backend.user_by_username(username)
        found = (
            await self.backend.store_by_name(owner.id, name, counters=counters) if owner else None
        )
        if found is None:
            raise store_not_found()
        return found, True

    async def readable(
        self,
        ref: str,
        user: User | None,
        signed: Callable[[Store], bool] | None = None,
        counters: bool = True,
    ) -> tuple[Store, bool]:
        """The store if the caller may read it; the flag says the caller is its owner."""
        store, by_name = await self.resolve(ref, user, counters)
        if user is not None and user.id == store.user_id:
            return store, True
        if anonymous_read_allowed(store, by_name, self.default_access):
            return store, False
        if signed is not None and signed(store):
            return store, False
        raise forbidden()

    async def writable(self, ref: str, user: User | None, counters: bool = True) -> Store:
        if user is None:
            raise token_not_provided()
        store, _ = await self.resolve(ref, user, counters)
        if store.user_id != user.id:
            raise forbidden()
        return store
