// The page: log in, then one of five pages by the address's #fragment, each refreshed while shown.
import { ApiError, call, onLoggedOut, setCsrf } from "./api.js";
import { loadAccounts, tick } from "./accounts.js";
import { loadConfig, wireConfig } from "./config.js";
import { loadLive } from "./live.js";
import { startBrowser, startDevice } from "./logins.js";
import { renderSetup } from "./setup.js";
import { loadState } from "./state.js";
import { loadUsage } from "./usage.js";

// The Accounts page: the account cards and, above them, the shared state with its live instances.
const loadAccountsPage = () => Promise.all([loadAccounts(), loadState()]);

// What each page loads, and how often it reloads while shown (0: only on opening).
const PAGES = {
  accounts: [loadAccountsPage, 3000], usage: [loadUsage, 15000], live: [loadLive, 1500],
  config: [loadConfig, 0], setup: [async () => renderSetup(), 0],
};
let timer = 0;

const $ = (id) => document.getElementById(id);

function showLogin(message = "") {
  clearInterval(timer);
  for (const page of document.querySelectorAll(".page")) page.hidden = true;
  $("nav").hidden = $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  $("secret").focus();
}

async function refresh(load) {
  try {
    await load();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) console.warn(error);
  }
}

async function show() {
  const name = PAGES[location.hash.slice(1)] ? location.hash.slice(1) : "accounts";
  clearInterval(timer);
  $("login").hidden = true;
  $("nav").hidden = $("logout").hidden = false;
  for (const page of document.querySelectorAll(".page")) page.hidden = page.id !== `page-${name}`;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${$("nav").querySelector(`[data-page=${name}]`).textContent} · cliproxy`;
  const [load, every] = PAGES[name];
  await refresh(load);
  if (every) timer = setInterval(() => refresh(load), every);
}

async function login(event) {
  event.preventDefault();
  try {
    const { csrf } = await call("POST", "login", { secret: $("secret").value });
    setCsrf(csrf);
    $("secret").value = "";
    await show();
    $("main").focus();
  } catch (error) {
    $("login-error").textContent = error.status === 401 ? "Wrong secret." : error.message;
  }
}

async function start() {
  onLoggedOut(() => showLogin("Your session ended: log in again."));
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", async () => { await call("POST", "logout").catch(() => {}); showLogin(); });
  $("add-device").addEventListener("click", startDevice);
  $("add-browser").addEventListener("click", startBrowser);
  $("setup-key").addEventListener("input", renderSetup);
  for (const radio of document.querySelectorAll("input[name=range]")) radio.addEventListener("change", () => refresh(loadUsage));
  wireConfig();
  window.addEventListener("hashchange", () => { if ($("login").hidden) show(); });
  setInterval(tick, 1000);
  try {
    setCsrf((await call("GET", "session")).csrf);
    await show();
  } catch {
    showLogin();
  }
}

start();
