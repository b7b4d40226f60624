"""Store schemas that would make the server fetch, freeze or swell
(behaviour.md#store-names-and-schemas; issue: safe to share with
users you don't fully trust, items 1, 2 and the schema half of 5).

A schema is refused at create when a reference leaves it; no validator retrieves anything even for
a schema stored before that rule; validation runs in worker processes, bounded by
--validation-timeout, so another user's request answers meanwhile; a schema has at most 64 KiB.
"""

from __future__ import annotations

import contextlib
import copy
import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from openkvs.core.schema import MAX_SCHEMA_BYTES
from tests.http_helpers import STORES, assert_error, owner_client, record_url, unique_name
from tests.server_process import MakeServer, ServerProcess
from tests.store_inspection import sql

# What a fetched document would say: the validation message would then leak it.
BAIT_DOCUMENT = {"enum": ["bait-secret"], "definitions": {"x": {"enum": ["bait-secret"]}}}
UNIQUE_ITEMS_BOMB = json.dumps([{"i": i} for i in range(4000)]).encode()  # ~50 KB, ~30 s
BACKTRACKING = json.dumps("a" * 32 + "!").encode()  # ^(a+)+$ doubles per character


@dataclass
class Bait:
    """A slow local HTTP server and a local JSON file that a fetching validator would read."""

    url: str
    file: Path
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def bait(tmp_path: Path) -> Iterator[Bait]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            time.sleep(3)  # a slow peer: a fetch on the event loop would freeze the server
            body = json.dumps(BAIT_DOCUMENT).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    peer = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    peer.daemon_threads = True
    thread = threading.Thread(target=peer.serve_forever, daemon=True)
    thread.start()
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(BAIT_DOCUMENT))
    try:
        yield Bait(f"http://127.0.0.1:{peer.server_address[1]}", secret, hits)
    finally:
        peer.shutdown()
        peer.server_close()


def store_schema(json_schema: Any) -> dict[str, Any]:
    """A store schema whose collection "doc" (key DOC) holds JSON checked by `json_schema`."""
    return {
        "actorKeyValueStoreSchemaVersion": 1,
        "title": "security",
        "collections": {
            "doc": {
                "title": "Doc",
                "key": "DOC",
                "contentTypes": ["application/json"],
                "jsonSchema": json_schema,
            }
        },
    }


def create_with_schema(client: httpx.Client, json_schema: Any) -> str:
    response = client.post(
        STORES, params={"name": unique_name()}, json={"schema": store_schema(json_schema)}
    )
    assert response.status_code == 201, response.text
    store_id: str = response.json()["data"]["id"]
    return store_id


def put_doc(client: httpx.Client, store_id: str, body: bytes) -> httpx.Response:
    return client.put(
        record_url(store_id, "DOC"), content=body, headers={"Content-Type": "application/json"}
    )


def leaving_schemas(bait: Bait) -> dict[str, Any]:
    return {
        "http-ref": {"$ref": f"{bait.url}/schema.json"},
        "file-ref": {"properties": {"a": {"$ref": bait.file.as_uri()}}},
        "relative-ref-under-a-remote-id": {
            "$id": f"{bait.url}/base/",
            "properties": {"a": {"$ref": "schema.json"}},
        },
        "remote-id-alone": {"$id": f"{bait.url}/schema.json", "type": "object"},
        # A JSON pointer makes any object a schema, even one inside a keyword's data.
        "ref-hidden-in-enum-data": {
            "properties": {"a": {"$ref": "#/definitions/x/enum/0"}},
            "definitions": {"x": {"enum": [{"$ref": f"{bait.url}/hidden.json"}]}},
        },
        # A nested $schema switches the dialect, and its reference keyword with it.
        "dynamic-ref-under-a-newer-dialect": {
            "properties": {
                "a": {
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "$dynamicRef": f"{bait.url}/dynamic.json",
                }
            }
        },
    }


@pytest.mark.parametrize(
    "case",
    [
        "http-ref",
        "file-ref",
        "relative-ref-under-a-remote-id",
        "remote-id-alone",
        "ref-hidden-in-enum-data",
        "dynamic-ref-under-a-newer-dialect",
    ],
)
def test_a_reference_leaving_the_schema_is_refused_at_create(
    http: httpx.Client, bait: Bait, case: str
) -> None:
    name = unique_name()
    doc = store_schema(leaving_schemas(bait)[case])
    response = http.post(STORES, params={"name": name}, json={"schema": doc})
    error = assert_error(response, 400, "store-schema-invalid")
    items = error["data"]["invalidItems"]
    assert items and all("collections.doc: jsonSchema" in item for item in items), items
    assert (
        "not local to the schema" in error["message"]
        or "not a plain fragment" in (error["message"])
    )
    assert_error(http.get(f"{STORES}/~{name}"), 404, "record-not-found")
    assert bait.hits == []


def test_a_local_reference_to_nothing_is_refused_at_create(http: httpx.Client) -> None:
    """Was a 500 at the first write (the validator raised); now a 400 naming the reference."""
    response = http.post(
        STORES,
        params={"name": unique_name()},
        json={"schema": store_schema({"properties": {"a": {"$ref": "#/definitions/nope"}}})},
    )
    error = assert_error(response, 400, "store-schema-invalid")
    assert '"#/definitions/nope" at /properties/a refers to nothing' in error["message"]


def test_local_references_anchors_and_a_property_named_ref_still_work(
    http: httpx.Client,
) -> None:
    json_schema = {
        "type": "object",
        "definitions": {
            "port": {"type": "integer", "minimum": 1},
            "named": {"$id": "#named", "type": "string"},
        },
        "properties": {
            "port": {"$ref": "#/definitions/port"},
            "name": {"$ref": "#named"},
            "$ref": {"type": "string"},  # a property called "$ref", not a reference
        },
        "required": ["port"],
    }
    sid = create_with_schema(http, json_schema)
    for bad in ({"port": 0}, {"port": 1, "name": 5}, {"port": 1, "$ref": 7}, {}):
        error = assert_error(
            put_doc(http, sid, json.dumps(bad).encode()), 400, "schema-validation-failed"
        )
        assert error["data"]["collection"] == "doc", error
    good = {"port": 8080, "name": "x", "$ref": "just a string"}
    assert put_doc(http, sid, json.dumps(good).encode()).status_code == 201
    assert http.get(record_url(sid, "DOC")).json() == good


def test_a_schema_naming_a_url_as_its_dialect_is_not_fetched(
    http: httpx.Client, bait: Bait
) -> None:
    json_schema = {
        "$schema": f"{bait.url}/meta.json",
        "type": "object",
        "properties": {"a": {"$schema": f"{bait.url}/nested-meta.json", "type": "string"}},
    }
    sid = create_with_schema(http, json_schema)
    assert_error(put_doc(http, sid, b'{"a": 1}'), 400, "schema-validation-failed")
    assert put_doc(http, sid, b'{"a": "x"}').status_code == 201
    assert bait.hits == []


def test_no_validator_fetches_even_for_a_schema_stored_before_the_rule(
    make_server: MakeServer, bait: Bait
) -> None:
    """The mechanism under the rule: a remote reference already in the store (an upgrade, an
    edit behind the server's back) fails validation with a 400 and is never retrieved."""
    proc = make_server()
    with owner_client(proc) as client:
        sid = create_with_schema(client, {"type": "object"})
    proc.stop()
    leaving = {
        "properties": {
            "a": {"$ref": f"{bait.url}/schema.json"},
            "b": {"$ref": bait.file.as_uri()},
        }
    }
    sql(proc, "UPDATE stores SET schema = ? WHERE id = ?", json.dumps(store_schema(leaving)), sid)
    proc.start()
    with owner_client(proc) as client:
        for body in (b'{"a": "x"}', b'{"b": "x"}'):
            error = assert_error(put_doc(client, sid, body), 400, "schema-validation-failed")
            assert "cannot be resolved" in error["message"], error
            assert "bait-secret" not in json.dumps(error)
        assert_error(client.get(record_url(sid, "DOC")), 404, "record-not-found")
    assert bait.hits == []


# --- bounded validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("json_schema", "body"),
    [
        ({"type": "array", "uniqueItems": True}, UNIQUE_ITEMS_BOMB),
        ({"type": "string", "pattern": "^(a+)+$"}, BACKTRACKING),
    ],
    ids=["unique-items", "backtracking-pattern"],
)
def test_a_validation_past_the_time_limit_is_400_and_nothing_is_stored(
    make_server: MakeServer, json_schema: dict[str, Any], body: bytes
) -> None:
    proc = make_server(("--validation-timeout", "1s"))
    with owner_client(proc) as client:
        sid = create_with_schema(client, json_schema)
        started = time.monotonic()
        error = assert_error(put_doc(client, sid, body), 400, "schema-validation-failed")
        assert time.monotonic() - started < 15, "not bounded by the 1 s limit"
        assert "longer than the limit of 1 s" in error["message"], error
        assert error["data"]["errors"][0]["path"] == "/", error
        assert_error(client.get(record_url(sid, "DOC")), 404, "record-not-found")
        # The killed worker is replaced: the next small validation works as before.
        small = b'["a"]' if json_schema["type"] == "array" else b'"aaa"'
        assert put_doc(client, sid, small).status_code == 201
        assert client.get(record_url(sid, "DOC")).content == small


def test_another_users_request_answers_while_a_validation_runs(make_server: MakeServer) -> None:
    proc = make_server(("--validation-timeout", "8"))
    other = proc.create_user()
    with owner_client(proc) as client:
        sid = create_with_schema(client, {"type": "array", "uniqueItems": True})
    answers: list[httpx.Response] = []

    def hostile_write() -> None:
        with owner_client(proc) as client:
            answers.append(put_doc(client, sid, UNIQUE_ITEMS_BOMB))

    writer = threading.Thread(target=hostile_write)
    writer.start()
    try:
        time.sleep(1.5)  # the worker has started and is busy with the bomb
        with httpx.Client(base_url=proc.url, headers={"Authorization": f"Bearer {other}"}) as user:
            for _ in range(3):
                started = time.monotonic()
                response = user.get("/v2/users/me", timeout=10)
                elapsed = time.monotonic() - started
                assert response.status_code == 200, response.text
                assert elapsed < 1.0, f"GET /v2/users/me took {elapsed:.2f} s during a validation"
                time.sleep(0.2)
        assert writer.is_alive(), "the validation ended before the other user's requests"
    finally:
        writer.join(60)
    assert_error(answers[0], 400, "schema-validation-failed")


def test_the_validation_flags_are_documented_and_checked() -> None:
    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "openkvs", "serve", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    text = serve("--help").stdout
    for flag in ("validation-timeout", "validation-workers"):
        assert f"--{flag}" in text and "OPENKVS_" + flag.upper().replace("-", "_") in text, text
    for bad in (("--validation-timeout", "0"), ("--validation-workers", "0")):
        result = serve(*bad)
        assert result.returncode == 2, result.stderr
        assert bad[0] in result.stderr, result.stderr


# --- schema size ----------------------------------------------------------------------------------


def schema_of_size(size: int) -> dict[str, Any]:
    """A valid store schema whose compact JSON (what the limit measures) has `size` bytes."""
    doc = store_schema({"type": "object"})
    doc["description"] = ""
    overhead = len(json.dumps(doc, separators=(",", ":")).encode())
    doc = copy.deepcopy(doc)
    doc["description"] = "d" * (size - overhead)
    assert len(json.dumps(doc, separators=(",", ":")).encode()) == size
    return doc


def test_a_schema_over_64_kib_is_refused_and_one_at_the_limit_accepted(
    http: httpx.Client,
) -> None:
    assert MAX_SCHEMA_BYTES == 64 * 1024
    name = unique_name()
    response = http.post(STORES, params={"name": name}, json={"schema": schema_of_size(65537)})
    error = assert_error(response, 400, "store-schema-invalid")
    assert "at most 65536 bytes" in error["message"], error
    assert error["data"]["invalidItems"], error
    assert_error(http.get(f"{STORES}/~{name}"), 404, "record-not-found")
    at_limit = schema_of_size(65536)
    response = http.post(STORES, params={"name": unique_name()}, json={"schema": at_limit})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["schema"] == at_limit


# --- worker processes end with the server ---------------------------------------------------------


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc, Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for whoever adopted it to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _schema_workers(proc: ServerProcess) -> list[int]:
    assert proc.proc is not None
    return [
        pid
        for pid in _children(proc.proc.pid)
        if b"schema_worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


@pytest.mark.parametrize("ending", ["stop", "kill-idle", "kill-busy"])
def test_no_schema_worker_outlives_the_server(make_server: MakeServer, ending: str) -> None:
    proc = make_server(("--validation-timeout", "30"))
    with owner_client(proc) as client:
        sid = create_with_schema(client, {"type": "array", "uniqueItems": True})
        assert put_doc(client, sid, b"[1, 2]").status_code == 201
    writer = None
    if ending == "kill-busy":  # the worker is computing, not waiting on its pipe

        def hostile_write() -> None:
            with owner_client(proc) as client, contextlib.suppress(httpx.TransportError):
                put_doc(client, sid, UNIQUE_ITEMS_BOMB)

        writer = threading.Thread(target=hostile_write, daemon=True)
        writer.start()
        time.sleep(1.0)
    workers = _schema_workers(proc)
    assert workers, "no schema worker was started"
    if ending == "stop":
        proc.stop()
    else:
        proc.kill()
    deadline = time.monotonic() + 5
    while any(map(_running, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_running, workers)), f"schema workers {workers} outlived the server"
    if writer is not None:
        writer.join(10)
