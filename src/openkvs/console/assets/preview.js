// A record's preview, by content type: JSON tree, text with line numbers, image, HTML (source or
// a sandboxed frame), or a hex dump of the first bytes.

import { apiBase, call, recordPath } from "./api.js";
import { codeView } from "./code-view.js";
import { actionButton, formatBytes, h } from "./dom.js";
import { downloadRecord } from "./download.js";
import { jsonTree } from "./json-tree.js";

const TEXT_LIMIT = 1024 * 1024;
const IMAGE_LIMIT = 16 * 1024 * 1024;
const HEX_BYTES = 512;
const TEXT_TYPES = new Set([
  "application/xml",
  "application/javascript",
  "application/x-javascript",
  "application/ecmascript",
  "application/x-ndjson",
  "application/jsonl",
  "application/yaml",
  "application/x-yaml",
  "application/toml",
  "application/sql",
  "application/x-sh",
  "application/csv",
]);

export function mediaType(contentType) {
  return (contentType || "").split(";", 1)[0].trim().toLowerCase();
}

export function previewKind(contentType) {
  const media = mediaType(contentType);
  if (media.startsWith("image/")) return "image";
  if (media === "application/json" || media.endsWith("+json")) return "json";
  if (media === "text/html" || media === "application/xhtml+xml") return "html";
  if (media.startsWith("text/") || TEXT_TYPES.has(media) || media.endsWith("+xml")) return "text";
  return "binary";
}

/**
 * At most `limit` bytes from the record's start: a Range request when the record is stored
 * unencoded, and in any case the reading stops at the limit.
 */
async function fetchStart(store, key, meta, limit, signal) {
  const headers = {};
  if (meta.size !== null && meta.size > limit && !meta.encoding)
    headers.Range = `bytes=0-${limit - 1}`;
  const response = await call("GET", recordPath(store.id, key), {
    raw: true,
    headers,
    signal,
    redirect: "manual",
  });
  if (response.type === "opaqueredirect") return { redirected: true };
  const reader = response.body.getReader();
  const chunks = [];
  let length = 0;
  let finished = false;
  while (length < limit) {
    const { done, value } = await reader.read();
    if (done) {
      finished = true;
      break;
    }
    chunks.push(value);
    length += value.length;
  }
  if (!finished) reader.cancel().catch(() => {});
  const bytes = new Uint8Array(Math.min(length, limit));
  let offset = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, bytes.length - offset);
    bytes.set(part, offset);
    offset += part.length;
  }
  return { bytes, truncated: !finished || length > limit || response.status === 206 };
}

function decodeText(bytes, contentType) {
  const charset = /charset=["']?([^;"'\s]+)/i.exec(contentType || "");
  try {
    return new TextDecoder(charset ? charset[1] : "utf-8").decode(bytes);
  } catch {
    return new TextDecoder("utf-8").decode(bytes);
  }
}

export function hexDump(bytes) {
  const lines = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = bytes.subarray(offset, offset + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0"));
    const left = hex.slice(0, 8).join(" ");
    const right = hex.slice(8).join(" ");
    const ascii = Array.from(row, (b) =>
      b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".",
    ).join("");
    lines.push(
      `${offset.toString(16).padStart(8, "0")}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${ascii}|`,
    );
  }
  return lines.join("\n");
}

function truncatedNote(shown, meta) {
  const total = meta.size !== null ? ` of ${formatBytes(meta.size)}` : "";
  return h(
    "p",
    { class: "note", id: "preview-truncated" },
    `Showing the first ${formatBytes(shown)}${total}. Download the record to see all of it.`,
  );
}

function tabs(views, initial) {
  // views: [[id, label, builder]]; each view is built on first show.
  const bar = h("div", { class: "tabs", role: "tablist" });
  const body = h("div", { class: "tab-body" });
  const built = new Map();
  const show = (id) => {
    for (const button of bar.children)
      button.setAttribute("aria-selected", String(button.dataset.view === id));
    if (!built.has(id)) built.set(id, views.find((v) => v[0] === id)[2]());
    body.replaceChildren(built.get(id));
  };
  for (const [id, labelText] of views) {
    const button = h(
      "button",
      { type: "button", role: "tab", id: `${id}-tab`, dataset: { view: id } },
      labelText,
    );
    button.addEventListener("click", () => show(id));
    bar.append(button);
  }
  show(initial);
  return h("div", {}, bar, body);
}

function jsonPreview(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return [
      h("p", { class: "note" }, `Not valid JSON (${err.message}); shown as text.`),
      codeView(text, "text-preview"),
    ];
  }
  return tabs(
    [
      ["json-view-tree", "Tree", () => jsonTree(value)],
      ["json-view-text", "Text", () => codeView(JSON.stringify(value, null, 2), "json-text")],
    ],
    "json-view-tree",
  );
}

/**
 * Source by default; rendered on demand from the record's own URL, where the API answers with
 * `Content-Security-Policy: sandbox` (not srcdoc, which would inherit the console's policy and
 * lose the page's styles), in a frame with an empty sandbox: a unique origin, no scripts, no
 * forms, no popups, no top navigation.
 */
function htmlPreview(text, frameUrl) {
  return tabs(
    [
      ["html-view-source", "Source", () => codeView(text, "html-source")],
      [
        "html-view-rendered",
        "Rendered (sandboxed, no scripts)",
        () =>
          h("iframe", {
            id: "html-frame",
            class: "html-frame",
            sandbox: "",
            src: frameUrl,
            title: "Rendered HTML, scripts disabled",
            referrerpolicy: "no-referrer",
          }),
      ],
    ],
    "html-view-source",
  );
}

/** A URL the frame can load without the token: the signed one for the owner, else the plain one. */
function frameUrl(store, key, signedUrl) {
  return signedUrl || apiBase + recordPath(store.id, key);
}

function imagePreview(bytes, meta, signal) {
  const url = URL.createObjectURL(new Blob([bytes], { type: mediaType(meta.contentType) }));
  signal.addEventListener("abort", () => URL.revokeObjectURL(url));
  const image = h("img", { id: "preview-image", src: url, alt: "Record preview" });
  const box = h("div", { class: "image-box" }, image);
  image.addEventListener("load", () => {
    // Icons and other tiny images are shown enlarged, pixels kept sharp.
    const scale = Math.min(8, Math.floor(256 / Math.max(image.naturalWidth, image.naturalHeight)));
    if (scale > 1) {
      image.width = image.naturalWidth * scale;
      image.classList.add("pixelated");
    }
    box.append(
      h(
        "p",
        { class: "muted", id: "image-size" },
        `${image.naturalWidth} × ${image.naturalHeight} pixels`,
      ),
    );
  });
  image.addEventListener("error", () => {
    box.replaceChildren(
      h("p", { class: "note" }, "This image could not be decoded. Its first bytes:"),
      h("pre", { class: "hex", id: "hex-dump" }, hexDump(bytes.subarray(0, HEX_BYTES))),
    );
  });
  return box;
}

/**
 * Fills `box` with the preview of a record whose HEAD gave `meta`; `signedUrl` is the record's URL
 * as the server signed it for the owner (null for anyone else).
 */
export async function renderPreview(box, store, key, meta, page, signedUrl) {
  let kind = previewKind(meta.contentType);
  if (kind === "image" && meta.size !== null && meta.size > IMAGE_LIMIT) kind = "binary";
  const limit = kind === "image" ? IMAGE_LIMIT : kind === "binary" ? HEX_BYTES : TEXT_LIMIT;
  box.replaceChildren(h("p", { class: "muted" }, "Loading the preview…"));
  const got = await fetchStart(store, key, meta, limit, page.signal);
  if (!page.alive()) return;
  const download = actionButton("Download", { class: "btn-primary", id: "preview-download" }, () =>
    downloadRecord(store, key, signedUrl),
  );
  if (got.redirected) {
    box.replaceChildren(
      h(
        "p",
        { class: "note" },
        "This record is served from the object store; download it to see it.",
      ),
      download,
    );
    return;
  }
  const { bytes, truncated } = got;
  box.dataset.kind = kind;
  if (bytes.length === 0) {
    box.replaceChildren(h("p", { class: "muted", id: "preview-empty" }, "This record is empty."));
    return;
  }
  const parts = [];
  if (kind === "image") {
    parts.push(imagePreview(bytes, meta, page.signal));
  } else if (kind === "binary") {
    parts.push(
      h(
        "p",
        { class: "muted" },
        previewKind(meta.contentType) === "image"
          ? `This image is larger than ${formatBytes(IMAGE_LIMIT)}. Its first ${bytes.length} bytes:`
          : `No preview for ${mediaType(meta.contentType) || "this type"}. The first ${bytes.length} bytes:`,
      ),
      h("pre", { class: "hex", id: "hex-dump" }, hexDump(bytes)),
      download,
    );
  } else {
    if (truncated) parts.push(truncatedNote(bytes.length, meta));
    const text = decodeText(bytes, meta.contentType);
    if (kind === "json" && !truncated) parts.push(jsonPreview(text));
    else if (kind === "html") parts.push(htmlPreview(text, frameUrl(store, key, signedUrl)));
    else parts.push(codeView(text, "text-preview"));
  }
  box.replaceChildren(...parts.flat());
}
