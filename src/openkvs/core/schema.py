"""Key-value store schemas (D8): validation on create, collection filters, record checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from openkvs.core.errors import ApiError


@dataclass(frozen=True, slots=True)
class KeyFilter:
    """A collection as a key filter: one exact key, or a key prefix."""

    exact: str | None = None
    prefix: str | None = None

    def matches(self, key: str) -> bool:
        if self.exact is not None:
            return key == self.exact
        return self.prefix is not None and key.startswith(self.prefix)


def _schema_problems(doc: Any) -> list[str]:
    if not isinstance(doc, dict):
        return ["the schema must be a JSON object"]
    problems = []
    if doc.get("actorKeyValueStoreSchemaVersion") != 1:
        problems.append("actorKeyValueStoreSchemaVersion must be 1")
    if not isinstance(doc.get("title"), str):
        problems.append("title must be a string")
    if "description" in doc and not isinstance(doc["description"], str):
        problems.append("description must be a string")
    collections = doc.get("collections")
    if not isinstance(collections, dict):
        return [*problems, "collections must be an object"]
    for cid, coll in collections.items():
        problems.extend(f"collections.{cid}: {p}" for p in _collection_problems(coll))
    return problems


def _collection_problems(coll: Any) -> list[str]:
    if not isinstance(coll, dict):
        return ["must be an object"]
    problems = []
    has_key, has_prefix = "key" in coll, "keyPrefix" in coll
    if has_key == has_prefix:
        problems.append("must have exactly one of key and keyPrefix")
    for name in ("key", "keyPrefix"):
        if name in coll and (not isinstance(coll[name], str) or not coll[name]):
            problems.append(f"{name} must be a non-empty string")
    for name in ("title", "description"):
        if name in coll and not isinstance(coll[name], str):
            problems.append(f"{name} must be a string")
    types = coll.get("contentTypes")
    if types is not None and (
        not isinstance(types, list)
        or not types
        or not all(isinstance(t, str) and t for t in types)
        or len(set(types)) != len(types)
    ):
        problems.append("contentTypes must be a non-empty array of unique strings")
    if "jsonSchema" in coll:
        if types != ["application/json"]:
            problems.append('jsonSchema is only allowed when contentTypes is ["application/json"]')
        try:
            Draft7Validator.check_schema(coll["jsonSchema"])
        except SchemaError as exc:
            problems.append(f"jsonSchema is not a valid draft-07 schema: {exc.message}")
    return problems


def check_store_schema(doc: Any) -> dict[str, Any]:
    problems = _schema_problems(doc)
    if problems:
        raise ApiError(
            400,
            "store-schema-invalid",
            "The key-value store schema is invalid: " + "; ".join(problems),
            data={"invalidItems": problems},
        )
    assert isinstance(doc, dict)
    return doc


def collection_filter(schema: dict[str, Any] | None, collection: str) -> KeyFilter:
    collections = (schema or {}).get("collections") or {}
    coll = collections.get(collection)
    if coll is None:
        raise ApiError(
            400,
            "invalid-collection",
            f'Collection "{collection}" is not defined in the key-value store schema.',
        )
    if "key" in coll:
        return KeyFilter(exact=coll["key"])
    return KeyFilter(prefix=coll["keyPrefix"])


def collections_for_key(
    schema: dict[str, Any] | None, key: str
) -> list[tuple[str, dict[str, Any]]]:
    if not schema:
        return []
    found = []
    for cid, coll in (schema.get("collections") or {}).items():
        flt = KeyFilter(exact=coll.get("key"), prefix=coll.get("keyPrefix"))
        if flt.matches(key):
            found.append((cid, coll))
    return found


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def content_type_allowed(allowed: list[str], content_type: str) -> bool:
    media = _media_type(content_type)
    for pattern in allowed:
        want = _media_type(pattern)
        if want == media or want == "*/*":
            return True
        if want.endswith("/*") and media.startswith(want[:-1]):
            return True
    return False


def check_record_content_type(
    collections: list[tuple[str, dict[str, Any]]], content_type: str
) -> None:
    for cid, coll in collections:
        allowed = coll.get("contentTypes")
        if allowed and not content_type_allowed(allowed, content_type):
            raise ApiError(
                400,
                "schema-validation-failed",
                f'Content type "{content_type}" is not allowed in collection "{cid}".',
                data={"collection": cid, "errors": [f"content type must be one of {allowed}"]},
            )


def json_schemas(collections: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    return [(cid, coll["jsonSchema"]) for cid, coll in collections if "jsonSchema" in coll]


def check_record_json(schemas: list[tuple[str, dict[str, Any]]], value: Any) -> None:
    for cid, schema in schemas:
        errors = sorted(Draft7Validator(schema).iter_errors(value), key=lambda e: list(e.path))
        if errors:
            reasons = [
                {"path": "/" + "/".join(str(p) for p in err.path), "message": err.message}
                for err in errors[:50]
            ]
            raise ApiError(
                400,
                "schema-validation-failed",
                f'The record does not match the JSON schema of collection "{cid}": '
                f"{reasons[0]['message']}",
                data={"collection": cid, "errors": reasons},
            )
