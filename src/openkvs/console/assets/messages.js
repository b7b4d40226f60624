// The error and notice banners at the top of every page.

let errorBox = null;
let noticeBox = null;

export function mountMessages(errorEl, noticeEl) {
  errorBox = errorEl;
  noticeBox = noticeEl;
}

function fill(box, text, kind) {
  if (!box) return;
  box.replaceChildren();
  if (!text) {
    box.hidden = true;
    return;
  }
  const message = document.createElement("span");
  message.className = "message-text";
  message.dataset.testid = `${kind}-message`;
  message.textContent = text;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "message-close";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => fill(box, null, kind));
  box.append(message, close);
  box.hidden = false;
}

/** Shows an error (an ApiError's message, or any Error's) in the red banner. */
export function showError(err) {
  if (err && err.name === "AbortError") return;
  const text = typeof err === "string" ? err : (err && err.message) || String(err);
  console.error(err);
  fill(errorBox, text, "error");
  if (errorBox) errorBox.scrollIntoView({ block: "nearest" });
}

export function showNotice(text) {
  fill(noticeBox, text, "notice");
}

export function clearMessages() {
  fill(errorBox, null, "error");
  fill(noticeBox, null, "notice");
}
