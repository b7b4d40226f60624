"""Key-value store schemas (behaviour.md#store-names-and-schemas): validation on create, collection
filters, record checks.

The checks here run in the schema workers (core/schema_worker.py), bounded in time. A schema never
makes the server fetch anything: at create, a reference that leaves the schema is refused, and
every validator resolves references through a registry that retrieves nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT7

from openkvs.core.errors import ApiError

# The largest store schema accepted, as compact JSON in UTF-8 (orjson.dumps).
MAX_SCHEMA_BYTES = 64 * 1024
# Keywords whose string value is a reference (draft 7, and the drafts a nested $schema may
# switch to); one that does not start with "#" points outside the schema.
REFERENCE_KEYWORDS = ("$ref", "$recursiveRef", "$dynamicRef")
MAX_REFERENCE_PROBLEMS = 20


def _retrieve_nothing(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


# jsonschema's default registry fetches http:// and file:// references; this one fetches nothing.
NO_RETRIEVAL: Registry[Any] = Registry(retrieve=_retrieve_nothing)  # type: ignore[call-arg]
_META_VALIDATOR = Draft7Validator(
    Draft7Validator.META_SCHEMA,
    registry=NO_RETRIEVAL,
    format_checker=Draft7Validator.FORMAT_CHECKER,
)


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
        problems.extend(_json_schema_problems(coll["jsonSchema"]))
    return problems


def _json_schema_problems(json_schema: Any) -> list[str]:
    try:
        error = next(_META_VALIDATOR.iter_errors(json_schema), None)
        if error is not None:
            return [f"jsonSchema is not a valid draft-07 schema: {error.message}"]
        return _reference_problems(json_schema)
    except RecursionError:
        return ["jsonSchema is nested too deeply"]


def _reference_problems(json_schema: Any) -> list[str]:
    """References that leave the schema, base URIs that move it, local references to nothing.

    Every object is looked at, not only the keywords draft 7 reads as schemas: a JSON pointer
    ("$ref": "#/enum/0") can make any object of the document a schema.
    """
    try:
        resolver = _crawled(json_schema).resolver()
    except Exception as exc:  # the third-party walker on a user's document: a 400, not a 500
        return [f"jsonSchema cannot be read for its references: {exc!r}"]
    problems = []
    for where, name, value in _string_members(json_schema):
        if name in REFERENCE_KEYWORDS:
            if not value.startswith("#"):
                problems.append(
                    f'jsonSchema: {name} "{value}" at {where} is not local to the schema '
                    '(a reference must start with "#")'
                )
                continue
            try:
                resolver.lookup(value)
            except (Unresolvable, ValueError):  # ValueError: a pointer indexes an array by a name
                problems.append(f'jsonSchema: {name} "{value}" at {where} refers to nothing')
        elif name == "$id" and not value.startswith("#"):
            problems.append(
                f'jsonSchema: $id "{value}" at {where} is not a plain fragment ("#name"): '
                "a schema may not change its base URI"
            )
        if len(problems) >= MAX_REFERENCE_PROBLEMS:
            break
    return problems


def _crawled(json_schema: Any) -> Registry[Any]:
    """A registry of the schema alone (at the base URI ""), its anchors found once, not per
    reference looked up."""
    registry: Registry[Any] = NO_RETRIEVAL.with_resource("", DRAFT7.create_resource(json_schema))
    return registry.crawl()


@functools.lru_cache(maxsize=32)
def _validator(schema_json: bytes) -> Draft7Validator:
    schema = orjson.loads(schema_json)
    return Draft7Validator(schema, registry=_crawled(schema))


def _string_members(doc: Any) -> Iterator[tuple[str, str, str]]:
    """(JSON pointer of the object, member name, value) of every string member, in order."""
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            children = list(node.items())
        elif isinstance(node, list):
            children = [(str(i), item) for i, item in enumerate(node)]
        else:
            continue
        for name, value in children:
            if isinstance(node, dict) and isinstance(value, str):
                yield path or "/", name, value
        nested = [(f"{path}/{_escape(n)}", v) for n, v in children if isinstance(v, dict | list)]
        stack.extend(reversed(nested))


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def schema_too_large(size: int) -> ApiError:
    problem = f"the schema may have at most {MAX_SCHEMA_BYTES} bytes as JSON (it has {size})"
    return _schema_invalid([problem])


def _schema_invalid(problems: list[str]) -> ApiError:
    return ApiError(
        400,
        "store-schema-invalid",
        "The key-value store schema is invalid: " + "; ".join(problems),
        data={"invalidItems": problems},
    )


def check_store_schema(doc: Any) -> dict[str, Any]:
    size = len(orjson.dumps(doc))
    if size > MAX_SCHEMA_BYTES:
        raise schema_too_large(size)
    problems = _schema_problems(doc)
    if problems:
        raise _schema_invalid(problems)
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


def check_record_body(schemas: list[tuple[str, dict[str, Any]]], data: bytes) -> None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400,
            "schema-validation-failed",
            f"The record is not valid JSON: {exc}",
            data={"errors": [{"path": "/", "message": str(exc)}]},
        ) from None
    check_record_json(schemas, value)


def check_record_json(schemas: list[tuple[str, dict[str, Any]]], value: Any) -> None:
    for cid, schema in schemas:
        validator = _validator(orjson.dumps(schema))
        try:
            errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
        except Unresolvable as exc:  # a store created before references were checked
            raise _not_applicable(cid, f"the reference {exc.ref!r} cannot be resolved") from None
        except RecursionError:
            raise _not_applicable(cid, "it recurses too deeply for this record") from None
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


def _not_applicable(cid: str, reason: str) -> ApiError:
    message = f'The JSON schema of collection "{cid}" cannot be applied: {reason}'
    return ApiError(
        400,
        "schema-validation-failed",
        message,
        data={"collection": cid, "errors": [{"path": "/", "message": message}]},
    )
