// Signed public record URLs, as the server hands them out: the keys list signs a record's
// `recordPublicUrl` for the store's owner (and never signs a key the server refuses to sign).
// Asking it, rather than signing here, keeps one implementation of the scheme and its rules.

import { ApiError, api } from "./api.js";

/** The record's public URL, readable without a token (signed, when the server signs it). */
export async function signedRecordUrl(store, key) {
  // The first key with the record's key as prefix is the key itself, when the record exists.
  const page = await api.listKeys(store.id, { prefix: key, limit: 1 });
  const item = page.items[0];
  if (!item || item.key !== key) {
    throw new ApiError(404, "record-not-found", "Record was not found.");
  }
  return item.recordPublicUrl;
}

/** The same URL with `name=value` added to its query. */
export function withParameter(url, name, value) {
  const parsed = new URL(url);
  parsed.searchParams.set(name, value);
  return parsed.href;
}
