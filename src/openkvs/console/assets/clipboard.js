// Copying text: the Clipboard API where the page may use it, else selecting it for Ctrl+C.

/** Copies `text`; `input` (a read-only field holding it) is selected when that is not possible. */
export async function copyText(text, input) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return "Copied to the clipboard.";
    } catch {
      // permission refused: fall back to the selection
    }
  }
  input.focus();
  input.select();
  try {
    if (document.execCommand("copy")) return "Copied to the clipboard.";
  } catch {
    // not supported
  }
  return "Press Ctrl+C (⌘C) to copy the selected link.";
}
