"""--log-format json: every log line is one JSON object, an access line has the request's facts
(time, level, request id, method, route, status, duration, bytes, user id) and never a token or
signature; control characters cannot forge lines in either format."""

from __future__ import annotations

import json
import logging
import uuid

import httpx

from openkvs.http.access_log import RequestFacts, format_json
from openkvs.log_format import JsonFormatter, TextFormatter
from tests.http_helpers import bearer, poll, record_url
from tests.server_process import MakeServer

RECORD_ROUTE = "/v2/key-value-stores/{store_id}/records/{key}"
BOOTSTRAP_LINES = ("Created user", "APIFY_")


def _json_lines(log: str) -> list[dict[str, object]]:
    """Every line of the server's output, parsed; the first-start block is the only text."""
    parsed = []
    for line in log.splitlines():
        if not line.strip() or line.startswith(BOOTSTRAP_LINES):
            continue
        parsed.append(json.loads(line))  # fails the test on any line that is not JSON
    return parsed


def test_json_access_lines_have_the_request_facts(make_server: MakeServer) -> None:
    proc = make_server(["--log-format", "json"])
    marker = uuid.uuid4().hex
    headers = bearer(proc.token)
    with httpx.Client(base_url=proc.url, timeout=10) as http:
        me = http.get("/v2/users/me", headers=headers).json()["data"]
        created = http.post("/v2/key-value-stores", headers=headers)
        store_id = created.json()["data"]["id"]
        body = b"j" * 1234
        put = http.put(record_url(store_id, marker), content=body, headers=headers)
        assert put.status_code in (200, 201)
        got = http.get(record_url(store_id, marker), params={"token": proc.token})
        assert got.content == body
        http.get(f"/v2/key-value-stores/{store_id}/records/{marker}?signature=s3cr3tsig")
        http.get(f"/v2/users/me?m={marker}&token=wrong-{marker}")
        http.get("/v2/users/me/%0a%1b%e2%80%a8x")
    lines = poll(
        lambda: _json_lines(proc.log()),
        lambda found: any(f"m={marker}" in str(line.get("query")) for line in found),
        timeout=10,
    )
    access = [line for line in lines if line.get("logger") == "openkvs.access"]
    assert any(line.get("logger") == "openkvs" for line in lines)  # the server's own lines too
    puts = [line for line in access if line["method"] == "PUT" and marker in str(line["path"])]
    assert len(puts) == 1
    line = puts[0]
    assert line["route"] == RECORD_ROUTE
    assert line["status"] == put.status_code
    assert line["bytes_in"] == len(body)
    assert isinstance(line["bytes_out"], int) and line["bytes_out"] > 0
    assert line["user_id"] == me["id"]
    assert line["level"] == "INFO"
    assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    assert isinstance(line["request_id"], str) and line["request_id"]
    assert str(line["time"]).endswith("Z")
    gets = [line for line in access if line["method"] == "GET" and marker in str(line["path"])]
    assert any(g["bytes_out"] == len(body) and g["user_id"] == me["id"] for g in gets)
    # The first-start block shows the token once, by design; no log line does.
    text = "\n".join(x for x in proc.log().splitlines() if not x.startswith(BOOTSTRAP_LINES))
    assert proc.token not in text and f"wrong-{marker}" not in text and "s3cr3tsig" not in text
    # The control characters arrived as themselves and were written as escapes.
    assert "\u2028" not in text and "\x1b" not in text
    assert any(str(line["path"]).startswith("/v2/users/me/\n\x1b\u2028") for line in access)


def test_a_json_line_escapes_what_could_split_it() -> None:
    scope = {
        "method": "GET",
        "path": "/a\nb\u2028c\x85d\udcff",
        "query_string": b"token=t0k&x=1",
        "client": ("127.0.0.1", 1),
    }
    line = format_json(scope, 200, 1.5, "id-1", 0.0, RequestFacts("/r", 0, 10, None))
    assert line.endswith("\n") and len(line.splitlines()) == 1
    assert "\u2028" not in line and "\x85" not in line and "t0k" not in line
    parsed = json.loads(line)
    assert parsed["path"].startswith("/a\nb\u2028c\x85d")
    assert parsed["query"] == "token=%2A%2A%2A&x=1"


def test_the_servers_own_lines_escape_control_characters() -> None:
    record = logging.LogRecord("openkvs", logging.WARNING, "f", 1, "bad %s", ("a\nb\x1b",), None)
    text = TextFormatter().format(record)
    assert "\n" not in text and "\x1b" not in text and "a\\x0ab\\x1b" in text
    line = JsonFormatter().format(record)
    assert "\n" not in line and json.loads(line)["message"] == "bad a\nb\x1b"
