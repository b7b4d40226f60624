"""Who may read a store (behaviour.md#access)."""

from __future__ import annotations

from openkvs.core.models import Store


def effective_access(store: Store, default_access: str) -> str:
    if store.general_access == "FOLLOW_USER_SETTING":
        return default_access
    return store.general_access


def anonymous_read_allowed(store: Store, by_name: bool, default_access: str) -> bool:
    """Whether anyone, without being the owner or holding a signature, may read the store."""
    access = effective_access(store, default_access)
    if access == "ANYONE_WITH_NAME_CAN_READ":
        return True
    return access == "ANYONE_WITH_ID_CAN_READ" and not by_name
