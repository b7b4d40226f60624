"""Schemathesis against the live server, on both backends (the session `server` fixture):

(a) openkvs's own description, fetched from GET /v2/openapi.json: every documented operation is
    fuzzed with positive and negative data; no 5xx, and every response matches the document
    (status code, content type, headers and body schema).
(b) Apify's own description (shared/reference/apify-openapi-kvs.json): no 5xx, and the response
    bodies match Apify's schemas wherever openkvs claims compatibility (see APIFY_EXCEPTIONS).

Path parameters are real most of the time (stores and records made for the run, `~name` and
`username~name` forms, an existing user) and generated otherwise, so both the found and the
not-found paths run. Generation is derandomized and bounded, so a run is repeatable and short.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.http_helpers import STORES, create_store, put_record
from tests.server_process import ServerProcess

pytestmark = pytest.mark.reliability

APIFY_DOC = Path(__file__).parents[2] / "shared/reference/apify-openapi-kvs.json"
MAX_EXAMPLES = 25  # per operation and generation mode
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
FRESH_STORE = "fresh-store-for-delete"  # replaced by a newly created store id when sent

OWN_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
APIFY_CHECKS = [not_a_server_error, response_schema_conformance]

# Record bodies are opaque bytes, stored and served exactly as uploaded (behaviour.md#records): a
# record stored as
# application/json may hold a JSON array, a string, or bytes that are not JSON at all. The body
# of a record GET is therefore not checked against a schema (schemathesis would parse it as JSON);
# everything else about those responses still is, and they must never be a 5xx.
OWN_OPAQUE_BODIES = {("getRecord", 200), ("getRecord", 206)}
# Where Apify's document and docs/behaviour.md disagree, docs/behaviour.md wins: (operationId,
# status) pairs whose response body is not checked against Apify's schema, with the reason.
APIFY_EXCEPTIONS: dict[tuple[str, int], str] = {
    # Apify's RecordResponse says a record served as application/json is a JSON *object*;
    # openkvs serves the bytes exactly as uploaded (see OWN_OPAQUE_BODIES).
    ("keyValueStore_record_get", 200): "behaviour.md#records: served exactly as uploaded",
}

RECORDS: dict[str, tuple[bytes, dict[str, str]]] = {
    "json-array": (b"[1, 2, 3]", {"Content-Type": "application/json"}),
    "json-object": (b'{"a": 1}', {"Content-Type": "application/json; charset=utf-8"}),
    "not-json": (b"{this is not json", {"Content-Type": "application/json"}),
    "text": (b"hello world", {"Content-Type": "text/plain"}),
    "page.html": (b"<h1>hi</h1>", {"Content-Type": "text/html"}),
    "empty": (b"", {"Content-Type": "application/octet-stream"}),
    "gzipped": (
        gzip.compress(b"compressed text " * 100),
        {"Content-Type": "text/plain", "Content-Encoding": "gzip"},
    ),
    "large": (bytes(range(256)) * 400, {"Content-Type": "application/octet-stream"}),
}


@dataclass
class Targets:
    """Real values for path parameters: a read-only store with records, and a scratch store."""

    read_refs: list[str]
    read_id: str
    scratch_id: str
    keys: list[str]
    user_refs: list[str]
    make_store: Callable[[], str]


@dataclass
class Tally:
    examples: int = 0
    server_errors: int = 0
    statuses: collections.Counter[tuple[str, int]] = field(default_factory=collections.Counter)
    failures: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        return f"examples={self.examples} server_errors={self.server_errors}"


@pytest.fixture
def targets(server: ServerProcess, http: httpx.Client) -> Targets:
    read = create_store(http, "st-read-" + uuid.uuid4().hex[:8])
    for key, (body, headers) in RECORDS.items():
        put_record(http, read["id"], key, body, None, **headers)
    scratch = create_store(http, "st-scratch-" + uuid.uuid4().hex[:8])
    me = http.get("/v2/users/me").json()["data"]

    def make_store() -> str:
        return str(create_store(http)["id"])

    return Targets(
        read_refs=[read["id"], f"~{read['name']}", f"{server.username}~{read['name']}"],
        read_id=read["id"],
        scratch_id=scratch["id"],
        keys=list(RECORDS),
        user_refs=["me", me["id"], me["username"]],
        make_store=make_store,
    )


def path_variants(operation: Any, targets: Targets) -> list[dict[str, str]]:
    """Fixed path parameters for one operation; an empty dict means "all generated"."""
    params = {p.name for p in operation.path_parameters}
    method = operation.method.upper()
    if params == {"userId"}:
        return [{"userId": ref} for ref in targets.user_refs] + [{}]
    if "storeId" not in params:
        return [{}]
    reads = method in ("GET", "HEAD")
    if "recordKey" in params:
        if reads:
            fixed = [{"storeId": targets.read_id, "recordKey": key} for key in targets.keys]
            fixed += [{"storeId": ref} for ref in targets.read_refs]
        else:  # writes go to the scratch store (and sometimes overwrite its few keys)
            fixed = [{"storeId": targets.scratch_id, "recordKey": k} for k in ("a", "b", "c")]
            fixed += [{"storeId": targets.scratch_id}]
        return [*fixed, {}]
    if method == "DELETE":
        return [{"storeId": FRESH_STORE}, {}]
    if reads:
        return [*({"storeId": ref} for ref in targets.read_refs), {}]
    return [{"storeId": targets.scratch_id}, {}]


def operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


def fuzz(
    schema: Any,
    base_url: str,
    token: str,
    targets: Targets,
    checks_for: Callable[[Any, int], list[Any]],
) -> Tally:
    """Every operation of `schema`, in both generation modes; failures are collected, not raised."""
    tally = Tally()
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    for operation in operations(schema):
        for mode in MODES:
            strategies = [
                operation.as_strategy(generation_mode=mode, path_parameters=fixed or None)
                for fixed in path_variants(operation, targets)
            ]
            run_operation(
                operation,
                st.one_of(strategies),
                session,
                base_url,
                headers,
                targets,
                checks_for,
                tally,
            )
    session.close()
    return tally


def run_operation(
    operation: Any,
    strategy: Any,
    session: requests.Session,
    base_url: str,
    headers: dict[str, str],
    targets: Targets,
    checks_for: Callable[[Any, int], list[Any]],
    tally: Tally,
) -> None:
    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    def one(case: Any) -> None:
        if case.path_parameters and case.path_parameters.get("storeId") == FRESH_STORE:
            case.path_parameters = {**case.path_parameters, "storeId": targets.make_store()}
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=60)
        tally.examples += 1
        tally.statuses[(operation.label, response.status_code)] += 1
        if response.status_code >= 500:
            tally.server_errors += 1
        checks = checks_for(operation, response.status_code)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as exc:
            title = f"{operation.label} -> {response.status_code}: {str(exc).splitlines()[0]}"
            tally.failures.setdefault(title, str(exc)[:3000])

    # Negative mode on an operation whose every parameter is fixed has nothing to negate.
    with contextlib.suppress(Unsatisfiable):
        one()


def report(capsys: pytest.CaptureFixture[str], label: str, tally: Tally) -> None:
    with capsys.disabled():
        print(f"\nschemathesis[{label}]: {tally.summary()}")
        for (op, status), count in sorted(tally.statuses.items()):
            print(f"    {op} {status}: {count}")


def assert_clean(tally: Tally, server: ServerProcess) -> None:
    assert tally.examples > 0
    problems = "\n\n".join(f"### {title}\n{text}" for title, text in tally.failures.items())
    if tally.server_errors:
        log = "\n".join(line for line in server.log().splitlines() if "Error" in line)
        problems += "\n\nserver log (errors):\n" + log[-4000:]
    assert not tally.failures and tally.server_errors == 0, problems


def test_schemathesis_own_openapi_document(
    server: ServerProcess, targets: Targets, capsys: pytest.CaptureFixture[str], backend: str
) -> None:
    config = schemathesis.Config.from_dict(
        {"generation": {"with-security-parameters": False, "database": "none"}}
    )
    schema = schemathesis.openapi.from_url(f"{server.url}/v2/openapi.json", config=config)

    def checks_for(operation: Any, status: int) -> list[Any]:
        if (operation.schema.get_operation_id(operation), status) in OWN_OPAQUE_BODIES:
            return [check for check in OWN_CHECKS if check is not response_schema_conformance]
        return OWN_CHECKS

    tally = fuzz(schema, server.url, server.token, targets, checks_for)
    report(capsys, f"openkvs/{backend}", tally)
    assert_clean(tally, server)


def test_schemathesis_apify_openapi_document(
    server: ServerProcess, targets: Targets, capsys: pytest.CaptureFixture[str], backend: str
) -> None:
    if not APIFY_DOC.is_file():
        pytest.skip(f"{APIFY_DOC} is not there (shared/ beside the repository)")
    config = schemathesis.Config.from_dict(
        {"generation": {"with-security-parameters": False, "database": "none"}}
    )
    schema = schemathesis.openapi.from_path(APIFY_DOC, config=config)

    def checks_for(operation: Any, status: int) -> list[Any]:
        operation_id = operation.schema.get_operation_id(operation)
        if (operation_id, status) in APIFY_EXCEPTIONS:
            return [not_a_server_error]
        return APIFY_CHECKS

    tally = fuzz(schema, server.url, server.token, targets, checks_for)
    report(capsys, f"apify/{backend}", tally)
    assert_clean(tally, server)


def test_openapi_document_is_served_without_a_token(
    server: ServerProcess, anon: httpx.Client
) -> None:
    # Schemathesis leaves the document's own URL out of the operations it fuzzes: check it here.
    schema = schemathesis.openapi.from_url(f"{server.url}/v2/openapi.json")
    case = schema["/v2/openapi.json"]["GET"].Case()
    case.validate_response(case.call(base_url=server.url, timeout=60), checks=OWN_CHECKS)
    response = anon.get("/v2/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.0.")
    paths = set(document["paths"])
    assert {
        STORES,
        STORES + "/{storeId}",
        STORES + "/{storeId}/keys",
        STORES + "/{storeId}/records",
        STORES + "/{storeId}/records/{recordKey}",
        "/v2/users/{userId}",
        "/v2/openapi.json",
    } <= paths
