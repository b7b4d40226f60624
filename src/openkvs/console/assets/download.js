// Downloading a record as a file.

import { call, recordPath } from "./api.js";
import { h } from "./dom.js";

function save(href, filename) {
  const link = h("a", { href, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
}

/** The same URL with `name=value` added to its query. */
function withParameter(url, name, value) {
  const parsed = new URL(url);
  parsed.searchParams.set(name, value);
  return parsed.href;
}

/**
 * The owner downloads through the record's signed URL (the server's `recordPublicUrl`), so the
 * browser streams the record to disk however large it is; anyone else (a store readable by id or
 * name) fetches it with the token into memory.
 */
export async function downloadRecord(store, key, signedUrl) {
  if (signedUrl) {
    save(withParameter(signedUrl, "attachment", "true"), key);
    return;
  }
  const response = await call("GET", recordPath(store.id, key), { raw: true });
  const url = URL.createObjectURL(await response.blob());
  save(url, key);
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
