// Accounts: one card per account, its state in the pool's words, its quota windows, and actions.
import { management } from "./api.js";
import { ago, el, maskEmails, span, toast } from "./format.js";

const STATES = { available: "available", cooling: "resting", quota: "quota spent", "needs-login": "needs login",
  disabled: "disabled" };
// Whose fault a rest is, in the words of the blame table.
const REST = { quota: "a quota window is spent (the account's)", account: "the account's own failure",
  transient: "the upstream's passing trouble" };
const WINDOWS = { short: "5-hour window", long: "Weekly window" };

function countdown(resetAt) {
  return el("span", { "data-until": resetAt }, resetText(resetAt - Date.now() / 1000));
}

const resetText = (left) => (left > 0 ? `resets in ${span(left)}` : "reset due");

function windowBar(kind, w) {
  const used = Math.max(0, Math.min(100, Number(w.used_percent || 0)));
  const level = used >= 100 ? "full" : used >= 80 ? "high" : "";
  const title = WINDOWS[kind] || kind;
  return el("div", { class: "window" },
    el("div", { class: "label" }, el("span", {}, `${title}: ${used.toFixed(0)} % used`),
      w.reset_at ? countdown(w.reset_at) : el("span", { class: "muted" }, "no reset known")),
    el("div", { class: `bar ${level}`, role: "progressbar", "aria-label": `${title} used`, "aria-valuemin": 0,
      "aria-valuemax": 100, "aria-valuenow": Math.round(used) }, el("span", { style: `width:${used}%` })));
}

function why(file) {
  const state = file.pool_state;
  if (state === "cooling" || state === "quota") {
    const until = file.next_retry_after ? Date.parse(file.next_retry_after) / 1000 : 0;
    return el("p", { class: "why" }, `${file.cooling_reason || "resting"}`, file.rest ? ` — ${REST[file.rest]}` : "",
      until ? el("span", {}, " · back ", el("span", { "data-until": until }, `in ${span(until - Date.now() / 1000)}`))
        : "");
  }
  if (state === "needs-login") return el("p", { class: "why" }, file.last_error || "log in again to use it");
  return null;
}

function facts(file) {
  const lastError = file.last_error || (file.last_status >= 400 ? `HTTP ${file.last_status}` : "none");
  const rows = [["Last request", file.last_used_at ? `${ago(file.last_used_at)} (HTTP ${file.last_status})` : "never"],
    ["Last error", lastError], ["Requests", `${file.requests ?? 0} (${file.errors ?? 0} failed)`],
    ["Token", file.expires_at ? `expires ${new Date(file.expires_at).toLocaleString()}` : "–"]];
  return el("dl", { class: "facts" }, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

async function act(what, method, path, body, reload) {
  try {
    await management(method, path, body);
    toast(what);
  } catch (error) {
    toast(`${what} failed: ${error.message}`);
  }
  await reload();
}

function actions(file, reload) {
  const name = file.name, q = `?name=${encodeURIComponent(name)}`;
  const label = maskEmails(file.label || file.email || name);
  const resting = file.pool_state === "cooling" || file.pool_state === "quota";
  return el("div", { class: "actions" },
    el("button", { type: "button", class: "small secondary", onclick: () => act(file.disabled ? "Enabled" : "Disabled",
      "PATCH", "auth-files/status", { name, disabled: !file.disabled }, reload) }, file.disabled ? "Enable" : "Disable"),
    resting ? el("button", { type: "button", class: "small", "aria-label": `Clear the rest of ${label}`,
      onclick: () => act("Rest cleared", "POST", `auth-files/reset${q}`, undefined, reload) }, "Clear rest") : null,
    el("button", { type: "button", class: "small secondary",
      onclick: () => act("Token renewed", "POST", `auth-files/refresh${q}`, undefined, reload) }, "Refresh now"),
    el("button", { type: "button", class: "small danger", onclick: () => {
      if (confirm(`Remove ${label}? Its file is deleted.`)) act("Removed", "DELETE", `auth-files${q}`, undefined, reload);
    } }, "Remove"));
}

function card(file, reload) {
  const state = file.disabled ? "disabled" : file.pool_state || (file.status === "needs login" ? "needs-login" : "");
  const title = maskEmails(file.label || file.email || file.name);
  const windows = Object.entries(file.windows || {});
  return el("article", { class: "card account", "data-account": file.name, "data-state": state },
    el("header", {},
      el("div", {}, el("h3", {}, title),
        el("div", { class: "sub" }, [file.public_name, file.plan].filter(Boolean).join(" · "))),
      el("span", { class: `badge state-${state}` }, STATES[state] || state || "not loaded")),
    why(file),
    windows.length ? windows.map(([kind, w]) => windowBar(kind, w))
      : el("p", { class: "muted window" }, "No quota read yet."),
    facts(file), actions(file, reload));
}

export async function loadAccounts() {
  const { files } = await management("GET", "auth-files");
  const box = document.getElementById("accounts");
  box.replaceChildren(...files.map((file) => card(file, loadAccounts)));
  const ready = files.filter((f) => f.pool_state === "available" && !f.disabled).length;
  document.getElementById("accounts-summary").textContent =
    files.length ? `${files.length} account(s), ${ready} available.` : "No accounts yet: add one.";
}

// Every countdown on the page, once a second.
export function tick() {
  for (const node of document.querySelectorAll("[data-until]")) {
    const left = Number(node.dataset.until) - Date.now() / 1000;
    node.textContent = node.textContent.startsWith("reset") ? resetText(left) : `in ${span(left)}`;
  }
}
