"""/v2/openapi.json: this server's own OpenAPI description, shipped beside this module."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from openkvs.http.context import Ctx

if TYPE_CHECKING:
    from openkvs.app import OpenKvs

DOCUMENT = resources.files("openkvs.http").joinpath("openapi.json").read_bytes()


async def openapi(app: OpenKvs, ctx: Ctx) -> None:
    await ctx.start(
        200,
        [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(DOCUMENT)).encode()),
        ],
    )
    await ctx.body(b"" if ctx.method == "HEAD" else DOCUMENT)
