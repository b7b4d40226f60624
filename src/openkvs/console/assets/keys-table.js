// A store's keys: one page at a time from the API (cursor paging, O(page) on any store size),
// filtered by prefix. Content types come from a HEAD per row, only for rows scrolled into view.

import { api, ownsStore } from "./api.js";
import { actionButton, formatBytes, h } from "./dom.js";
import { downloadRecord } from "./download.js";
import { showError, showNotice } from "./messages.js";
import { navigate, recordHref, storeHref } from "./router.js";

const PAGE_SIZES = [20, 50, 100, 200, 1000];
const DEFAULT_PAGE_SIZE = 50;
const HEAD_CONCURRENCY = 4;

function pageState(route) {
  const asked = Number(route.query.get("limit"));
  return {
    prefix: route.query.get("prefix") || "",
    limit: PAGE_SIZES.includes(asked) ? asked : DEFAULT_PAGE_SIZE,
    start: route.query.get("start") || "",
    // Where the earlier pages started, for "Previous"; kept in the history entry.
    stack: Array.isArray(history.state?.stack) ? history.state.stack : [],
  };
}

function goTo(store, { prefix, limit, start, stack }) {
  const query = {};
  if (prefix) query.prefix = prefix;
  if (limit !== DEFAULT_PAGE_SIZE) query.limit = limit;
  if (start) query.start = start;
  const empty = Object.keys(query).length === 0;
  navigate(storeHref(store.id, empty ? null : query), { state: { stack } });
}

/** Fills content-type cells with HEAD requests as their rows become visible, a few at a time. */
function contentTypeLoader(store, signal) {
  const queue = [];
  let running = 0;
  const pump = () => {
    while (running < HEAD_CONCURRENCY && queue.length && !signal.aborted) {
      const cell = queue.shift();
      running += 1;
      api
        .headRecord(store.id, cell.dataset.key, signal)
        .then((response) => {
          cell.textContent = response.headers.get("content-type") || "—";
        })
        .catch((err) => {
          if (err.name === "AbortError") return;
          cell.textContent = err.status === 404 ? "(deleted)" : "?";
          cell.title = err.message;
        })
        .finally(() => {
          running -= 1;
          pump();
        });
    }
  };
  const observer = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        observer.unobserve(entry.target);
        queue.push(entry.target);
      }
      pump();
    },
    { rootMargin: "300px" },
  );
  signal.addEventListener("abort", () => observer.disconnect());
  return (cell) => observer.observe(cell);
}

function keyRow(store, item, watchType, onDeleted) {
  const typeCell = h(
    "td",
    { class: "ctype", dataset: { key: item.key, testid: "key-content-type" } },
    "…",
  );
  watchType(typeCell);
  const row = h(
    "tr",
    { dataset: { testid: "key-row", key: item.key } },
    h("td", {}, h("a", { href: recordHref(store.id, item.key), class: "key-link mono" }, item.key)),
    h("td", { class: "num", title: `${item.size} bytes` }, formatBytes(item.size)),
    typeCell,
  );
  const owner = ownsStore(store);
  // The owner's download goes through the record's URL as the keys list signed it.
  const signedUrl = owner ? item.recordPublicUrl : null;
  const actions = h("td", { class: "row-actions" });
  actions.append(
    actionButton("Download", { class: "btn-small download-record" }, () =>
      downloadRecord(store, item.key, signedUrl),
    ),
  );
  if (owner) {
    actions.append(
      actionButton("Delete", { class: "btn-small btn-danger delete-record" }, async () => {
        if (!window.confirm(`Delete the record "${item.key}"?`)) return;
        await api.deleteRecord(store.id, item.key);
        row.remove();
        showNotice(`Deleted the record ${item.key}.`);
        onDeleted?.();
      }),
    );
  }
  row.append(actions);
  return row;
}

function filterForm(store, state) {
  const prefix = h("input", {
    id: "prefix-input",
    name: "prefix",
    value: state.prefix,
    placeholder: "Key prefix",
    autocomplete: "off",
    spellcheck: "false",
    "aria-label": "Key prefix",
  });
  const size = h(
    "select",
    { id: "page-size", "aria-label": "Keys per page" },
    PAGE_SIZES.map((n) => h("option", { value: n, selected: n === state.limit }, `${n} per page`)),
  );
  const form = h(
    "form",
    { id: "keys-filter", class: "inline-form" },
    prefix,
    size,
    h("button", { type: "submit", id: "prefix-apply" }, "Filter"),
  );
  const apply = () =>
    goTo(store, { prefix: prefix.value.trim(), limit: Number(size.value), start: "", stack: [] });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  size.addEventListener("change", apply);
  return form;
}

/** `onDeleted` is called after a record is deleted from the table. */
export function keysPanel(store, route, page, onDeleted) {
  const state = pageState(route);
  const tbody = h("tbody", {}, h("tr", {}, h("td", { colspan: 4, class: "muted" }, "Loading…")));
  const range = h("span", { id: "keys-range", class: "muted" });
  const prev = actionButton("← Previous", { id: "keys-prev", disabled: true }, () => {
    const stack = state.stack.slice(0, -1);
    goTo(store, { ...state, start: state.stack.at(-1) || "", stack });
  });
  const next = h("button", { type: "button", id: "keys-next", disabled: true }, "Next →");
  const panel = h(
    "section",
    { class: "panel", id: "keys-panel" },
    h("div", { class: "panel-head" }, h("h2", {}, "Records"), filterForm(store, state)),
    h(
      "table",
      { id: "keys-table", class: "data" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Key", "Size", "Content type", ""].map((t) => h("th", {}, t)),
        ),
      ),
      tbody,
    ),
    h("div", { class: "pager" }, prev, next, h("span", { class: "spacer" }), range),
  );
  load(store, state, page, { tbody, range, prev, next, onDeleted }).catch(showError);
  return panel;
}

async function load(store, state, page, { tbody, range, prev, next, onDeleted }) {
  let list;
  try {
    list = await api.listKeys(store.id, {
      limit: state.limit,
      prefix: state.prefix,
      exclusiveStartKey: state.start,
    });
  } catch (err) {
    if (!page.alive()) return;
    tbody.replaceChildren(
      h("tr", {}, h("td", { colspan: 4, class: "muted" }, "Could not list the keys.")),
    );
    throw err;
  }
  if (!page.alive()) return;
  const watchType = contentTypeLoader(store, page.signal);
  tbody.replaceChildren(...list.items.map((item) => keyRow(store, item, watchType, onDeleted)));
  if (list.items.length === 0) {
    const text = state.prefix ? `No keys start with "${state.prefix}".` : "No records yet.";
    tbody.append(h("tr", { id: "keys-empty" }, h("td", { colspan: 4, class: "muted" }, text)));
  }
  // The position is known when the history entry kept the earlier pages' starts.
  const count = list.items.length;
  if (!state.start || state.stack.length) {
    const first = state.stack.length * state.limit;
    range.textContent = `Records ${count ? first + 1 : first}–${first + count}`;
  } else {
    range.textContent = `${count} records after "${state.start}"`;
  }
  if (list.isTruncated) range.textContent += ", more follow";
  prev.disabled = !state.start;
  if (list.isTruncated) {
    next.disabled = false;
    next.addEventListener("click", () =>
      goTo(store, {
        ...state,
        start: list.nextExclusiveStartKey,
        stack: [...state.stack, state.start],
      }),
    );
  }
}
