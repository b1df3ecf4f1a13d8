// Live: requests in flight and the last ones finished, polled while the page is shown.
import { call } from "./api.js";
import { clock, el, maskEmails, ms, number, table } from "./format.js";

const failed = (r) => Boolean(r.error) || r.status >= 400;
const logLink = (r, withLog) => (withLog ? el("a", { href: `api/m/request-log-by-id/${encodeURIComponent(r.request_id)}`,
  target: "_blank", rel: "noopener" }, r.request_id) : r.request_id);

const FINISHED = (withLog) => [
  { title: "Time", value: (r) => clock(r.ts) },
  { title: "Request id", value: (r) => (failed(r) ? logLink(r, withLog) : r.request_id) },
  { title: "Dialect", value: (r) => r.dialect },
  { title: "Model", value: (r) => r.model },
  { title: "Account", value: (r) => maskEmails(r.account) || "–" },
  { title: "Status", value: (r) => (r.error ? `${r.status} ${r.error}` : r.status), cls: (r) => (failed(r) ? "status-bad" : "") },
  { title: "TTFT", numeric: true, value: (r) => ms(r.ttft_ms) },
  { title: "Duration", numeric: true, value: (r) => ms(r.duration_ms) },
  { title: "In", numeric: true, value: (r) => number(r.input_tokens) },
  { title: "Out", numeric: true, value: (r) => number(r.output_tokens) },
  { title: "Total", numeric: true, value: (r) => number(r.total_tokens) },
];
const IN_FLIGHT = [
  { title: "Started", value: (r) => clock(r.started) },
  { title: "Request id", value: (r) => r.request_id },
  { title: "Dialect", value: (r) => r.dialect },
  { title: "Model", value: (r) => r.model },
  { title: "Account", value: (r) => maskEmails(r.account) || "choosing…" },
  { title: "State", value: (r) => (r.streaming ? "streaming" : "waiting") },
  { title: "Elapsed", numeric: true, value: (r) => ms(r.elapsed_ms) },
];

export async function loadLive() {
  const data = await call("GET", "live?limit=50");
  document.getElementById("live-inflight").replaceChildren(table(IN_FLIGHT, data.in_flight));
  document.getElementById("live-errors").replaceChildren(table(FINISHED(data.request_logs), data.errors));
  document.getElementById("live-finished").replaceChildren(table(FINISHED(data.request_logs), data.finished));
  document.getElementById("live-status").textContent =
    `${data.in_flight.length} in flight · updated ${clock(data.now)}`;
}
