"""The Apify API v2 key-value-store endpoints as the data-moving commands use them: any server
that speaks them (openkvs, the Apify platform). Bodies stream both ways; nothing holds a record
whole in memory."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

PAGE = 1000
# Every encoding a server may store a body in: a GET then sends the stored bytes as they are.
STORED_BYTES = "gzip, deflate, br"


class ApiFailure(Exception):
    """An answer the command cannot go on with, with the server's own error message."""


@dataclass(frozen=True, slots=True)
class Store:
    id: str
    name: str | None
    dates: dict[str, Any] = field(default_factory=dict, compare=False)  # createdAt, ...

    @classmethod
    def of(cls, data: dict[str, Any]) -> Store:
        dates = {k: data.get(k) for k in ("createdAt", "modifiedAt", "accessedAt")}
        return cls(data["id"], data.get("name"), dates)


@dataclass(frozen=True, slots=True)
class RecordHead:
    """What a HEAD (or the start of a GET) says of a record's stored bytes."""

    size: int | None
    content_type: str
    encoding: str | None
    etag: str | None  # the MD5 of the stored bytes, when the server sends one


def _head(response: httpx.Response) -> RecordHead:
    length = response.headers.get("content-length")
    encoding = response.headers.get("content-encoding")
    etag = response.headers.get("etag")
    return RecordHead(
        size=int(length) if length is not None and length.isdigit() else None,
        content_type=response.headers.get("content-type", "application/octet-stream"),
        encoding=None if encoding in (None, "", "identity") else encoding,
        etag=etag.strip('"').lower() if etag and not etag.startswith("W/") else None,
    )


def _failure(response: httpx.Response, what: str) -> ApiFailure:
    try:
        error = response.json().get("error", {})
        message = f"{error.get('type', response.status_code)}: {error.get('message', '')}"
    except (ValueError, AttributeError):
        message = f"HTTP {response.status_code}"
    return ApiFailure(f"{what}: {message}")


class KvsApi:
    """One server and one token (`base_url` like `http://127.0.0.1:8010`, without `/v2`)."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url + "/v2",
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
            follow_redirects=True,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KvsApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _json(self, method: str, url: str, what: str, **kwargs: Any) -> Any:
        response = self._http.request(method, url, **kwargs)
        if response.status_code >= 300:
            raise _failure(response, what)
        return response.json().get("data")

    # stores
    def stores(self) -> Iterator[Store]:
        """Every store of the token's user, named and unnamed, oldest first."""
        offset = 0
        while True:
            page = self._json(
                "GET",
                "/key-value-stores",
                "listing the stores",
                params={"offset": offset, "limit": PAGE, "unnamed": "true"},
            )
            items = page.get("items", [])
            for item in items:
                yield Store.of(item)
            offset += len(items)
            if not items or offset >= int(page.get("total", offset)):
                return

    def chosen(self, wanted: list[str]) -> list[Store]:
        """The stores `wanted` names (ids or names); none named: every store of the user."""
        return [self.store(name) for name in wanted] if wanted else list(self.stores())

    def store(self, id_or_name: str) -> Store:
        """A store by id, or by the name it has among the user's stores."""
        response = self._http.get(f"/key-value-stores/{quote(id_or_name, safe='~')}")
        if response.status_code == 200:
            return Store.of(response.json()["data"])
        if response.status_code != 404:
            raise _failure(response, f"store {id_or_name}")
        for store in self.stores():
            if store.name == id_or_name:
                return store
        raise ApiFailure(f"store {id_or_name}: no store with this id or name")

    def open_store(self, name: str | None) -> Store:
        """The named store (created when missing), or a new unnamed one."""
        params = {"name": name} if name else {}
        return Store.of(self._json("POST", "/key-value-stores", f"store {name}", params=params))

    # records
    def keys(self, store_id: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every record, in key order, a page at a time."""
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE}
            if after is not None:
                params["exclusiveStartKey"] = after
            page = self._json(
                "GET", f"/key-value-stores/{store_id}/keys", "listing keys", params=params
            )
            items = page.get("items", [])
            for item in items:
                yield item["key"], int(item.get("size") or 0)
            if not page.get("isTruncated") or not items:
                return
            after = page.get("nextExclusiveStartKey") or items[-1]["key"]

    def _record_url(self, store_id: str, key: str) -> str:
        return f"/key-value-stores/{store_id}/records/{quote(key, safe='')}"

    def head(self, store_id: str, key: str) -> RecordHead | None:
        response = self._http.head(
            self._record_url(store_id, key), headers={"Accept-Encoding": STORED_BYTES}
        )
        if response.status_code == 404:
            return None
        if response.status_code >= 300:
            raise _failure(response, "HEAD")
        return _head(response)

    @contextlib.contextmanager
    def read(
        self, store_id: str, key: str, stored: bool = True
    ) -> Iterator[tuple[RecordHead, Iterator[bytes]]]:
        """The record's bytes as they arrive: as stored (still encoded, if it is stored encoded),
        or with `stored=False` decoded by the server (the head then names no encoding)."""
        accept = STORED_BYTES if stored else "identity"
        request = self._http.build_request(
            "GET", self._record_url(store_id, key), headers={"Accept-Encoding": accept}
        )
        response = self._http.send(request, stream=True)
        try:
            if response.status_code >= 300:
                response.read()
                raise _failure(response, "GET")
            yield _head(response), response.iter_raw(256 * 1024)
        finally:
            response.close()

    def write(
        self,
        store_id: str,
        key: str,
        content_type: str,
        encoding: str | None,
        body: Iterable[bytes],
        size: int | None,
    ) -> None:
        """PUT the bytes as stored (`encoding` says how they are encoded, None: not at all)."""
        headers = {"Content-Type": content_type}
        if encoding:
            headers["Content-Encoding"] = encoding
        if size is not None:
            headers["Content-Length"] = str(size)
        response = self._http.put(self._record_url(store_id, key), content=body, headers=headers)
        if response.status_code >= 300:
            raise _failure(response, "PUT")
