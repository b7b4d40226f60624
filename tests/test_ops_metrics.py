"""/metrics: the Prometheus text format, read with prometheus_client's own parser. Counters move
with the requests made (by route template, never by store id or key), the storage totals follow
the records written, the backend's own numbers are there, and --metrics-token / --no-metrics do
what they say."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from importlib.metadata import version

import httpx

from tests.http_helpers import assert_error, bearer, create_store, owner_client, poll, record_url
from tests.metrics_scrape import scrape, value
from tests.server_process import MakeServer, ServerProcess

RECORD_ROUTE = "/v2/key-value-stores/{store_id}/records/{key}"


def test_requests_are_counted_by_route_template(server: ServerProcess) -> None:
    key = "metrics-" + uuid.uuid4().hex
    body = b"m" * 1000
    with owner_client(server) as http:
        store_id = create_store(http)["id"]
        before = scrape(server)
        for _ in range(3):
            assert http.put(record_url(store_id, key), content=body).status_code in (200, 201)
        for _ in range(5):
            assert http.get(record_url(store_id, key)).content == body
        assert http.get(record_url(store_id, "missing-" + key)).status_code == 404
    text = httpx.get(server.url + "/metrics", timeout=10).text
    assert store_id not in text and key not in text  # never a store id or a key
    after = scrape(server)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    put = {"route": RECORD_ROUTE, "method": "PUT"}
    get = {"route": RECORD_ROUTE, "method": "GET"}
    assert moved("openkvs_http_requests_total", status="2xx", **put) == 3
    assert moved("openkvs_http_requests_total", status="2xx", **get) == 5
    assert moved("openkvs_http_requests_total", status="4xx", **get) == 1
    assert moved("openkvs_http_request_body_bytes_total", **put) == 3 * len(body)
    assert moved("openkvs_http_response_body_bytes_total", **get) >= 5 * len(body)
    assert moved("openkvs_http_request_duration_seconds_count", **get) == 6
    assert moved("openkvs_http_request_duration_seconds_sum", **get) > 0
    buckets = [
        v
        for (name, labels), v in after.items()
        if name == "openkvs_http_request_duration_seconds_bucket"
        and dict(labels).keys() >= {"le"}
        and dict(labels)["route"] == RECORD_ROUTE
        and dict(labels)["method"] == "GET"
    ]
    assert buckets == sorted(buckets)  # cumulative
    assert value(after, "openkvs_http_request_duration_seconds_bucket", le="+Inf", **get) == (
        value(after, "openkvs_http_request_duration_seconds_count", **get)
    )
    assert value(after, "process_resident_memory_bytes") > 0


def test_unknown_methods_are_counted_together(server: ServerProcess) -> None:
    before = scrape(server)
    for method in ("FOO", "BAR-" + uuid.uuid4().hex[:6]):
        httpx.request(method, server.url + "/v2/key-value-stores", timeout=10)
    after = scrape(server)
    labels = {"route": "/v2/key-value-stores", "method": "other", "status": "4xx"}
    assert (
        value(after, "openkvs_http_requests_total", **labels)
        - value(before, "openkvs_http_requests_total", **labels)
        == 2
    )
    assert not any(dict(labels).get("method", "").startswith("BAR") for _, labels in after)


def test_storage_totals_and_backend_numbers(make_server: MakeServer) -> None:
    proc = make_server()
    with owner_client(proc) as http:
        store_id = create_store(http)["id"]
        sizes = [10, 20_000, 200_000]  # inline and file (or object) bodies
        for n, size in enumerate(sizes):
            assert http.put(record_url(store_id, f"k{n}"), content=b"x" * size).status_code in (
                200,
                201,
            )
    # The totals are read at most every few seconds.
    samples = poll(
        lambda: scrape(proc),
        lambda s: value(s, "openkvs_records") == len(sizes),
        timeout=15,
    )
    assert value(samples, "openkvs_records") == len(sizes)
    assert value(samples, "openkvs_record_bytes") == sum(sizes)
    assert value(samples, "openkvs_stores") >= 1
    names = {name for name, _ in samples}
    if proc.backend.is_scaleout:
        assert value(samples, "openkvs_db_query_seconds_count") > 0
        assert "openkvs_db_pool_connections" in names
        assert value(samples, "openkvs_db_pool_max_connections") > 0
        assert "openkvs_sweeper_objects_removed_total" in names
        assert "openkvs_writer_batch_size_count" not in names
    else:
        assert value(samples, "openkvs_writer_batch_size_count") >= len(sizes)
        hits = value(samples, "openkvs_cache_lookups_total", cache="token", result="hit")
        misses = value(samples, "openkvs_cache_lookups_total", cache="token", result="miss")
        assert hits >= len(sizes) and misses >= 1  # one token, looked up once per request
        assert value(samples, "openkvs_writer_commit_seconds_count") >= len(sizes)
        assert "openkvs_db_query_seconds_count" not in names


def test_uploads_in_flight_are_shown_while_they_last(server: ServerProcess) -> None:
    release = threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield b"a" * 1000
        release.wait(10)
        yield b"b" * 1000

    with owner_client(server) as http:
        store_id = create_store(http)["id"]
        results: list[int] = []
        upload = threading.Thread(
            target=lambda: results.append(
                http.put(record_url(store_id, "slow"), content=slow_body()).status_code
            )
        )
        upload.start()
        try:
            during = poll(
                lambda: scrape(server),
                lambda s: value(s, "openkvs_uploads_in_flight") >= 1,
                timeout=10,
            )
            assert value(during, "openkvs_uploads_in_flight") >= 1
            assert value(during, "openkvs_http_requests_in_flight") >= 2  # it and the scrape
        finally:
            release.set()
            upload.join(15)
        assert results in ([200], [201])
    after = poll(
        lambda: scrape(server), lambda s: value(s, "openkvs_uploads_in_flight") == 0, timeout=10
    )
    assert value(after, "openkvs_uploads_in_flight") == 0


def test_metrics_token(make_server: MakeServer) -> None:
    proc = make_server(["--metrics-token", "scrape-secret"])
    for headers in ({}, bearer("wrong"), bearer(proc.token)):
        response = httpx.get(proc.url + "/metrics", headers=headers, timeout=10)
        assert_error(response, 401, "token-not-provided")
    samples = scrape(proc, "scrape-secret")
    assert value(samples, "openkvs_build_info", version=version("openkvs")) == 1
    # The health checks stay open.
    assert httpx.get(proc.url + "/health/ready", timeout=10).status_code == 200


def test_no_metrics(make_server: MakeServer) -> None:
    proc = make_server(["--no-metrics"])
    assert_error(httpx.get(proc.url + "/metrics", timeout=10), 404, "page-not-found")
    assert httpx.get(proc.url + "/health/live", timeout=10).status_code == 200
