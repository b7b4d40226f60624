"""Unit tests of core/stores.py: finding a store from `{storeId}` and deciding who may read or
write it (behaviour.md#ids-names-and-keys, #access), called directly (no server).

StoreAccess asks storage three questions (a store by id, by owner and name, a user by name). A
small directory stands in for the backend here: the rules are the same over any backend (the
backend contract suite checks the lookups themselves), and it shows which references are refused
without asking storage at all."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

import pytest

from openkvs.core.errors import ApiError
from openkvs.core.models import Store, User
from openkvs.core.storage import Backend
from openkvs.core.stores import Grant, StoreAccess

T = TypeVar("T")

ALICE = User("A" * 17, "alice", 0)
BOB = User("B" * 17, "bob", 0)
STORE_ID = "S" * 17
OTHER_STORE_ID = "T" * 17


def verified(store: Store) -> bool:
    """A signature that verified."""
    return store.id == STORE_ID


def forged(store: Store) -> bool:
    """A signature that did not."""
    return False


NOT_FOUND = (404, "record-not-found")
FORBIDDEN = (403, "insufficient-permissions")
NO_TOKEN = (401, "token-not-provided")


def make_store(store_id: str, owner: User, name: str | None, general_access: str) -> Store:
    return Store(
        id=store_id,
        name=name,
        title=None,
        user_id=owner.id,
        username=owner.username,
        created_at=0,
        modified_at=0,
        accessed_at=0,
        general_access=general_access,
        schema=None,
        secret="s",
    )


class Directory:
    """The lookups StoreAccess makes, over fixed users and stores; every call is noted. It is
    the backend and its `stores` and `accounts` parts at once."""

    def __init__(self, stores: list[Store]) -> None:
        self.known_users = {user.username: user for user in (ALICE, BOB)}
        self.known_stores = stores
        self.calls: list[tuple[Any, ...]] = []
        self.stores = self.accounts = self

    async def by_id(self, store_id: str, *, counters: bool = True) -> Store | None:
        self.calls.append(("stores.by_id", store_id, counters))
        return next((s for s in self.known_stores if s.id == store_id), None)

    async def by_name(self, user_id: str, name: str, *, counters: bool = True) -> Store | None:
        self.calls.append(("stores.by_name", user_id, name, counters))
        return next((s for s in self.known_stores if (s.user_id, s.name) == (user_id, name)), None)

    async def user_by_username(self, username: str) -> User | None:
        self.calls.append(("accounts.user_by_username", username))
        return self.known_users.get(username)


def access(general_access: str = "RESTRICTED", default: str = "RESTRICTED") -> StoreAccess:
    """Alice's store `photos` with that general access, and Bob's `photos` by the same name."""
    stores = [
        make_store(STORE_ID, ALICE, "photos", general_access),
        make_store(OTHER_STORE_ID, BOB, "photos", "RESTRICTED"),
    ]
    return StoreAccess(cast(Backend, Directory(stores)), default)


def calls(store_access: StoreAccess) -> list[tuple[Any, ...]]:
    return cast(Directory, store_access.backend).calls


def run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(make())


def refused(make: Callable[[], Coroutine[Any, Any, object]]) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        run(make)
    return caught.value.status, caught.value.type


# --- resolving a reference -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "caller", "store_id", "by_name"),
    [
        (STORE_ID, None, STORE_ID, False),
        (STORE_ID, BOB, STORE_ID, False),
        ("~photos", ALICE, STORE_ID, True),
        ("~photos", BOB, OTHER_STORE_ID, True),  # "~name" is the caller's own store
        ("alice~photos", BOB, STORE_ID, True),
        ("alice~photos", None, STORE_ID, True),
        ("bob~photos", ALICE, OTHER_STORE_ID, True),
    ],
)
def test_a_store_is_found_by_id_own_name_or_username_and_name(
    ref: str, caller: User | None, store_id: str, by_name: bool
) -> None:
    store, named = run(lambda: access().resolve(ref, caller))
    assert (store.id, named) == (store_id, by_name)


@pytest.mark.parametrize(
    "ref",
    [
        "photos",  # a bare name is taken as an id
        "S" * 16,
        "S" * 18,
        "S" * 16 + "-",
        "alice~",
        "~",
        "alice~-photos",
        "alice~photos~2",
        "Alice~photos",
        "al~photos",
        "alice!~photos",
    ],
)
def test_a_reference_that_cannot_name_a_store_is_404_without_asking_storage(ref: str) -> None:
    store_access = access()
    assert refused(lambda: store_access.resolve(ref, ALICE)) == NOT_FOUND
    assert calls(store_access) == []


@pytest.mark.parametrize(
    ("ref", "caller"),
    [("U" * 17, ALICE), ("~albums", ALICE), ("carol~photos", ALICE), ("alice~albums", BOB)],
)
def test_a_well_formed_reference_to_no_store_is_404(ref: str, caller: User) -> None:
    store_access = access()
    assert refused(lambda: store_access.resolve(ref, caller)) == NOT_FOUND
    assert calls(store_access) != []


def test_an_own_name_without_a_token_is_401_without_asking_storage() -> None:
    store_access = access()
    assert refused(lambda: store_access.resolve("~photos", None)) == NO_TOKEN
    assert calls(store_access) == []


def test_the_callers_own_username_is_not_looked_up_and_counters_are_passed_on() -> None:
    store_access = access()
    run(lambda: store_access.resolve("alice~photos", ALICE, counters=False))
    run(lambda: store_access.resolve(STORE_ID, ALICE, counters=False))
    assert calls(store_access) == [
        ("stores.by_name", ALICE.id, "photos", False),
        ("stores.by_id", STORE_ID, False),
    ]


# --- who may read --------------------------------------------------------------------------------

Signature = Callable[[Store], bool] | None
BY_ID, BY_NAME = STORE_ID, "alice~photos"

# (general access, --default-general-access, reference, caller, signature) -> the grant, or the
# error (status, type) the reader gets.
READS: list[tuple[str, str, str, User | None, Signature, Grant | tuple[int, str]]] = [
    ("RESTRICTED", "RESTRICTED", BY_ID, ALICE, None, Grant.OWNER),
    ("RESTRICTED", "RESTRICTED", BY_NAME, ALICE, None, Grant.OWNER),
    ("RESTRICTED", "RESTRICTED", BY_ID, ALICE, forged, Grant.OWNER),  # the owner needs none
    ("RESTRICTED", "RESTRICTED", BY_ID, BOB, None, FORBIDDEN),
    ("RESTRICTED", "RESTRICTED", BY_ID, None, None, FORBIDDEN),
    ("RESTRICTED", "RESTRICTED", BY_NAME, BOB, None, NOT_FOUND),  # names can be guessed
    ("RESTRICTED", "RESTRICTED", BY_NAME, None, None, NOT_FOUND),
    ("RESTRICTED", "RESTRICTED", BY_ID, None, verified, Grant.SIGNATURE),
    ("RESTRICTED", "RESTRICTED", BY_ID, BOB, verified, Grant.SIGNATURE),
    ("RESTRICTED", "RESTRICTED", BY_NAME, None, verified, Grant.SIGNATURE),
    ("RESTRICTED", "RESTRICTED", BY_ID, None, forged, FORBIDDEN),
    ("RESTRICTED", "ANYONE_WITH_NAME_CAN_READ", BY_ID, None, None, FORBIDDEN),
    ("ANYONE_WITH_ID_CAN_READ", "RESTRICTED", BY_ID, None, None, Grant.PUBLIC),
    ("ANYONE_WITH_ID_CAN_READ", "RESTRICTED", BY_ID, BOB, None, Grant.PUBLIC),
    ("ANYONE_WITH_ID_CAN_READ", "RESTRICTED", BY_NAME, None, None, NOT_FOUND),
    ("ANYONE_WITH_ID_CAN_READ", "RESTRICTED", BY_ID, None, verified, Grant.SIGNATURE),
    ("ANYONE_WITH_ID_CAN_READ", "RESTRICTED", BY_ID, None, forged, Grant.PUBLIC),
    ("ANYONE_WITH_NAME_CAN_READ", "RESTRICTED", BY_ID, None, None, Grant.PUBLIC),
    ("ANYONE_WITH_NAME_CAN_READ", "RESTRICTED", BY_NAME, None, None, Grant.PUBLIC),
    ("ANYONE_WITH_NAME_CAN_READ", "RESTRICTED", BY_NAME, BOB, None, Grant.PUBLIC),
    ("FOLLOW_USER_SETTING", "RESTRICTED", BY_ID, None, None, FORBIDDEN),
    ("FOLLOW_USER_SETTING", "RESTRICTED", BY_NAME, None, None, NOT_FOUND),
    ("FOLLOW_USER_SETTING", "ANYONE_WITH_ID_CAN_READ", BY_ID, None, None, Grant.PUBLIC),
    ("FOLLOW_USER_SETTING", "ANYONE_WITH_ID_CAN_READ", BY_NAME, None, None, NOT_FOUND),
    ("FOLLOW_USER_SETTING", "ANYONE_WITH_NAME_CAN_READ", BY_NAME, BOB, None, Grant.PUBLIC),
]


@pytest.mark.parametrize(("general", "default", "ref", "caller", "signed", "expected"), READS)
def test_a_reader_is_let_in_as_owner_signature_or_public_or_refused(
    general: str,
    default: str,
    ref: str,
    caller: User | None,
    signed: Signature,
    expected: Grant | tuple[int, str],
) -> None:
    store_access = access(general, default)
    if isinstance(expected, Grant):
        store, grant = run(lambda: store_access.readable(ref, caller, signed))
        assert (store.id, grant) == (STORE_ID, expected)
    else:
        assert refused(lambda: store_access.readable(ref, caller, signed)) == expected


@pytest.mark.parametrize(
    ("grant", "may_sign"), [(Grant.OWNER, True), (Grant.SIGNATURE, True), (Grant.PUBLIC, False)]
)
def test_signed_urls_are_for_those_who_could_sign_them_never_for_the_public(
    grant: Grant, may_sign: bool
) -> None:
    assert grant.may_sign is may_sign


# --- who may write -------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", [BY_ID, BY_NAME, "~photos"])
def test_the_owner_may_write_by_any_reference(ref: str) -> None:
    store = run(lambda: access().writable(ref, ALICE))
    assert store.id == STORE_ID


@pytest.mark.parametrize(
    ("general", "ref", "caller", "expected"),
    [
        ("RESTRICTED", BY_ID, None, NO_TOKEN),
        ("ANYONE_WITH_NAME_CAN_READ", BY_ID, None, NO_TOKEN),
        ("RESTRICTED", BY_ID, BOB, FORBIDDEN),
        ("ANYONE_WITH_ID_CAN_READ", BY_ID, BOB, FORBIDDEN),
        ("RESTRICTED", BY_NAME, BOB, NOT_FOUND),  # not even readable: as if missing
        ("ANYONE_WITH_ID_CAN_READ", BY_NAME, BOB, NOT_FOUND),
        ("ANYONE_WITH_NAME_CAN_READ", BY_NAME, BOB, FORBIDDEN),  # readable, not writable
    ],
)
def test_anyone_else_is_refused_a_write(
    general: str, ref: str, caller: User | None, expected: tuple[int, str]
) -> None:
    store_access = access(general)
    assert refused(lambda: store_access.writable(ref, caller)) == expected
