// Config: the file with secrets masked, checked (as a reload would) with its diff before it is saved.
import { call, management } from "./api.js";
import { el, toast } from "./format.js";

const text = () => document.getElementById("config-text");
const result = () => document.getElementById("config-result");
let checked = null;  // the text last checked and found valid

function showDiff(diff) {
  const pre = document.getElementById("config-diff");
  pre.hidden = !diff;
  pre.replaceChildren(...diff.split("\n").map((line) => el("span", {
    class: line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : "",
  }, line + "\n")));
}

export async function loadConfig() {
  text().value = await management("GET", "config.yaml");
  checked = null;
  document.getElementById("config-save").disabled = true;
  result().replaceChildren();
  showDiff("");
}

export async function checkConfig() {
  const proposed = text().value;
  const answer = await call("POST", "config-check", proposed);
  showDiff(answer.diff);
  const save = document.getElementById("config-save");
  if (!answer.valid) {
    checked = null;
    save.disabled = true;
    result().replaceChildren(el("p", { class: "result-bad" }, `Refused: ${answer.error}`));
    return;
  }
  checked = proposed;
  save.disabled = !answer.diff;
  const restart = answer.restart.length ? ` ${answer.restart.join(", ")} will apply after a restart.` : "";
  result().replaceChildren(el("p", { class: "result-ok" },
    answer.diff ? `Valid. Review the changes below, then save.${restart}` : "Valid, and nothing changed."));
}

export async function saveConfig() {
  if (checked === null || checked !== text().value) {
    await checkConfig();
    if (checked === null) return;
  }
  try {
    await management("PUT", "config.yaml", checked);
  } catch (error) {
    result().replaceChildren(el("p", { class: "result-bad" }, `Not saved: ${error.message}`));
    return;
  }
  toast("Saved and applied");
  await loadConfig();
  result().replaceChildren(el("p", { class: "result-ok" }, "Saved; the server is running with it."));
}

export function wireConfig() {
  text().addEventListener("input", () => { document.getElementById("config-save").disabled = true; });
  document.getElementById("config-check").addEventListener("click", checkConfig);
  document.getElementById("config-save").addEventListener("click", saveConfig);
  document.getElementById("config-reload").addEventListener("click", loadConfig);
}
