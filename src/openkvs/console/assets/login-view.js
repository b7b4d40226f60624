// The login form: a token checked against /v2/users/me, kept in this tab's session storage.

import { api, setSession } from "./api.js";
import { h } from "./dom.js";
import { clearMessages, showError } from "./messages.js";

export function renderLogin(main, onLoggedIn) {
  const input = h("input", {
    type: "password",
    id: "login-token",
    name: "token",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "okvs_…",
  });
  const submit = h(
    "button",
    { type: "submit", id: "login-submit", class: "btn-primary" },
    "Log in",
  );
  const form = h(
    "form",
    { id: "login-form", class: "login-form" },
    h("label", { for: "login-token" }, "API token"),
    input,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      showError("Enter your API token.");
      return;
    }
    submit.disabled = true;
    try {
      const me = await api.me(token);
      setSession(token, me.username);
      clearMessages();
      onLoggedIn();
    } catch (err) {
      showError(err);
      input.select();
    } finally {
      submit.disabled = false;
    }
  });
  main.append(
    h(
      "section",
      { id: "login-page", class: "login-card panel" },
      h("h1", {}, "Log in to the openkvs console"),
      h(
        "p",
        { class: "muted" },
        "Use an API token of this server: the one printed when it first started, or one made with ",
        h("code", {}, "openkvs token create"),
        ".",
      ),
      form,
      h(
        "p",
        { class: "hint" },
        "The token is kept only in this browser tab (session storage) and sent in a header.",
      ),
    ),
  );
  input.focus();
}
