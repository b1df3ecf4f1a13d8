// Adding an account: the device-code flow and the browser flow, both driven by the management API.
import { management } from "./api.js";
import { el, toast } from "./format.js";
import { loadAccounts } from "./accounts.js";

const POLL_MS = 2000;
let polling = 0;

function box() {
  const node = document.getElementById("add-flow");
  node.hidden = false;
  return node;
}

function close() {
  clearInterval(polling);
  document.getElementById("add-flow").hidden = true;
}

function poll(statusPath, line) {
  clearInterval(polling);
  polling = setInterval(async () => {
    let answer;
    try {
      answer = await management("GET", statusPath);
    } catch (error) {
      answer = { status: "error", error: error.message };
    }
    if (answer.status === "wait") return;
    clearInterval(polling);
    line.textContent = answer.status === "ok" ? "Account added." : `Login failed: ${answer.error}`;
    if (answer.status === "ok") {
      toast("Account added");
      await loadAccounts();
    }
  }, POLL_MS);
}

const cancel = () => el("button", { type: "button", class: "small quiet", onclick: close }, "Close");

export async function startDevice() {
  const node = box();
  node.replaceChildren(el("p", {}, "Asking the issuer for a code…"));
  try {
    const code = await management("GET", "codex-device-code");
    const line = el("p", { role: "status" }, "Waiting for you to approve…");
    node.replaceChildren(el("h2", {}, "Add an account with a device code"),
      el("p", {}, "1. Open ", el("a", { href: code.url, target: "_blank", rel: "noopener noreferrer" }, code.url)),
      el("p", {}, "2. Enter this code: ", el("span", { class: "code", id: "device-code" }, code.user_code)),
      el("p", { class: "muted" }, "Never share the code: anyone who has it can sign in as you."), line, cancel());
    poll(`codex-device-status?state=${encodeURIComponent(code.state)}`, line);
  } catch (error) {
    node.replaceChildren(el("p", { class: "error" }, `Could not start: ${error.message}`), cancel());
  }
}

export async function startBrowser() {
  const node = box();
  try {
    const login = await management("GET", "codex-auth-url?is_webui=true");
    const line = el("p", { role: "status" }, "Waiting for the sign-in to come back…");
    const pasted = el("input", { id: "redirect-url", type: "text", autocomplete: "off" });
    const submit = async (event) => {
      event.preventDefault();
      try {
        await management("POST", "oauth-callback", { redirect_url: pasted.value });
      } catch (error) {
        line.textContent = error.message;
      }
    };
    node.replaceChildren(el("h2", {}, "Add an account in the browser"),
      el("p", {}, el("a", { href: login.url, target: "_blank", rel: "noopener noreferrer" }, "Open the sign-in page"),
        " and sign in. If this machine is not the one with the browser, paste the address it ends on:"),
      el("form", { onsubmit: submit }, el("label", { for: "redirect-url" }, "Address after sign-in"), pasted,
        el("p", {}, el("button", { type: "submit", class: "small" }, "Submit"))), line, cancel());
    poll(`get-auth-status?state=${encodeURIComponent(login.state)}`, line);
  } catch (error) {
    node.replaceChildren(el("p", { class: "error" }, `Could not start: ${error.message}`), cancel());
  }
}
