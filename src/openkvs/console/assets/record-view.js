// A record's page: its metadata, download, signed public link, delete, and a preview.

import { api, ownsStore } from "./api.js";
import { copyText } from "./clipboard.js";
import { actionButton, formatBytes, formatDate, h, storeLabel } from "./dom.js";
import { downloadRecord } from "./download.js";
import { renderPreview } from "./preview.js";
import { navigate, storeHref } from "./router.js";

function metaFrom(response) {
  const length = response.headers.get("content-length");
  return {
    contentType: response.headers.get("content-type") || "",
    size: length === null ? null : Number(length),
    encoding: response.headers.get("content-encoding"),
    etag: response.headers.get("etag"),
    modified: response.headers.get("last-modified"),
  };
}

function facts(meta) {
  const row = (label, value, id) => [h("dt", {}, label), h("dd", { id }, value)];
  return h(
    "dl",
    { class: "facts", id: "record-facts" },
    row("Content type", meta.contentType || "—", "record-content-type"),
    row(
      "Size",
      meta.size === null ? "—" : `${formatBytes(meta.size)} (${meta.size} bytes)`,
      "record-size",
    ),
    meta.encoding ? row("Stored encoding", meta.encoding, "record-encoding") : null,
    row("Modified", meta.modified ? formatDate(meta.modified) : "—"),
    row("ETag", h("span", { class: "mono" }, meta.etag || "—")),
  );
}

function linkBox(url) {
  if (!url) {
    return [h("p", { class: "muted" }, "Only the store's owner can make signed links."), null];
  }
  const input = h("input", {
    id: "signed-link",
    class: "mono",
    readonly: true,
    value: url,
    "aria-label": "Signed public link",
  });
  const status = h("span", { id: "copy-status", class: "muted", role: "status" });
  const copy = actionButton("Copy signed link", { id: "copy-link" }, async () => {
    status.textContent = await copyText(url, input);
  });
  const box = h(
    "div",
    { class: "link-box", id: "signed-link-box" },
    h("label", { for: "signed-link" }, "Signed public link (works without a token)"),
    h("div", { class: "inline-form" }, input, status),
  );
  return [box, copy];
}

export async function renderRecord(main, route, page) {
  const crumbStore = h("a", { href: storeHref(route.storeId) }, route.storeId);
  const section = h(
    "section",
    { id: "record-page", dataset: { key: route.key } },
    h(
      "nav",
      { class: "crumbs" },
      h("a", { href: "./" }, "Stores"),
      " / ",
      crumbStore,
      " / ",
      h("span", {}, route.key),
    ),
    h("h1", { id: "record-key", class: "mono" }, route.key),
  );
  main.append(section);
  document.title = `${route.key} · openkvs`;
  const store = await api.getStore(route.storeId);
  if (!page.alive()) return;
  crumbStore.textContent = storeLabel(store);
  const meta = metaFrom(await api.recordInfo(store.id, route.key, page.signal));
  if (!page.alive()) return;
  // The record's URL as the server signs it for the owner: shown, copied, downloaded, framed.
  const owner = ownsStore(store);
  const signedUrl = owner ? await api.recordPublicUrl(store.id, route.key, page.signal) : null;
  if (!page.alive()) return;
  const [link, copy] = linkBox(signedUrl);
  const actions = h(
    "div",
    { class: "actions" },
    actionButton("Download", { id: "download-record", class: "btn-primary" }, () =>
      downloadRecord(store, route.key, signedUrl),
    ),
    copy,
    owner
      ? actionButton("Delete record…", { id: "delete-record", class: "btn-danger" }, async () => {
          if (!window.confirm(`Delete the record "${route.key}"? This cannot be undone.`)) return;
          await api.deleteRecord(store.id, route.key);
          navigate(storeHref(store.id), { notice: `Deleted the record ${route.key}.` });
        })
      : null,
  );
  const preview = h("div", { id: "preview", class: "preview" });
  section.append(
    h("section", { class: "panel" }, facts(meta), actions, link),
    h("section", { class: "panel" }, h("h2", {}, "Preview"), preview),
  );
  await renderPreview(preview, store, route.key, meta, page, signedUrl);
}
