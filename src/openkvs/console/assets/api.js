// The API beside the console: same origin, the token in an Authorization header (never in a URL).

const TOKEN_KEY = "openkvs.token";
const USER_KEY = "openkvs.username";

/** The API's base URL: the path before /console/, without a trailing slash. */
export const apiBase = new URL("..", document.baseURI).href.replace(/\/$/, "");

export const STORES = "/v2/key-value-stores";

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function getUsername() {
  return sessionStorage.getItem(USER_KEY);
}

/** Logs in this tab: the token and whose it is. */
export function setSession(token, username) {
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(USER_KEY, username);
}

export function clearSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

/** An error to show the user: the API's own message when it sent one. */
export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

const STATUS_MESSAGES = {
  400: "The request was not valid.",
  401: "Authentication token is not valid.",
  403: "You do not have permission to do that.",
  404: "Not found.",
  413: "The record is too large.",
  416: "The requested range is not satisfiable.",
  429: "Too many requests; try again in a moment.",
  507: "The server is out of storage space.",
};

export function storePath(storeId) {
  return `${STORES}/${encodeURIComponent(storeId)}`;
}

export function recordPath(storeId, key) {
  return `${storePath(storeId)}/records/${encodeURIComponent(key)}`;
}

function buildUrl(path, query) {
  const url = new URL(apiBase + path);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  return url.href;
}

async function errorFrom(response) {
  let type = "http-error";
  let message =
    STATUS_MESSAGES[response.status] || `HTTP ${response.status} ${response.statusText}`;
  const kind = response.headers.get("content-type") || "";
  if (kind.startsWith("application/json")) {
    try {
      const body = await response.json();
      if (body && body.error) {
        type = body.error.type || type;
        message = body.error.message || message;
      }
    } catch {
      // not the JSON envelope: keep the status text
    }
  }
  return new ApiError(response.status, type, message);
}

/**
 * One API call. Returns the Response for `raw`, else the parsed `data` of the JSON envelope.
 * Every failure becomes an ApiError, network failures included.
 */
export async function call(method, path, options = {}) {
  const headers = new Headers(options.headers || {});
  const token = options.token ?? getToken();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  let body = options.body;
  if (options.json !== undefined) {
    headers.set("Content-Type", "application/json");
    body = JSON.stringify(options.json);
  }
  let response;
  try {
    response = await fetch(buildUrl(path, options.query), {
      method,
      headers,
      body,
      cache: "no-store",
      redirect: options.redirect || "follow",
      signal: options.signal,
    });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "network-error", `Could not reach the server (${err.message || err}).`);
  }
  if (response.type === "opaqueredirect") return response;
  if (!response.ok) throw await errorFrom(response);
  if (options.raw) return response;
  if (response.status === 204 || method === "HEAD") return null;
  const text = await response.text();
  if (!text) return null;
  const parsed = JSON.parse(text);
  return parsed && "data" in parsed ? parsed.data : parsed;
}

/** A record's headers (HEAD); when that fails, the API's own message, which only a GET carries. */
async function recordInfo(id, key, signal) {
  try {
    return await call("HEAD", recordPath(id, key), { raw: true, signal });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 0) throw err;
    const headers = { Range: "bytes=0-0" };
    const options = { raw: true, headers, signal, redirect: "manual" };
    const response = await call("GET", recordPath(id, key), options);
    response.body?.cancel();
    throw err;
  }
}

/** Whether the store is the user's: the API shows a store's signing secret to its owner only. */
export function ownsStore(store) {
  return Boolean(store.urlSigningSecretKey);
}

/**
 * A record's public URL as the server hands it out in the keys list (signed there for the owner),
 * for a record the console has not listed: the first key with the record's key as prefix is the key
 * itself, when the record exists.
 */
async function recordPublicUrl(id, key, signal) {
  const query = { prefix: key, limit: 1 };
  const page = await call("GET", `${storePath(id)}/keys`, { query, signal });
  const item = page.items[0];
  if (!item || item.key !== key) {
    throw new ApiError(404, "record-not-found", "Record was not found.");
  }
  return item.recordPublicUrl;
}

export const api = {
  me: (token) => call("GET", "/v2/users/me", { token }),
  listStores: (query) => call("GET", STORES, { query: { unnamed: 1, ...query } }),
  createStore: (name) => call("POST", STORES, { query: { name }, raw: true }),
  getStore: (id) => call("GET", storePath(id)),
  updateStore: (id, changes) => call("PUT", storePath(id), { json: changes }),
  deleteStore: (id) => call("DELETE", storePath(id)),
  listKeys: (id, query) => call("GET", `${storePath(id)}/keys`, { query }),
  headRecord: (id, key, signal) => call("HEAD", recordPath(id, key), { raw: true, signal }),
  recordInfo,
  recordPublicUrl,
  putRecord: (id, key, body, contentType) =>
    call("PUT", recordPath(id, key), { body, headers: { "Content-Type": contentType } }),
  deleteRecord: (id, key) => call("DELETE", recordPath(id, key)),
};
