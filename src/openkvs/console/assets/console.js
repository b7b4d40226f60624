// The console's entry point: the page frame (header, messages, main area), login and routing.

import { ApiError, api, clearSession, getToken, getUsername, setSession } from "./api.js";
import { clear, h } from "./dom.js";
import { renderLogin } from "./login-view.js";
import { clearMessages, mountMessages, showError, showNotice } from "./messages.js";
import { renderRecord } from "./record-view.js";
import { beginPage, currentRoute, startRouter } from "./router.js";
import { renderStore } from "./store-view.js";
import { renderStores } from "./stores-view.js";

const userName = h("span", { id: "user-name", class: "user-name" });
const logoutButton = h("button", { type: "button", id: "logout", class: "btn-quiet" }, "Log out");
const errorBox = h("div", { id: "error", class: "message error", role: "alert", hidden: true });
const noticeBox = h("div", { id: "notice", class: "message notice", role: "status", hidden: true });
const main = h("main", { id: "view" });

function mountFrame() {
  const app = document.getElementById("app");
  clear(app).append(
    h(
      "header",
      { class: "topbar" },
      h("a", { href: "./", class: "brand", id: "brand" }, "openkvs"),
      h("span", { class: "brand-sub" }, "key-value stores"),
      h("span", { class: "spacer" }),
      userName,
      logoutButton,
    ),
    h("div", { class: "messages" }, errorBox, noticeBox),
    main,
  );
  mountMessages(errorBox, noticeBox);
  logoutButton.addEventListener("click", () => {
    clearSession();
    clearMessages();
    render({ notice: "Logged out." });
  });
}

function setLoggedIn(username) {
  userName.textContent = username ? `Signed in as ${username}` : "";
  logoutButton.hidden = !username;
}

async function ensureUser(page) {
  const token = getToken();
  const known = getUsername();
  if (known) return known;
  const me = await api.me();
  if (!page.alive()) return null;
  setSession(token, me.username);
  return me.username;
}

// A page of its own in place of a view: a heading, a sentence and a link back to the stores.
function pagePanel(id, title, text, linkText) {
  return h(
    "section",
    { id, class: "panel" },
    h("h1", {}, title),
    h("p", {}, text),
    h("a", { href: "./" }, linkText),
  );
}

const VIEWS = {
  stores: renderStores,
  store: renderStore,
  record: renderRecord,
};

async function render({ notice = null } = {}) {
  const page = beginPage();
  clearMessages();
  if (notice) showNotice(notice);
  clear(main);
  const route = currentRoute();
  if (!getToken()) {
    setLoggedIn(null);
    renderLogin(main, () => render({}));
    return;
  }
  try {
    const username = await ensureUser(page);
    if (!page.alive()) return;
    setLoggedIn(username);
    const view = VIEWS[route.name];
    if (!view) {
      main.append(
        pagePanel(
          "not-found-page",
          "Page not found",
          "There is no console page at this address. ",
          "Go to the stores",
        ),
      );
      return;
    }
    await view(main, route, page);
  } catch (err) {
    if (!page.alive()) return;
    if (err instanceof ApiError && err.status === 401) {
      // The token stopped working (revoked, or the server's users changed): log in again.
      clearSession();
      setLoggedIn(null);
      clear(main);
      renderLogin(main, () => render({}));
    } else if (!main.hasChildNodes()) {
      main.append(
        pagePanel(
          "load-failed",
          "This page could not be loaded",
          "The error is shown above. ",
          "Back to the stores",
        ),
      );
    }
    showError(err);
  }
}

window.addEventListener("unhandledrejection", (event) => showError(event.reason));
window.addEventListener("error", (event) => showError(event.error || event.message));

mountFrame();
startRouter(render);
