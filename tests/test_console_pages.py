"""The console's pages over plain HTTP (src/openkvs/http/console_views.py): the redirect, the
single page with its security headers, the assets, and what the shipped files may contain."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import httpx
import pytest

from tests.http_helpers import assert_error
from tests.server_process import MakeServer

ASSETS = Path(str(resources.files("openkvs").joinpath("console", "assets")))
ASSET_NAMES = sorted(path.name for path in ASSETS.iterdir() if path.is_file())
JS_TYPES = ("text/javascript", "application/javascript")


def test_root_redirects_to_the_console(anon: httpx.Client) -> None:
    response = anon.get("/")
    assert response.status_code == 302
    assert response.headers["location"] == "/console/"


@pytest.mark.parametrize(
    "path", ["/console/", "/console", "/console/stores/abc", "/console/stores/abc/records/k.json"]
)
def test_every_console_path_is_the_page(anon: httpx.Client, path: str) -> None:
    response = anon.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<base href="/console/">' in response.text
    assert '<script type="module" src="assets/console.js"></script>' in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = response.headers["content-security-policy"]
    directives = {part.split()[0]: part.split()[1:] for part in csp.split("; ")}
    assert directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    # Scripts only from the console's own assets (never a record on this origin); nothing inline.
    assert directives["script-src"] == [f"{anon.base_url.netloc.decode()}/console/assets/"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp


def test_head_of_the_page_has_no_body(anon: httpx.Client) -> None:
    response = anon.head("/console/")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0


@pytest.mark.parametrize(
    "path",
    ["/console/assets/nope.js", "/console/assets", "/console/assets/", "/console/assets/x/api.js"],
)
def test_unknown_asset_is_a_json_404(anon: httpx.Client, path: str) -> None:
    """Under assets/ there are only assets: the folder itself is no page either."""
    assert_error(anon.get(path), 404, "page-not-found")
    assert anon.head(path).status_code == 404


def test_console_paths_allow_only_get_and_head(anon: httpx.Client) -> None:
    response = anon.post("/console/")
    assert_error(response, 405, "method-not-allowed")
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize("name", ASSET_NAMES)
def test_each_asset_is_served_with_its_type_and_etag(anon: httpx.Client, name: str) -> None:
    response = anon.get(f"/console/assets/{name}")
    assert response.status_code == 200
    assert response.content == (ASSETS / name).read_bytes()
    media, _, params = response.headers["content-type"].partition(";")
    if name.endswith(".js"):
        assert media in JS_TYPES  # module scripts load only with a JavaScript type
    elif name.endswith(".css"):
        assert media == "text/css"
    else:
        pytest.fail(f"unexpected asset {name}")
    assert params.strip() == "charset=utf-8"
    assert "content-security-policy" in response.headers
    etag = response.headers["etag"]
    again = anon.get(f"/console/assets/{name}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


def test_every_module_import_is_a_shipped_asset() -> None:
    scripts = [name for name in ASSET_NAMES if name.endswith(".js")]
    imported: set[str] = set()
    for name in scripts:
        text = (ASSETS / name).read_text()
        imported.update(re.findall(r'from "\./([\w.-]+\.js)"', text))
    assert "console.js" in scripts
    assert imported - set(scripts) == set()
    # Every module is reached from the entry point (nothing shipped that nothing loads).
    assert set(scripts) - imported == {"console.js"}


@pytest.mark.parametrize("name", [n for n in ASSET_NAMES if n.endswith(".js")])
def test_scripts_never_build_html_from_strings(name: str) -> None:
    """User data goes into the page as text: no HTML parsing of strings, no eval (behaviour.md#http,
    and the
    console's CSP would block eval anyway)."""
    text = (ASSETS / name).read_text()
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert forbidden not in text, f"{name} uses {forbidden}"
    assert "new Function" not in text


def test_scripts_never_sign_and_read_the_secret_only_to_know_the_owner() -> None:
    """Signed record URLs are the server's (its keys list's `recordPublicUrl`): no HMAC in the page,
    and the store's signing secret only tells the console that the user owns the store."""
    scripts = {name: (ASSETS / name).read_text() for name in ASSET_NAMES if name.endswith(".js")}
    for name, text in scripts.items():
        for forbidden in ("crypto.subtle", "hmac", "sha256", "signature="):
            assert forbidden not in text.lower(), f"{name} has {forbidden}"
    readers = [name for name, text in scripts.items() if "urlSigningSecretKey" in text]
    assert readers == ["api.js"]
    assert "return Boolean(store.urlSigningSecretKey);" in scripts["api.js"]
    assert scripts["api.js"].count("urlSigningSecretKey") == 1


def test_page_has_no_inline_script_or_style() -> None:
    page = resources.files("openkvs").joinpath("console", "index.html").read_text("utf-8")
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S)
    assert scripts == [""]  # one, loaded from its src
    assert not re.search(r"\son\w+=", page)
    assert " style=" not in page and "<style" not in page


def test_base_href_follows_the_public_url_path(make_server: MakeServer) -> None:
    server = make_server(["--public-url", "http://kvs.example.test/team/kvs"])
    with httpx.Client(base_url=server.url, timeout=30) as client:
        page = client.get("/console/stores/x")
        assert '<base href="/team/kvs/console/">' in page.text
        assert client.get("/").headers["location"] == "/team/kvs/console/"
        created = client.post(
            "/v2/key-value-stores",
            params={"name": "with-prefix"},
            headers={"Authorization": f"Bearer {server.token}"},
        )
        store = created.json()["data"]
        assert store["consoleUrl"] == (
            f"http://kvs.example.test/team/kvs/console/stores/{store['id']}"
        )
