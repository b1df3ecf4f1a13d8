// Usage: the SQLite history through the management API's /usage, the same sums as `cliproxy usage`.
import { management } from "./api.js";
import { stackedBars } from "./chart.js";
import { el, maskEmails, ms, number, table } from "./format.js";

const COLORS = { input: "#4c6ef5", cached: "#22b8cf", output: "#f59f00", reasoning: "#be4bdb",
  ok: "#40c057", failed: "#fa5252" };
const GROUPS = [["account", "By account"], ["model", "By model"], ["key", "By client key"]];
const HOUR_MS = 3600000;
const pad = (n) => String(n).padStart(2, "0");
const dateOf = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

// An hourly row names the start of an hour of the server's clock with its UTC offset; shown on this browser's clock.
function hourText(iso) {
  const d = new Date(Date.parse(iso));
  return `${dateOf(d).slice(5)} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const rate = (row) => (row.requests ? `${((100 * (row.failed || 0)) / row.requests).toFixed(1)} %` : "–");
const columns = (group) => [
  { title: group === "key" ? "Client key" : group[0].toUpperCase() + group.slice(1),
    value: (r) => (r === null ? "" : r[group] === undefined ? "total"
      : group === "hour" ? hourText(r.hour) : maskEmails(r[group] || "–")) },
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

// The last `count` days of this browser's clock, today last; a row belongs to the bar named by its day.
function daySlots(count) {
  const slots = [];
  for (let i = count - 1; i >= 0; i--) {
    const label = dateOf(new Date(Date.now() - i * 86400000));
    slots.push({ label, tick: label.slice(5), holds: (row) => row.day === label });
  }
  return slots;
}

// The last `count` hours of this browser's clock, the current one last. A row belongs to the bar its
// start falls in, so a browser in another time zone than the server still shows each hour where it was.
function hourSlots(count) {
  const now = new Date();
  const current = now.getTime() - (now.getMinutes() * 60 + now.getSeconds()) * 1000 - now.getMilliseconds();
  const slots = [];
  for (let i = count - 1; i >= 0; i--) {
    const start = current - i * HOUR_MS, d = new Date(start), tick = `${pad(d.getHours())}:00`;
    slots.push({ label: `${dateOf(d)} ${tick}`, tick,
      holds: (row) => { const t = Date.parse(row.hour); return t >= start && t < start + HOUR_MS; } });
  }
  return slots;
}

// 24 h is the last 24 hours to the second, drawn per hour; the other ranges are drawn per day.
function rangeOf(value) {
  return value === 1 ? { query: "hours=24", per: "hour", slots: hourSlots(24) }
    : { query: `days=${value}`, per: "day", slots: daySlots(value) };
}

function charts(rows, { per, slots }) {
  const pick = (key) => slots.map((s) => rows.filter(s.holds).reduce((sum, r) => sum + (r[key] || 0), 0));
  const labels = slots.map((s) => s.label), ticks = slots.map((s) => s.tick);
  const [input, cached, requests, failed] = ["input_tokens", "cached_tokens", "requests", "failed"].map(pick);
  document.getElementById("chart-tokens-title").textContent = `Tokens per ${per}`;
  document.getElementById("chart-tokens").replaceChildren(...stackedBars(labels, [
    { name: "Input (uncached)", color: COLORS.input, values: input.map((n, i) => Math.max(0, n - cached[i])) },
    { name: "Cached", color: COLORS.cached, values: cached },
    { name: "Output", color: COLORS.output, values: pick("output_tokens") },
  ], `Tokens per ${per}`, ticks));
  document.getElementById("chart-requests-title").textContent = `Requests and failures per ${per}`;
  document.getElementById("chart-requests").replaceChildren(...stackedBars(labels, [
    { name: "Succeeded", color: COLORS.ok, values: requests.map((n, i) => n - failed[i]) },
    { name: "Failed", color: COLORS.failed, values: failed },
  ], `Requests per ${per}`, ticks));
}

export async function loadUsage() {
  const range = rangeOf(Number(document.querySelector("input[name=range]:checked").value));
  const groups = [...GROUPS, [range.per, `By ${range.per}`]];
  const data = await management("GET", `usage?${range.query}&group=${groups.map(([g]) => g).join(",")}`);
  const t = data.totals;
  document.getElementById("usage-totals").replaceChildren(
    stat("Requests", number(t.requests), "total-requests"), stat("Failure rate", rate(t), "total-failure"),
    stat("Input tokens", number(t.input_tokens), "total-input"), stat("Cached", number(t.cached_tokens), "total-cached"),
    stat("Output tokens", number(t.output_tokens), "total-output"),
    stat("Reasoning", number(t.reasoning_tokens), "total-reasoning"),
    stat("Total tokens", number(t.total_tokens), "total-tokens"), stat("Avg TTFT", ms(t.avg_ttft_ms), "total-ttft"));
  charts(data[`by_${range.per}`] || [], range);
  document.getElementById("usage-tables").replaceChildren(...groups.map(([group, title]) =>
    el("section", {}, el("h2", {}, title), table(columns(group), data[`by_${group}`] || [], t))));
  if (data.enabled === false) {
    document.getElementById("usage-tables").prepend(
      el("p", { class: "muted" }, "Usage statistics are off (usage-statistics-enabled): nothing new is recorded."));
  }
}
