// Usage: the SQLite history through the management API's /usage, the same sums as `cliproxy usage`.
import { management } from "./api.js";
import { stackedBars } from "./chart.js";
import { el, maskEmails, ms, number, table } from "./format.js";

const COLORS = { input: "#4c6ef5", cached: "#22b8cf", output: "#f59f00", reasoning: "#be4bdb",
  ok: "#40c057", failed: "#fa5252" };
const GROUPS = [["account", "By account"], ["model", "By model"], ["key", "By client key"], ["day", "By day"]];

const rate = (row) => (row.requests ? `${((100 * (row.failed || 0)) / row.requests).toFixed(1)} %` : "–");
const columns = (group) => [
  { title: group === "key" ? "Client key" : group[0].toUpperCase() + group.slice(1),
    value: (r) => (r === null ? "" : r[group] === undefined ? "total" : maskEmails(r[group] || "–")) },
  { title: "Requests", numeric: true, value: (r) => number(r.requests) },
  { title: "Failure rate", numeric: true, value: rate },
  { title: "Input", numeric: true, value: (r) => number(r.input_tokens) },
  { title: "Cached", numeric: true, value: (r) => number(r.cached_tokens) },
  { title: "Output", numeric: true, value: (r) => number(r.output_tokens) },
  { title: "Reasoning", numeric: true, value: (r) => number(r.reasoning_tokens) },
  { title: "Total", numeric: true, value: (r) => number(r.total_tokens) },
  { title: "Avg TTFT", numeric: true, value: (r) => ms(r.avg_ttft_ms) },
  { title: "Avg time", numeric: true, value: (r) => ms(r.avg_duration_ms) },
];

function stat(label, value, id) {
  return el("div", { class: "stat" }, el("div", { class: "v", id }, value), el("div", { class: "k" }, label));
}

function days(count) {
  const out = [];
  for (let i = Math.ceil(count) - 1; i >= 0; i--) {
    const d = new Date(Date.now() - i * 86400000);
    out.push(`${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`);
  }
  return out;
}

function charts(rows, range) {
  const byDay = Object.fromEntries(rows.map((r) => [r.day, r]));
  const labels = days(Math.max(range, 2));
  const pick = (key) => labels.map((d) => (byDay[d] ? byDay[d][key] || 0 : 0));
  document.getElementById("chart-tokens").replaceChildren(...stackedBars(labels, [
    { name: "Input (uncached)", color: COLORS.input,
      values: labels.map((d, i) => Math.max(0, pick("input_tokens")[i] - pick("cached_tokens")[i])) },
    { name: "Cached", color: COLORS.cached, values: pick("cached_tokens") },
    { name: "Output", color: COLORS.output, values: pick("output_tokens") },
  ], "Tokens per day"));
  document.getElementById("chart-requests").replaceChildren(...stackedBars(labels, [
    { name: "Succeeded", color: COLORS.ok,
      values: labels.map((d, i) => pick("requests")[i] - pick("failed")[i]) },
    { name: "Failed", color: COLORS.failed, values: pick("failed") },
  ], "Requests per day"));
}

export async function loadUsage() {
  const range = Number(document.querySelector("input[name=range]:checked").value);
  const data = await management("GET", `usage?days=${range}&group=day,account,model,key`);
  const t = data.totals;
  document.getElementById("usage-totals").replaceChildren(
    stat("Requests", number(t.requests), "total-requests"), stat("Failure rate", rate(t), "total-failure"),
    stat("Input tokens", number(t.input_tokens), "total-input"), stat("Cached", number(t.cached_tokens), "total-cached"),
    stat("Output tokens", number(t.output_tokens), "total-output"),
    stat("Reasoning", number(t.reasoning_tokens), "total-reasoning"),
    stat("Total tokens", number(t.total_tokens), "total-tokens"), stat("Avg TTFT", ms(t.avg_ttft_ms), "total-ttft"));
  charts(data.by_day || [], range);
  document.getElementById("usage-tables").replaceChildren(...GROUPS.map(([group, title]) =>
    el("section", {}, el("h2", {}, title), table(columns(group), data[`by_${group}`] || [], t))));
  if (data.enabled === false) {
    document.getElementById("usage-tables").prepend(
      el("p", { class: "muted" }, "Usage statistics are off (usage-statistics-enabled): nothing new is recorded."));
  }
}
