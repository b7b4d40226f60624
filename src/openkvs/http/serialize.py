"""Stores and users as the Apify API shows them (the shapes of Apify's API documentation)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from openkvs.core.ids import iso_ms, now_ms
from openkvs.core.models import Store, User
from openkvs.core.signing import KEYS_URL_LIFETIME_MS, sign_record, storage_signature
from openkvs.http.console_views import console_url


def store_url(public_base: str, store_id: str) -> str:
    return f"{public_base}/v2/key-value-stores/{store_id}"


def record_url(public_base: str, store: Store, key: str, signed: bool) -> str:
    url = f"{public_base}/v2/key-value-stores/{store.id}/records/{quote(key, safe='')}"
    signature = sign_record(store.secret, store.id, key) if signed else None
    if signature is not None:
        url += "?signature=" + signature
    return url


def store_json(store: Store, public_base: str, owner: bool) -> dict[str, Any]:
    base = store_url(public_base, store.id)
    keys_url, records_url = f"{base}/keys", f"{base}/records"
    if owner:
        signature = storage_signature(store.secret, store.id, now_ms() + KEYS_URL_LIFETIME_MS)
        keys_url += "?signature=" + signature
        records_url += "?signature=" + signature
    stats = store.stats
    data: dict[str, Any] = {
        "id": store.id,
        "name": store.name,
        "userId": store.user_id,
        "username": store.username,
        "createdAt": iso_ms(store.created_at),
        "modifiedAt": iso_ms(store.modified_at),
        "accessedAt": iso_ms(store.accessed_at),
        "actId": None,
        "actRunId": None,
        "keysPublicUrl": keys_url,
        "recordsPublicUrl": records_url,
        "consoleUrl": console_url(public_base, store.id),
        "schema": store.schema,
        "generalAccess": store.general_access,
        "stats": {
            "readCount": stats.read_count,
            "writeCount": stats.write_count,
            "deleteCount": stats.delete_count,
            "listCount": stats.list_count,
            "storageBytes": stats.storage_bytes,
            "s3StorageBytes": stats.storage_bytes,
            "recordCount": stats.record_count,  # openkvs addition
        },
    }
    if store.title is not None:
        data["title"] = store.title
    if owner:
        data["urlSigningSecretKey"] = store.secret
    return data


def user_json(user: User, private: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "createdAt": iso_ms(user.created_at),
        "profile": {},
    }
    if private:
        data["email"] = None
        data["plan"] = {"id": "SELF_HOSTED", "description": "openkvs"}
    return data
