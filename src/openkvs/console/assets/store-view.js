// A store's page: what it is, its settings (rename, general access, delete), uploads and keys.

import { ACCESS_OPTIONS, accessLabel } from "./access.js";
import { api, ownsStore } from "./api.js";
import {
  actionButton,
  formatBytes,
  formatCount,
  formatDate,
  formatRecordCount,
  h,
  storeLabel,
} from "./dom.js";
import { keysPanel } from "./keys-table.js";
import { showError, showNotice } from "./messages.js";
import { navigate, storeHref } from "./router.js";
import { uploadPanel } from "./upload.js";

function fact(label, value, id) {
  return [h("dt", {}, label), h("dd", { id }, value)];
}

function factsList(store) {
  const stats = store.stats || {};
  return h(
    "dl",
    { class: "facts", id: "store-facts" },
    fact("ID", h("span", { class: "mono" }, store.id), "store-id"),
    fact("Name", store.name || "(unnamed)", "store-name"),
    fact("Owner", store.username || "—"),
    fact("Created", formatDate(store.createdAt)),
    fact("Modified", formatDate(store.modifiedAt)),
    fact("Records", formatRecordCount(stats), "store-records"),
    fact("Size", formatBytes(stats.storageBytes ?? 0), "store-size"),
    fact("General access", accessLabel(store.generalAccess), "store-access"),
    fact(
      "Operations",
      `reads ${formatCount(stats.readCount)} · writes ${formatCount(stats.writeCount)} · ` +
        `deletes ${formatCount(stats.deleteCount)} · lists ${formatCount(stats.listCount)}`,
    ),
    store.schema
      ? fact("Collections", Object.keys(store.schema.collections || {}).join(", ") || "—")
      : null,
  );
}

function reload(notice) {
  navigate(location.href, { replace: true, state: history.state, notice });
}

function renameForm(store) {
  const input = h("input", {
    id: "rename-input",
    value: store.name || "",
    placeholder: "new-name (empty: unnamed)",
    autocomplete: "off",
    spellcheck: "false",
    "aria-label": "Store name",
  });
  const button = actionButton("Rename", { id: "rename-button" }, async () => {
    const name = input.value.trim() || null;
    if (name === store.name) return;
    if (name === null && !window.confirm("Remove the store's name? It becomes an unnamed store.")) {
      return;
    }
    const updated = await api.updateStore(store.id, { name });
    reload(updated.name ? `Renamed the store to ${updated.name}.` : "The store is now unnamed.");
  });
  const form = h("form", { class: "inline-form", id: "rename-form" }, input, button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    button.click();
  });
  return form;
}

function accessForm(store) {
  const select = h(
    "select",
    { id: "access-select", "aria-label": "General access" },
    ACCESS_OPTIONS.map(([value, label]) =>
      h("option", { value, selected: value === store.generalAccess }, label),
    ),
  );
  const button = actionButton("Save access", { id: "access-save" }, async () => {
    const updated = await api.updateStore(store.id, { generalAccess: select.value });
    reload(`General access is now: ${accessLabel(updated.generalAccess)}.`);
  });
  return h("div", { class: "inline-form" }, select, button);
}

function deleteButton(store) {
  return actionButton("Delete store…", { id: "delete-store", class: "btn-danger" }, async () => {
    const label = storeLabel(store);
    if (
      !window.confirm(`Delete the store "${label}" and all its records? This cannot be undone.`)
    ) {
      return;
    }
    await api.deleteStore(store.id);
    navigate("./", { notice: `Deleted the store ${label}.` });
  });
}

function settingsPanel(store) {
  const zip = ownsStore(store)
    ? h(
        "a",
        {
          href: store.recordsPublicUrl,
          class: "btn",
          id: "download-zip",
          download: `${storeLabel(store)}.zip`,
        },
        "Download all as ZIP",
      )
    : null;
  return h(
    "section",
    { class: "panel", id: "store-settings" },
    h("h2", {}, "Settings"),
    h("h3", {}, "Name"),
    renameForm(store),
    h("h3", {}, "General access"),
    accessForm(store),
    h("h3", {}, "Export and delete"),
    h("div", { class: "inline-form" }, zip, deleteButton(store)),
  );
}

export async function renderStore(main, route, page) {
  const title = h("h1", { id: "store-title" }, route.storeId);
  const section = h(
    "section",
    { id: "store-page" },
    h(
      "nav",
      { class: "crumbs" },
      h("a", { href: "./" }, "Stores"),
      " / ",
      h("span", {}, route.storeId),
    ),
    title,
  );
  main.append(section);
  const store = await api.getStore(route.storeId);
  if (!page.alive()) return;
  section.dataset.storeId = store.id;
  title.textContent = storeLabel(store);
  section.querySelector(".crumbs span").textContent = storeLabel(store);
  document.title = `${storeLabel(store)} · openkvs`;
  if (route.storeId !== store.id) history.replaceState(history.state, "", storeHref(store.id));
  const owner = ownsStore(store);
  const facts = h("section", { class: "panel" }, h("h2", {}, "Store"), factsList(store));
  // A record deleted from the keys table: the store's count and size as the API has them now.
  const refreshFacts = () =>
    api
      .getStore(store.id)
      .then((fresh) => {
        if (page.alive()) facts.querySelector("#store-facts").replaceWith(factsList(fresh));
      })
      .catch(showError);
  section.append(
    h("div", { class: "columns" }, facts, owner ? settingsPanel(store) : null),
    owner ? uploadPanel(store, reload) : null,
    keysPanel(store, route, page, refreshFacts),
  );
  if (!owner) showNotice("You can read this store, but only its owner can change it.");
}
