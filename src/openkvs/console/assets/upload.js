// Uploading files as records: one record per file, the key defaulting to the file's name.

import { api } from "./api.js";
import { actionButton, formatBytes, h } from "./dom.js";

const KEY_CHARS = /[^a-zA-Z0-9!\-_.'()]/g;

/** A record key made from a file name: characters a key cannot hold become "-". */
export function keyForFile(name) {
  return name.replace(KEY_CHARS, "-").slice(0, 256) || "record";
}

export function uploadPanel(store, reload) {
  const input = h("input", { type: "file", id: "upload-input", multiple: true });
  const list = h("tbody");
  const table = h(
    "table",
    { id: "upload-list", class: "data compact", hidden: true },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["File", "Size", "Content type", "Record key"].map((t) => h("th", {}, t)),
      ),
    ),
    list,
  );
  const status = h("span", { id: "upload-status", class: "muted", role: "status" });
  let chosen = [];

  input.addEventListener("change", () => {
    chosen = Array.from(input.files, (file) => ({
      file,
      keyInput: h("input", {
        class: "upload-key mono",
        value: keyForFile(file.name),
        "aria-label": `Record key for ${file.name}`,
        spellcheck: "false",
      }),
    }));
    list.replaceChildren(
      ...chosen.map(({ file, keyInput }) =>
        h(
          "tr",
          {},
          h("td", {}, file.name),
          h("td", { class: "num" }, formatBytes(file.size)),
          h("td", {}, file.type || "application/octet-stream"),
          h("td", {}, keyInput),
        ),
      ),
    );
    table.hidden = chosen.length === 0;
    button.disabled = chosen.length === 0;
    status.textContent = "";
  });

  const button = actionButton("Upload", { id: "upload-button", class: "btn-primary" }, async () => {
    let done = 0;
    for (const { file, keyInput } of chosen) {
      const key = keyInput.value.trim();
      status.textContent = `Uploading ${key} (${done + 1} of ${chosen.length})…`;
      try {
        await api.putRecord(store.id, key, file, file.type || "application/octet-stream");
      } catch (err) {
        status.textContent = `Uploaded ${done} of ${chosen.length}.`;
        err.message = `${file.name}: ${err.message}`;
        throw err;
      }
      done += 1;
    }
    reload(
      done === 1
        ? `Uploaded the record ${chosen[0].keyInput.value.trim()}.`
        : `Uploaded ${done} records.`,
    );
  });
  button.disabled = true;

  return h(
    "section",
    { class: "panel", id: "upload-panel" },
    h("h2", {}, "Upload records"),
    h(
      "p",
      { class: "muted" },
      "Each file becomes one record, stored with the file's content type. Keys may use letters, " +
        "digits and ! - _ . ' ( ) (up to 256 characters).",
    ),
    h("div", { class: "inline-form" }, input, button, status),
    table,
  );
}
