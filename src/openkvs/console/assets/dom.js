// Building the page: elements from plain values (text always goes in as text, never as HTML).

import { showError } from "./messages.js";

/**
 * h("a", {href: "x", class: "btn", dataset: {testid: "t"}, onclick: fn}, "text", child, ...)
 * Attributes starting with "on" become event listeners; null/false attributes are left out.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "class") {
      el.className = value;
    } else if (name in el && typeof value !== "string") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
  return parent;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

export function formatDate(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

export function formatCount(n) {
  return Number(n || 0).toLocaleString("en-US");
}

/** A store's record count (stats.recordCount, an openkvs addition): "—" if the API has none. */
export function formatRecordCount(stats) {
  const count = stats?.recordCount;
  return typeof count === "number" ? formatCount(count) : "—";
}

/** A store's label: its name, or its id for an unnamed store. */
export function storeLabel(store) {
  return store.name || store.id;
}

/** A button that is disabled while its async action runs, so a double click does one thing. */
export function actionButton(label, attrs, action) {
  const button = h("button", { type: "button", ...attrs }, label);
  button.addEventListener("click", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    try {
      await action(event);
    } catch (err) {
      showError(err);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
