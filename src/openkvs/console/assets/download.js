// Downloading a record as a file.

import { call, recordPath } from "./api.js";
import { h } from "./dom.js";
import { signedRecordUrl, withParameter } from "./signing.js";

function save(href, filename) {
  const link = h("a", { href, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
}

/**
 * The owner downloads through a signed link, so the browser streams the record to disk however
 * large it is; anyone else (a store readable by id or name) fetches it with the token into memory.
 */
export async function downloadRecord(store, key) {
  if (store.urlSigningSecretKey) {
    save(withParameter(await signedRecordUrl(store, key), "attachment", "true"), key);
    return;
  }
  const response = await call("GET", recordPath(store.id, key), { raw: true });
  const url = URL.createObjectURL(await response.blob());
  save(url, key);
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
