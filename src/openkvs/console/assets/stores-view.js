// The stores page: the user's stores (named and unnamed), sorted by creation, paged; create one.

import { api } from "./api.js";
import { actionButton, formatBytes, formatDate, formatRecordCount, h } from "./dom.js";
import { accessLabel } from "./access.js";
import { navigate, storeHref } from "./router.js";

const PAGE_SIZES = [20, 50, 100];
const HEADINGS = ["Name", "ID", "Created", "Modified", "Records", "Size", "General access"];

function pageState(query) {
  const limit = PAGE_SIZES.includes(Number(query.get("limit"))) ? Number(query.get("limit")) : 20;
  const offset = Math.max(0, Number.parseInt(query.get("offset") || "0", 10) || 0);
  const desc = query.get("desc") !== "0"; // newest first unless asked otherwise
  return { limit, offset, desc };
}

function pageHref({ limit, offset, desc }) {
  const query = new URLSearchParams();
  if (offset) query.set("offset", offset);
  if (limit !== 20) query.set("limit", limit);
  if (!desc) query.set("desc", "0");
  const search = query.toString();
  return search ? `./?${search}` : "./";
}

function createForm() {
  const input = h("input", {
    id: "create-store-name",
    name: "name",
    placeholder: "store-name (empty: an unnamed store)",
    autocomplete: "off",
    spellcheck: "false",
  });
  const form = h("form", { id: "create-store-form", class: "inline-form" }, input);
  const button = actionButton(
    "Create store",
    { id: "create-store", class: "btn-primary" },
    async () => {
      const name = input.value.trim();
      const response = await api.createStore(name);
      const store = (await response.json()).data;
      let notice = `A store named ${store.name} already exists: here it is.`;
      if (response.status === 201) {
        notice = store.name ? `Created the store ${store.name}.` : "Created an unnamed store.";
      }
      navigate(storeHref(store.id), { notice });
    },
  );
  form.append(button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    button.click();
  });
  return form;
}

function storeRow(store) {
  const label = store.name
    ? h("a", { href: storeHref(store.id), class: "store-link" }, store.name)
    : h("a", { href: storeHref(store.id), class: "store-link unnamed" }, "(unnamed)");
  return h(
    "tr",
    { dataset: { testid: "store-row", storeId: store.id } },
    h("td", {}, label),
    h("td", { class: "mono" }, store.id),
    h("td", { title: store.createdAt }, formatDate(store.createdAt)),
    h("td", { title: store.modifiedAt }, formatDate(store.modifiedAt)),
    h("td", { class: "num record-count" }, formatRecordCount(store.stats)),
    h("td", { class: "num" }, formatBytes(store.stats?.storageBytes ?? 0)),
    h("td", {}, accessLabel(store.generalAccess)),
  );
}

export async function renderStores(main, route, page) {
  const state = pageState(route.query);
  const sort = h(
    "select",
    { id: "stores-sort", "aria-label": "Sort" },
    h("option", { value: "1", selected: state.desc }, "Newest first"),
    h("option", { value: "0", selected: !state.desc }, "Oldest first"),
  );
  sort.addEventListener("change", () =>
    navigate(pageHref({ ...state, offset: 0, desc: sort.value === "1" })),
  );
  const size = h(
    "select",
    { id: "stores-page-size", "aria-label": "Stores per page" },
    PAGE_SIZES.map((n) => h("option", { value: n, selected: n === state.limit }, `${n} per page`)),
  );
  size.addEventListener("change", () =>
    navigate(pageHref({ ...state, offset: 0, limit: Number(size.value) })),
  );
  const tbody = h(
    "tbody",
    {},
    h("tr", {}, h("td", { colspan: HEADINGS.length, class: "muted" }, "Loading…")),
  );
  const range = h("span", { id: "stores-range", class: "muted" });
  const prev = h("a", { id: "stores-prev", class: "btn", role: "button" }, "← Previous");
  const next = h("a", { id: "stores-next", class: "btn", role: "button" }, "Next →");
  main.append(
    h(
      "section",
      { id: "stores-page" },
      h("div", { class: "page-head" }, h("h1", {}, "Key-value stores"), createForm()),
      h("div", { class: "toolbar" }, sort, size, h("span", { class: "spacer" }), range),
      h(
        "table",
        { id: "stores-table", class: "data" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            HEADINGS.map((t) => h("th", {}, t)),
          ),
        ),
        tbody,
      ),
      h("div", { class: "pager" }, prev, next),
    ),
  );

  const list = await api.listStores({
    offset: state.offset,
    limit: state.limit,
    desc: state.desc ? 1 : 0,
  });
  if (!page.alive()) return;
  tbody.replaceChildren(...list.items.map(storeRow));
  if (list.items.length === 0) {
    const text = list.total ? "No stores on this page." : "No stores yet: create one above.";
    tbody.append(
      h("tr", { id: "stores-empty" }, h("td", { colspan: HEADINGS.length, class: "muted" }, text)),
    );
  }
  const first = list.total ? state.offset + 1 : 0;
  range.textContent = `${first}–${state.offset + list.items.length} of ${list.total}`;
  if (state.offset > 0)
    prev.href = pageHref({ ...state, offset: Math.max(0, state.offset - state.limit) });
  else prev.setAttribute("aria-disabled", "true");
  if (state.offset + list.items.length < list.total)
    next.href = pageHref({ ...state, offset: state.offset + state.limit });
  else next.setAttribute("aria-disabled", "true");
}
