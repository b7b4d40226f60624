"""The route table: path patterns (Starlette's router) to per-method views."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from openkvs.core.errors import ApiError, page_not_found
from openkvs.http import (
    console_views,
    key_views,
    openapi_view,
    record_views,
    store_views,
    user_views,
)
from openkvs.http.context import Ctx

if TYPE_CHECKING:
    from openkvs.app import OpenKvs

View = Callable[["OpenKvs", Ctx], Awaitable[None]]


class Endpoint:
    """An ASGI app for one path that picks the view by method and answers 405 otherwise."""

    def __init__(self, app: OpenKvs, views: dict[str, View], route: str) -> None:
        self.app = app
        self.views = views
        self.route = route  # the path template, as /metrics and the log name it
        if "GET" in views:
            self.views.setdefault("HEAD", views["GET"])
        self.allow = ", ".join(["OPTIONS", *views])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        ctx: Ctx = scope["openkvs.ctx"]
        ctx.params = scope["path_params"]
        ctx.route = self.route
        await self.dispatch(ctx)

    async def dispatch(self, ctx: Ctx) -> None:
        view = self.views.get(ctx.method)
        if view is None:
            raise ApiError(
                405,
                "method-not-allowed",
                "This API end-point can only be accessed using the following HTTP methods: "
                + self.allow.replace(" ", ""),
                headers={"Allow": self.allow},
            )
        await view(self.app, ctx)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    raise page_not_found()


def build_router(app: OpenKvs) -> Router:
    stores = "/v2/key-value-stores"
    table: list[tuple[str, dict[str, View]]] = [
        (stores, {"GET": store_views.list_stores, "POST": store_views.create_store}),
        (
            stores + "/{store_id}",
            {
                "GET": store_views.get_store,
                "PUT": store_views.update_store,
                "DELETE": store_views.delete_store,
            },
        ),
        (stores + "/{store_id}/keys", {"GET": key_views.list_keys}),
        (stores + "/{store_id}/records", {"GET": key_views.download_zip}),
        ("/v2/users/{user_id}", {"GET": user_views.get_user}),
        ("/v2/openapi.json", {"GET": openapi_view.openapi}),
        ("/", {"GET": console_views.redirect_to_console}),
        ("/console", {"GET": console_views.console_page}),
        ("/console/{path:path}", {"GET": console_views.console_page}),
    ]
    routes = [Route(path, endpoint=Endpoint(app, views, path)) for path, views in table]
    return Router(routes=routes, redirect_slashes=False, default=not_found)


# Record paths, the bulk of all requests, are matched before the router, by this pattern: the
# one Starlette would build from "/v2/key-value-stores/{store_id}/records/{key:path}".
RECORD_PATH = re.compile(r"^/v2/key-value-stores/(?P<store_id>[^/]+)/records/(?P<key>.*)$")
RECORD_ROUTE = "/v2/key-value-stores/{store_id}/records/{key}"


def record_endpoint(app: OpenKvs) -> Endpoint:
    return Endpoint(
        app,
        {
            "GET": record_views.get_record,
            "PUT": record_views.put_record,
            "POST": record_views.put_record,
            "DELETE": record_views.delete_record,
        },
        RECORD_ROUTE,
    )
