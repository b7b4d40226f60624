"""The web console (issue 6): static pages shipped in the package, served under /console/.

The console is a single page: every path under /console/ that is not an asset answers with
index.html, whose <base href> is the console's root under the public base URL, so the page's
own script finds the API beside it (behind a reverse proxy with a path prefix too).
"""

from __future__ import annotations

import hashlib
import html
import mimetypes
import re
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from openkvs.core.errors import page_not_found
from openkvs.http.context import Ctx

if TYPE_CHECKING:
    from openkvs.app import OpenKvs

CONSOLE_PATH = "/console/"
# The console talks only to this origin; records it previews are fetched as blobs. Scripts come
# only from its own assets folder (never from a record on the same origin): see _script_source.
CONSOLE_CSP = (
    "default-src 'self'; script-src {scripts}; img-src 'self' data: blob:; "
    "media-src 'self' blob:; frame-src 'self' blob: data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
OTHER_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
HOST_RE = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def _load_assets() -> dict[str, tuple[bytes, bytes, bytes]]:
    """Every file under console/assets/: name -> (bytes, content type, ETag)."""
    assets: dict[str, tuple[bytes, bytes, bytes]] = {}
    folder = resources.files("openkvs").joinpath("console", "assets")
    for entry in folder.iterdir():
        if not entry.is_file():
            continue
        data = entry.read_bytes()
        kind = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith(("javascript", "json")):
            kind += "; charset=utf-8"
        etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
        assets[entry.name] = (data, kind.encode(), etag.encode())
    return assets


ASSETS = _load_assets()
INDEX_TEMPLATE = resources.files("openkvs").joinpath("console", "index.html").read_text("utf-8")


def _script_source(ctx: Ctx, public_base: str) -> str:
    """The console's assets folder as CSP sources: host and path, no scheme (a source without
    one takes the page's own, http or https), for the public host and the one the request named
    (a reverse proxy may pass either). Path sources need a host; without any, the page's origin."""
    public = urlsplit(public_base)
    root = public.path.rstrip("/") + CONSOLE_PATH
    hosts = dict.fromkeys(h for h in (public.netloc, ctx.headers.get("host", "")) if h)
    sources = [f"{host}{root}assets/" for host in hosts if HOST_RE.fullmatch(host)]
    return " ".join(sources) or "'self'"


def security_headers(ctx: Ctx, public_base: str) -> list[tuple[bytes, bytes]]:
    policy = CONSOLE_CSP.format(scripts=_script_source(ctx, public_base))
    return [(b"content-security-policy", policy.encode()), *OTHER_SECURITY_HEADERS]


def console_url(public_base: str, store_id: str) -> str:
    """The store's page in the console: what `consoleUrl` of a store points at."""
    return f"{public_base}{CONSOLE_PATH}stores/{store_id}"


def index_page(public_base: str) -> bytes:
    root = urlsplit(public_base).path.rstrip("/") + CONSOLE_PATH
    return INDEX_TEMPLATE.replace("{{BASE_HREF}}", html.escape(root, quote=True)).encode("utf-8")


async def redirect_to_console(app: OpenKvs, ctx: Ctx) -> None:
    location = urlsplit(app.public_base).path.rstrip("/") + CONSOLE_PATH
    await ctx.empty(302, [(b"location", location.encode()), (b"content-length", b"0")])


async def console_page(app: OpenKvs, ctx: Ctx) -> None:
    """An asset by name, or the page itself for any other path under /console/.

    Everything under assets/ is an asset or a 404, the folder itself (no file name) included.
    """
    path = ctx.params.get("path", "")
    folder, _, name = path.partition("/")
    if folder == "assets":
        asset = ASSETS.get(name)
        if asset is None:
            raise page_not_found()
        data, kind, etag = asset
        headers = [
            (b"etag", etag),
            (b"cache-control", b"no-cache"),
            *security_headers(ctx, app.public_base),
        ]
        if ctx.headers.get("if-none-match") == etag.decode():
            await ctx.empty(304, headers)
            return
        headers += [(b"content-type", kind), (b"content-length", str(len(data)).encode())]
    else:
        data = index_page(app.public_base)
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(data)).encode()),
            (b"cache-control", b"no-cache"),
            *security_headers(ctx, app.public_base),
        ]
    await ctx.start(200, headers)
    await ctx.body(b"" if ctx.method == "HEAD" else data)
