"""The web console (issue 6) in headless Chromium, on every backend: log in, stores, records,
previews, signed links, settings, paging, errors. Screenshots of each main page are kept under
tests/artifacts/console/<backend>/ and checked not to be blank.

Chromium is Debian's (/usr/bin/chromium, installed by tests/install_services.sh), driven by the
Playwright Python package; no browser is downloaded.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Page, Request, expect, sync_playwright

from openkvs.core.signing import hmac_base62
from tests.console_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TOKEN_KEY,
    error_text,
    keep_screenshot,
    log_in,
    open_logged_in,
)
from tests.http_helpers import STORES, create_store, get_store, put_record, unique_name
from tests.png_codec import make_png

PNG = make_png(8, 6, lambda x, y: (x * 30, y * 40, 200))
DOCUMENT = {"name": "openkvs", "tags": ["kvs", "apify"], "nested": {"depth": 2, "ok": True}}
HTML = (
    b"<!doctype html><html><head><style>h1 { color: rgb(200, 0, 0); }</style></head><body>"
    b'<h1 id="title">Hello from a record</h1>'
    b"<script>document.getElementById('title').textContent = 'script ran';</script>"
    b"</body></html>"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash tests/install_services.sh` (apt: chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A fresh browser context (empty session storage) per test; fails on uncaught JS errors."""
    context = browser.new_context(
        base_url=base_url,
        viewport={"width": 1280, "height": 800},
        permissions=["clipboard-read", "clipboard-write"],
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    uncaught: list[str] = []
    tab.on("pageerror", lambda error: uncaught.append(str(error)))
    yield tab
    context.close()
    assert uncaught == [], f"uncaught errors in the console: {uncaught}"


def accept_next_dialog(page: Page, seen: list[str]) -> None:
    def answer(dialog: Dialog) -> None:
        seen.append(dialog.message)
        dialog.accept()

    page.once("dialog", answer)


def dismiss_next_dialog(page: Page, seen: list[str]) -> None:
    def answer(dialog: Dialog) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", answer)


def store_page_path(store: dict[str, object]) -> str:
    return f"/console/stores/{store['id']}"


def listed_url(http: httpx.Client, store_id: str, key: str) -> str:
    """The record's `recordPublicUrl` as the server's keys list hands it to the owner (signed)."""
    items = http.get(f"{STORES}/{store_id}/keys").json()["data"]["items"]
    (url,) = [item["recordPublicUrl"] for item in items if item["key"] == key]
    assert "signature=" in url
    return str(url)


# --- logging in ----------------------------------------------------------------------------------


def test_login_with_token_shows_the_stores_page(
    page: Page, http: httpx.Client, token: str, backend: str
) -> None:
    named = create_store(http, unique_name("listed"))
    unnamed = create_store(http)
    page.goto("/console/")
    expect(page.locator("#login-page")).to_be_visible()
    keep_screenshot(page, backend, "login")

    log_in(page, token)
    expect(page.locator("#stores-page")).to_be_visible()
    expect(page.locator("#user-name")).to_have_text("Signed in as tester")
    # Named and unnamed stores are both listed, the newest first.
    expect(page.locator("#stores-sort")).to_have_value("1")
    named_row = page.locator(f"tr[data-store-id='{named['id']}']")
    expect(named_row).to_contain_text(named["name"])
    expect(page.locator(f"tr[data-store-id='{unnamed['id']}']")).to_contain_text("(unnamed)")
    total = http.get(STORES, params={"unnamed": 1, "limit": 1}).json()["data"]["total"]
    expect(page.locator("#stores-range")).to_contain_text(f"of {total}")
    keep_screenshot(page, backend, "stores")

    # The token is in this tab's session storage, never in the address.
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") == token
    assert token not in page.url
    page.locator("#logout").click()
    expect(page.locator("#login-page")).to_be_visible()
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None


def test_wrong_token_shows_a_clear_error(page: Page) -> None:
    page.goto("/console/")
    page.locator("#login-token").fill("not-a-real-token")
    page.locator("#login-submit").click()
    assert error_text(page) == "Authentication token is not valid."
    expect(page.locator("#login-page")).to_be_visible()
    expect(page.locator("#stores-page")).to_have_count(0)
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None


def test_a_token_that_stops_working_leads_back_to_the_login(page: Page, token: str) -> None:
    open_logged_in(page, "/console/", token)
    expect(page.locator("#stores-page")).to_be_visible()
    page.evaluate(f"sessionStorage.setItem('{TOKEN_KEY}', 'revoked-meanwhile')")
    page.reload()
    assert error_text(page) == "Authentication token is not valid."
    expect(page.locator("#login-page")).to_be_visible()
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None


# --- stores --------------------------------------------------------------------------------------


def test_stores_are_sorted_and_paged(page: Page, http: httpx.Client, token: str) -> None:
    for i in range(21):
        create_store(http, unique_name(f"page{i:02d}"))
    total = http.get(STORES, params={"unnamed": 1, "limit": 1}).json()["data"]["total"]
    open_logged_in(page, "/console/", token)
    rows = page.locator("#stores-table tr[data-store-id]")
    expect(rows).to_have_count(20)
    expect(page.locator("#stores-range")).to_have_text(f"1–20 of {total}")
    expect(page.locator("#stores-prev")).to_have_attribute("aria-disabled", "true")
    page.locator("#stores-next").click()
    expect(page).to_have_url(re.compile(r"/console/\?offset=20$"))
    expect(page.locator("#stores-range")).to_have_text(f"21–{min(40, total)} of {total}")
    page.locator("#stores-prev").click()
    expect(page.locator("#stores-range")).to_have_text(f"1–20 of {total}")
    # Newest first by default, oldest first on request, as the API orders them.
    newest = http.get(STORES, params={"unnamed": 1, "desc": 1, "limit": 2}).json()["data"]["items"]
    expect(rows.nth(0)).to_have_attribute("data-store-id", newest[0]["id"])
    expect(rows.nth(1)).to_have_attribute("data-store-id", newest[1]["id"])
    page.locator("#stores-sort").select_option("0")
    expect(page).to_have_url(re.compile(r"/console/\?desc=0$"))
    oldest = http.get(STORES, params={"unnamed": 1, "limit": 2}).json()["data"]["items"]
    expect(rows.nth(0)).to_have_attribute("data-store-id", oldest[0]["id"])
    expect(rows.nth(1)).to_have_attribute("data-store-id", oldest[1]["id"])
    page.locator("#stores-page-size").select_option("50")
    expect(rows).to_have_count(min(50, total))


def test_record_counts_in_the_stores_list_and_on_the_store_page(
    page: Page, http: httpx.Client, token: str
) -> None:
    counted = create_store(http, unique_name("counted"))
    for key in ("one", "two", "three", "four"):
        put_record(http, counted["id"], key, key.encode(), "text/plain")
    put_record(http, counted["id"], "two", b"overwritten", "text/plain")
    assert http.delete(f"{STORES}/{counted['id']}/records/four").status_code == 204
    empty = create_store(http, unique_name("empty"))
    assert get_store(http, counted["id"])["stats"]["recordCount"] == 3

    open_logged_in(page, "/console/", token)
    headings = page.locator("#stores-table thead th")
    expect(headings).to_contain_text(["Name", "ID", "Created", "Modified", "Records", "Size"])
    counted_row = page.locator(f"tr[data-store-id='{counted['id']}']")
    expect(counted_row.locator("td.record-count")).to_have_text("3")
    empty_row = page.locator(f"tr[data-store-id='{empty['id']}']")
    expect(empty_row.locator("td.record-count")).to_have_text("0")

    counted_row.locator("a.store-link").click()
    expect(page.locator("#store-records")).to_have_text("3")
    # A record deleted from the keys table: the count follows without reloading the page.
    accept_next_dialog(page, [])
    page.locator("tr[data-key='one'] .delete-record").click()
    expect(page.locator("tr[data-key='one']")).to_have_count(0)
    expect(page.locator("#store-records")).to_have_text("2")
    assert get_store(http, counted["id"])["stats"]["recordCount"] == 2
    page.locator(".crumbs a", has_text="Stores").click()
    expect(counted_row.locator("td.record-count")).to_have_text("2")


def test_create_store(page: Page, http: httpx.Client, token: str) -> None:
    name = unique_name("made")
    open_logged_in(page, "/console/", token)
    page.locator("#create-store-name").fill(name)
    page.locator("#create-store").click()
    expect(page.locator("#store-title")).to_have_text(name)
    expect(page.locator("#notice")).to_contain_text(f"Created the store {name}")
    created = get_store(http, f"~{name}")
    expect(page).to_have_url(re.compile(rf"/console/stores/{created['id']}$"))
    page.locator(".crumbs a", has_text="Stores").click()
    expect(page.locator(f"tr[data-store-id='{created['id']}']")).to_contain_text(name)


def test_api_error_is_shown_with_the_api_message(
    page: Page, http: httpx.Client, token: str
) -> None:
    expected = http.post(STORES, params={"name": "bad name!"}).json()["error"]["message"]
    open_logged_in(page, "/console/", token)
    page.locator("#create-store-name").fill("bad name!")
    page.locator("#create-store").click()
    assert error_text(page) == expected
    expect(page.locator("#stores-page")).to_be_visible()


def test_network_and_proxy_errors_are_shown(page: Page, token: str) -> None:
    open_logged_in(page, "/console/", token)
    expect(page.locator("#stores-page")).to_be_visible()
    # The server unreachable: a message, and the page keeps its frame.
    page.route("**/v2/key-value-stores?*", lambda route: route.abort())
    page.locator("#stores-sort").select_option("0")
    assert error_text(page).startswith("Could not reach the server")
    expect(page.locator("#brand")).to_be_visible()
    # An error page from something in front of the server (not the API's JSON envelope).
    page.unroute("**/v2/key-value-stores?*")
    page.route(
        "**/v2/key-value-stores?*",
        lambda route: route.fulfill(
            status=502, body="<h1>Bad gateway</h1>", content_type="text/html"
        ),
    )
    page.locator("#stores-sort").select_option("1")
    assert error_text(page) == "HTTP 502 Bad Gateway"
    # A console address that is no page.
    page.unroute("**/v2/key-value-stores?*")
    page.goto("/console/no/such/page")  # same tab: still logged in
    expect(page.locator("#not-found-page")).to_contain_text("Page not found")


def test_rename_store(page: Page, http: httpx.Client, token: str) -> None:
    store = create_store(http, unique_name("old"))
    new_name = unique_name("new")
    open_logged_in(page, store_page_path(store), token)
    page.locator("#rename-input").fill(new_name)
    page.locator("#rename-button").click()
    expect(page.locator("#notice")).to_contain_text(f"Renamed the store to {new_name}")
    expect(page.locator("#store-title")).to_have_text(new_name)
    assert get_store(http, store["id"])["name"] == new_name
    # A name already in use: the API's message, and nothing changes.
    other = create_store(http, unique_name("taken"))
    refused = http.put(f"{STORES}/{store['id']}", json={"name": other["name"]})
    assert refused.status_code == 400
    page.locator("#rename-input").fill(other["name"])
    page.locator("#rename-button").click()
    assert error_text(page) == refused.json()["error"]["message"]
    assert get_store(http, store["id"])["name"] == new_name


def test_change_general_access(
    page: Page, http: httpx.Client, anon: httpx.Client, token: str
) -> None:
    store = create_store(http, unique_name("access"))
    assert anon.get(f"{STORES}/{store['id']}").status_code in (401, 403)
    open_logged_in(page, store_page_path(store), token)
    page.locator("#access-select").select_option("ANYONE_WITH_ID_CAN_READ")
    page.locator("#access-save").click()
    expect(page.locator("#notice")).to_contain_text("Anyone with id")
    expect(page.locator("#store-access")).to_have_text("Anyone with id")
    assert get_store(http, store["id"])["generalAccess"] == "ANYONE_WITH_ID_CAN_READ"
    assert anon.get(f"{STORES}/{store['id']}").status_code == 200


def test_delete_store_after_confirmation(page: Page, http: httpx.Client, token: str) -> None:
    store = create_store(http, unique_name("doomed"))
    open_logged_in(page, store_page_path(store), token)
    asked: list[str] = []
    dismiss_next_dialog(page, asked)
    page.locator("#delete-store").click()
    expect(page.locator("#store-page")).to_be_visible()
    assert len(asked) == 1 and store["name"] in asked[0]
    assert http.get(f"{STORES}/{store['id']}").status_code == 200

    accept_next_dialog(page, asked)
    page.locator("#delete-store").click()
    expect(page.locator("#stores-page")).to_be_visible()
    expect(page.locator("#notice")).to_contain_text(f"Deleted the store {store['name']}")
    expect(page.locator(f"tr[data-store-id='{store['id']}']")).to_have_count(0)
    assert http.get(f"{STORES}/{store['id']}").status_code == 404


def test_console_url_opens_the_store(page: Page, http: httpx.Client, token: str) -> None:
    store = create_store(http, unique_name("linked"))
    console_url = store["consoleUrl"]
    assert console_url.endswith(f"/console/stores/{store['id']}")
    page.goto(console_url)
    expect(page.locator("#login-page")).to_be_visible()
    log_in(page, token)
    expect(page.locator("#store-page")).to_have_attribute("data-store-id", store["id"])
    expect(page.locator("#store-title")).to_have_text(store["name"])
    assert page.url == console_url


def test_missing_store_shows_the_api_error(page: Page, token: str) -> None:
    open_logged_in(page, "/console/stores/aaaaaaaaaaaaaaaaa", token)
    assert error_text(page) == "Key-value store was not found."
    expect(page.locator(".crumbs a", has_text="Stores")).to_be_visible()


# --- records -------------------------------------------------------------------------------------


def test_upload_json_and_png_and_preview_both(
    page: Page, http: httpx.Client, token: str, backend: str
) -> None:
    store = create_store(http, unique_name("files"))
    document = json.dumps(DOCUMENT).encode()
    open_logged_in(page, store_page_path(store), token)
    page.locator("#upload-input").set_input_files(
        [
            {"name": "data.json", "mimeType": "application/json", "buffer": document},
            {"name": "pixel art.png", "mimeType": "image/png", "buffer": PNG},
        ]
    )
    # The key defaults to the file name, with characters a key cannot hold replaced.
    keys = page.locator("#upload-list .upload-key")
    expect(keys).to_have_count(2)
    assert [keys.nth(0).input_value(), keys.nth(1).input_value()] == ["data.json", "pixel-art.png"]
    page.locator("#upload-button").click()
    expect(page.locator("#notice")).to_contain_text("Uploaded 2 records")
    json_row = page.locator("tr[data-key='data.json']")
    png_row = page.locator("tr[data-key='pixel-art.png']")
    expect(json_row.locator("td.ctype")).to_have_text("application/json")
    expect(png_row.locator("td.ctype")).to_have_text("image/png")
    keep_screenshot(page, backend, "store", full_page=True)

    stored = http.get(f"{STORES}/{store['id']}/records/pixel-art.png")
    assert stored.content == PNG and stored.headers["content-type"] == "image/png"
    stored = http.get(f"{STORES}/{store['id']}/records/data.json")
    assert stored.content == document and stored.headers["content-type"] == "application/json"

    json_row.locator("a.key-link").click()
    tree = page.locator("#json-tree")
    expect(tree).to_be_visible()
    expect(tree).to_contain_text('"name": "openkvs"')
    nested = tree.locator("summary", has_text='"nested"').locator("xpath=..")
    expect(nested).to_have_attribute("open", "")
    expect(nested).to_contain_text('"depth": 2')
    nested.locator("summary").first.click()
    expect(nested).not_to_have_attribute("open", "")
    expect(nested.locator("summary").first).to_contain_text("2 keys")
    # The text view is the document pretty-printed, one numbered line each.
    page.locator("#json-view-text-tab").click()
    lines = page.locator("#json-text .line")
    expect(lines).to_have_count(len(json.dumps(DOCUMENT, indent=2).splitlines()))
    expect(lines.nth(1)).to_have_text('  "name": "openkvs",')
    keep_screenshot(page, backend, "record-json")

    page.go_back()
    png_row.locator("a.key-link").click()
    image = page.locator("#preview-image")
    expect(image).to_be_visible()
    page.wait_for_function("document.querySelector('#preview-image').naturalWidth > 0")
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [8, 6]
    expect(page.locator("#image-size")).to_have_text("8 × 6 pixels")
    keep_screenshot(page, backend, "record")


def test_signed_link_is_copied_and_works_without_a_token(
    page: Page, http: httpx.Client, anon: httpx.Client, token: str
) -> None:
    store = create_store(http, unique_name("signed"), general_access="RESTRICTED")
    put_record(http, store["id"], "picture.png", PNG, "image/png")
    put_record(http, store["id"], "picture.png.bak", b"a key after it", "text/plain")
    # The page opened directly (nothing listed yet): the console asks the server's keys list.
    open_logged_in(page, f"{store_page_path(store)}/records/picture.png", token)
    page.locator("#copy-link").click()
    expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    link = page.locator("#signed-link").input_value()
    assert page.evaluate("navigator.clipboard.readText()") == link
    expected_signature = hmac_base62(store["urlSigningSecretKey"], "picture.png")
    assert parse_qs(urlsplit(link).query) == {"signature": [expected_signature]}
    # The server's own signed URL, as its keys list hands it to the owner: no signing in the page.
    assert link == listed_url(http, store["id"], "picture.png")

    response = anon.get(link)
    assert response.status_code == 200
    assert response.content == PNG
    # The signature is what opens it: the same URL without one is refused.
    assert anon.get(link.split("?", 1)[0]).status_code in (401, 403)


def test_delete_record(page: Page, http: httpx.Client, token: str) -> None:
    store = create_store(http, unique_name("records"))
    put_record(http, store["id"], "keep-me", b"kept", "text/plain")
    put_record(http, store["id"], "drop-me", b"dropped", "text/plain")
    open_logged_in(page, store_page_path(store), token)
    asked: list[str] = []
    # From the keys table, declined: nothing happens.
    dismiss_next_dialog(page, asked)
    page.locator("tr[data-key='keep-me'] .delete-record").click()
    expect(page.locator("tr[data-key='keep-me']")).to_have_count(1)
    assert http.get(f"{STORES}/{store['id']}/records/keep-me").status_code == 200
    # From the record's page, accepted.
    page.locator("tr[data-key='drop-me'] a.key-link").click()
    expect(page.locator("#text-preview")).to_have_text("dropped")
    accept_next_dialog(page, asked)
    page.locator("#delete-record").click()
    expect(page.locator("#notice")).to_contain_text("Deleted the record drop-me")
    expect(page.locator("tr[data-key='drop-me']")).to_have_count(0)
    expect(page.locator("tr[data-key='keep-me']")).to_have_count(1)
    assert asked == [
        'Delete the record "keep-me"?',
        'Delete the record "drop-me"? This cannot be undone.',
    ]
    assert http.get(f"{STORES}/{store['id']}/records/drop-me").status_code == 404


def test_html_record_is_shown_as_source_and_in_a_sandboxed_frame(
    page: Page, http: httpx.Client, token: str
) -> None:
    store = create_store(http, unique_name("html"), general_access="RESTRICTED")
    put_record(http, store["id"], "page.html", HTML, "text/html; charset=utf-8")
    open_logged_in(page, f"{store_page_path(store)}/records/page.html", token)
    source = page.locator("#html-source")
    expect(source).to_contain_text('<h1 id="title">Hello from a record</h1>')
    expect(page.locator("#html-frame")).to_have_count(0)

    page.locator("#html-view-rendered-tab").click()
    frame = page.locator("#html-frame")
    expect(frame).to_have_attribute("sandbox", "")
    sandbox = frame.get_attribute("sandbox")
    assert sandbox is not None and "allow-scripts" not in sandbox
    # The frame loads without the token: through the server's signed URL of a restricted store.
    assert frame.get_attribute("src") == listed_url(http, store["id"], "page.html")
    heading = page.frame_locator("#html-frame").locator("#title")
    # Rendered with its own styles, and its script never ran.
    expect(heading).to_have_text("Hello from a record")
    expect(heading).to_have_css("color", "rgb(200, 0, 0)")


def test_binary_record_shows_a_hex_dump_and_downloads(
    page: Page, http: httpx.Client, token: str, tmp_path: Path
) -> None:
    store = create_store(http, unique_name("binary"), general_access="RESTRICTED")
    body = bytes(range(256)) * 4
    put_record(http, store["id"], "blob.bin", body, "application/octet-stream")
    open_logged_in(page, f"{store_page_path(store)}/records/blob.bin", token)
    dump = page.locator("#hex-dump")
    expect(dump).to_contain_text("00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f")
    expect(dump).to_contain_text("000001f0  f0 f1 f2 f3")
    assert "00000200" not in dump.inner_text()  # only the first 512 bytes
    with page.expect_download() as info:
        page.locator("#download-record").click()
    download = info.value
    assert download.suggested_filename == "blob.bin"
    # The owner's download streams from the server's signed URL, asked as an attachment.
    assert download.url == listed_url(http, store["id"], "blob.bin") + "&attachment=true"
    saved = tmp_path / "blob.bin"
    download.save_as(saved)
    assert saved.read_bytes() == body


def test_download_from_the_keys_table_uses_the_listed_signed_url(
    page: Page, http: httpx.Client, anon: httpx.Client, token: str, tmp_path: Path
) -> None:
    store = create_store(http, unique_name("listed-url"), general_access="RESTRICTED")
    body = b"listed and signed " * 100
    put_record(http, store["id"], "notes.txt", body, "text/plain")
    lookups: list[str] = []

    def note(request: Request) -> None:
        if urlsplit(request.url).path.endswith("/keys") and "prefix=notes.txt" in request.url:
            lookups.append(request.url)

    page.on("request", note)
    open_logged_in(page, store_page_path(store), token)
    with page.expect_download() as info:
        page.locator("tr[data-key='notes.txt'] .download-record").click()
    download = info.value
    signed = listed_url(http, store["id"], "notes.txt")
    assert download.url == signed + "&attachment=true"
    assert lookups == []  # the row's own recordPublicUrl, not a second look-up
    saved = tmp_path / "notes.txt"
    download.save_as(saved)
    assert saved.read_bytes() == body
    # The same link works without a token; the store itself does not.
    response = anon.get(download.url)
    assert response.status_code == 200 and response.content == body
    assert response.headers["content-disposition"].startswith("attachment")
    assert anon.get(signed.split("?", 1)[0]).status_code in (401, 403)


def test_store_downloads_as_zip(page: Page, http: httpx.Client, token: str, tmp_path: Path) -> None:
    store = create_store(http, unique_name("zipped"))
    put_record(http, store["id"], "one.txt", b"first", "text/plain")
    put_record(http, store["id"], "two.png", PNG, "image/png")
    open_logged_in(page, store_page_path(store), token)
    with page.expect_download() as info:
        page.locator("#download-zip").click()
    saved = tmp_path / "store.zip"
    info.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert sorted(archive.namelist()) == ["one.txt", "two.png"]
        assert archive.read("two.png") == PNG


def test_large_text_preview_is_cut_at_one_mebibyte(
    page: Page, http: httpx.Client, token: str
) -> None:
    store = create_store(http, unique_name("big"))
    line = b"0123456789abcdef" * 4 + b"\n"
    body = line * (3 * 1024 * 1024 // len(line))
    put_record(http, store["id"], "big.txt", body, "text/plain")
    ranges: list[str | None] = []

    def note(request: Request) -> None:
        if request.method == "GET" and "/v2/" in request.url and request.url.endswith("big.txt"):
            ranges.append(request.headers.get("range"))

    page.on("request", note)
    open_logged_in(page, f"{store_page_path(store)}/records/big.txt", token)
    expect(page.locator("#preview-truncated")).to_contain_text(
        "Showing the first 1.0 MiB of 3.0 MiB"
    )
    lines = page.locator("#text-preview .line")
    expect(lines.first).to_have_text(line.decode().strip())
    assert lines.count() == 1024 * 1024 // len(line) + 1
    assert ranges == ["bytes=0-1048575"]


def test_missing_record_shows_the_api_error(page: Page, http: httpx.Client, token: str) -> None:
    store = create_store(http, unique_name("empty"))
    open_logged_in(page, f"{store_page_path(store)}/records/nothing-here", token)
    assert error_text(page) == "Record was not found."
    expect(page.locator("#record-key")).to_have_text("nothing-here")


# --- keys paging ---------------------------------------------------------------------------------


def test_keys_paging_with_prefix_filter(page: Page, http: httpx.Client, token: str) -> None:
    store = create_store(http, unique_name("many"))
    keys = [f"a-{i:04d}" for i in range(1000)] + [f"b-{i:04d}" for i in range(200)]

    def put(key: str) -> None:
        put_record(http, store["id"], key, key.encode(), "text/plain")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, keys))

    listings: list[dict[str, list[str]]] = []
    heads: list[str] = []

    def note(request: Request) -> None:
        if "/keys?" in request.url:
            listings.append(parse_qs(urlsplit(request.url).query))
        elif request.method == "HEAD":
            heads.append(request.url)

    page.on("request", note)
    open_logged_in(page, store_page_path(store), token)
    rows = page.locator("#keys-table tr[data-key]")
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-key", "a-0000")
    expect(page.locator("#keys-prev")).to_be_disabled()

    page.locator("#page-size").select_option("1000")
    expect(rows).to_have_count(1000)
    expect(rows.last).to_have_attribute("data-key", "a-0999")
    expect(page.locator("#keys-range")).to_have_text("Records 1–1000, more follow")
    page.locator("#keys-next").click()
    expect(rows).to_have_count(200)
    expect(rows.first).to_have_attribute("data-key", "b-0000")
    expect(page.locator("#keys-range")).to_have_text("Records 1001–1200")
    expect(page.locator("#keys-next")).to_be_disabled()
    page.locator("#keys-prev").click()
    expect(rows).to_have_count(1000)
    expect(rows.first).to_have_attribute("data-key", "a-0000")

    page.locator("#prefix-input").fill("b-01")
    page.locator("#page-size").select_option("20")
    expect(rows).to_have_count(20)
    expect(rows.first).to_have_attribute("data-key", "b-0100")
    expect(rows.last).to_have_attribute("data-key", "b-0119")
    page.locator("#keys-next").click()
    expect(rows.first).to_have_attribute("data-key", "b-0120")
    expect(page.locator("#keys-range")).to_have_text("Records 21–40, more follow")
    page.go_back()  # the browser's Back button is "Previous" too
    expect(rows.first).to_have_attribute("data-key", "b-0100")
    page.locator("#prefix-input").fill("zzz")
    page.locator("#prefix-apply").click()
    expect(page.locator("#keys-empty")).to_have_text('No keys start with "zzz".')

    # Every listing asked for one page only, and content types were looked up only for the rows
    # in view, not for all 1000 of the long page.
    assert listings and all(q["limit"][0] in ("20", "50", "1000") for q in listings)
    assert 0 < len(heads) < 300
