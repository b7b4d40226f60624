// Signed public record URLs, as the API makes them: HMAC-SHA256 of the key with the store's
// urlSigningSecretKey, the first 30 hex digits of the digest written in base62.

import { apiBase, recordPath } from "./api.js";
import { hmacSha256 } from "./sha256.js";

const BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const utf8 = new TextEncoder();

async function hmac(secret, message) {
  const key = utf8.encode(secret);
  const data = utf8.encode(message);
  // WebCrypto refuses an empty key, which HMAC itself allows.
  if (window.isSecureContext && crypto.subtle && key.length > 0) {
    const cryptoKey = await crypto.subtle.importKey(
      "raw",
      key,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, data));
  }
  return hmacSha256(key, data);
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function base62(number) {
  if (number === 0n) return "0";
  let out = "";
  while (number > 0n) {
    out = BASE62[Number(number % 62n)] + out;
    number /= 62n;
  }
  return out;
}

export async function hmacBase62(secret, message) {
  const hex = toHex(await hmac(secret, message));
  return base62(BigInt(`0x${hex.slice(0, 30)}`));
}

/** The record's public URL, readable without a token. */
export async function signedRecordUrl(store, key) {
  const signature = await hmacBase62(store.urlSigningSecretKey, key);
  return `${apiBase}${recordPath(store.id, key)}?signature=${signature}`;
}
