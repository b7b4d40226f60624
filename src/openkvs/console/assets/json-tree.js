// JSON as a collapsible tree: nested <details>, the deeper levels built only when opened.

import { h } from "./dom.js";

const OPEN_DEPTH = 2;

function leafClass(value) {
  if (value === null) return "json-null";
  return `json-${typeof value}`;
}

function label(name, inArray) {
  if (name === null) return null;
  return inArray
    ? h("span", { class: "json-index" }, `${name}: `)
    : h("span", { class: "json-key" }, JSON.stringify(name), ": ");
}

function node(value, name, inArray, depth, last) {
  const comma = last ? "" : ",";
  const composite = value !== null && typeof value === "object";
  const entries = composite
    ? Array.isArray(value)
      ? value.map((v, i) => [i, v])
      : Object.entries(value)
    : [];
  if (!composite || entries.length === 0) {
    const text = composite ? (Array.isArray(value) ? "[]" : "{}") : JSON.stringify(value);
    return h(
      "div",
      { class: "json-leaf" },
      label(name, inArray),
      h("span", { class: composite ? "json-punct" : leafClass(value) }, text),
      comma,
    );
  }
  const array = Array.isArray(value);
  const noun = array ? "item" : "key";
  const count = `${entries.length} ${noun}${entries.length === 1 ? "" : "s"}`;
  const details = h(
    "details",
    { class: "json-node", open: depth < OPEN_DEPTH },
    h(
      "summary",
      {},
      label(name, inArray),
      h("span", { class: "json-punct" }, array ? "[" : "{"),
      h("span", { class: "json-count" }, ` ${count} `),
      h("span", { class: "json-closed" }, array ? "]" : "}", comma),
    ),
  );
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    const children = h("div", { class: "json-children" });
    entries.forEach(([key, child], index) =>
      children.append(node(child, key, array, depth + 1, index === entries.length - 1)),
    );
    details.append(children, h("div", { class: "json-end json-punct" }, array ? "]" : "}", comma));
  };
  if (details.open) build();
  else details.addEventListener("toggle", build);
  return details;
}

/** A tree view of a parsed JSON value. */
export function jsonTree(value) {
  return h(
    "div",
    { class: "json-tree", id: "json-tree", dataset: { testid: "json-tree" } },
    node(value, null, false, 0, true),
  );
}
