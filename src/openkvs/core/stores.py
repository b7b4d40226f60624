"""Finding a store from `{storeId}` and deciding who may read or write it
(behaviour.md#ids-names-and-keys, #access)."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from openkvs.core.access import anonymous_read_allowed
from openkvs.core.errors import forbidden, store_not_found, token_not_provided
from openkvs.core.models import Store, User
from openkvs.core.storage import Backend
from openkvs.core.validation import STORE_ID_RE, STORE_NAME_RE, USERNAME_RE


class Grant(Enum):
    """How a reader was let in, which decides what it may be handed besides the data
    (behaviour.md#access)."""

    OWNER = "owner"
    SIGNATURE = "signature"  # a signature that verified, not merely one that was sent
    PUBLIC = "public"  # the store's general access

    @property
    def may_sign(self) -> bool:
        """Whether signed URLs may be minted for this reader: it could sign them itself."""
        return self is not Grant.PUBLIC


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
            # A malformed reference cannot name a store: no need to ask storage
            # (behaviour.md#ids-names-and-keys).
            if not STORE_ID_RE.fullmatch(ref):
                raise store_not_found()
            store = await self.backend.stores.by_id(ref, counters=counters)
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
            owner = await self.backend.accounts.user_by_username(username)
        found = (
            await self.backend.stores.by_name(owner.id, name, counters=counters) if owner else None
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
    ) -> tuple[Store, Grant]:
        """The store if the caller may read it, and how it was let in.

        `signed` checks the request's signature, if it sent one. A caller who may not read a store
        it named by name learns nothing: the answer is the missing store's (names can be guessed,
        unlike ids)."""
        store, by_name = await self.resolve(ref, user, counters)
        if user is not None and user.id == store.user_id:
            return store, Grant.OWNER
        if signed is not None and signed(store):
            return store, Grant.SIGNATURE
        if anonymous_read_allowed(store, by_name, self.default_access):
            return store, Grant.PUBLIC
        raise store_not_found() if by_name else forbidden()

    async def writable(self, ref: str, user: User | None, counters: bool = True) -> Store:
        if user is None:
            raise token_not_provided()
        store, by_name = await self.resolve(ref, user, counters)
        if store.user_id != user.id:
            # By name, a store the caller may not even read is answered as missing (`readable`).
            hidden = by_name and not anonymous_read_allowed(store, by_name, self.default_access)
            raise store_not_found() if hidden else forbidden()
        return store
