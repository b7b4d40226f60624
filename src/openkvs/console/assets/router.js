// Pages are paths under the console's <base href>: "" (stores), "stores/{id}" (a store's keys),
// "stores/{id}/records/{key}" (a record). Navigation uses the History API, no page reloads.

export const basePath = new URL(document.baseURI).pathname;

let renderer = () => {};
let current = null;

/** The page the address bar names: {name, storeId?, key?, query}. */
export function currentRoute() {
  const path = location.pathname.startsWith(basePath)
    ? location.pathname.slice(basePath.length)
    : "";
  const query = new URLSearchParams(location.search);
  const parts = path.split("/");
  try {
    if (path === "") return { name: "stores", query };
    if (parts.length === 2 && parts[0] === "stores" && parts[1]) {
      return { name: "store", storeId: decodeURIComponent(parts[1]), query };
    }
    if (parts.length >= 4 && parts[0] === "stores" && parts[2] === "records" && parts[3]) {
      const key = decodeURIComponent(parts.slice(3).join("/"));
      return { name: "record", storeId: decodeURIComponent(parts[1]), key, query };
    }
  } catch {
    // a malformed %-escape: fall through to "not found"
  }
  return { name: "not-found", path, query };
}

export function storeHref(storeId, query) {
  const search = query ? `?${new URLSearchParams(query)}` : "";
  return `stores/${encodeURIComponent(storeId)}${search}`;
}

export function recordHref(storeId, key) {
  return `stores/${encodeURIComponent(storeId)}/records/${encodeURIComponent(key)}`;
}

/** Goes to a console path (relative to <base href>) and renders it. */
export function navigate(href, { replace = false, state = null, notice = null } = {}) {
  const url = new URL(href, document.baseURI);
  if (replace) history.replaceState(state, "", url);
  else history.pushState(state, "", url);
  renderer({ notice });
}

/**
 * A fresh lifetime for the page being rendered: its AbortSignal fires when the user moves on,
 * and alive() turns false, so late answers do not draw into the next page.
 */
export function beginPage() {
  if (current) current.abort();
  current = new AbortController();
  const controller = current;
  return { signal: controller.signal, alive: () => !controller.signal.aborted };
}

export function startRouter(render) {
  renderer = render;
  window.addEventListener("popstate", () => renderer({}));
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target.closest("a[href]");
    if (!link || link.hasAttribute("download") || link.target) return;
    const url = new URL(link.href);
    if (url.origin !== location.origin || !url.pathname.startsWith(basePath)) return;
    if (url.pathname.startsWith(`${basePath}assets/`)) return;
    event.preventDefault();
    navigate(url.href);
  });
  renderer({});
}
