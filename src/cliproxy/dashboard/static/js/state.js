// The shared state on the Accounts page: where the pool's facts live, whether that store answers, and the
// live instances, as `cliproxy status` shows them. Ages are counted on the server's clock (`now`).
import { call } from "./api.js";
import { el, span } from "./format.js";

const BACKENDS = { embedded: "this process only", redis: "shared by the instances on one Redis" };
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function link(state) {
  if (state.backend === "embedded") return null;  // one process: nothing to lose touch with
  return el("span", { class: `badge ${state.connected ? "link-up" : "link-down"}`, id: "state-link" },
    state.connected ? "connected" : "not connected");
}

function backlog(state) {
  const parts = [state.queued ? `${plural(state.queued, "write")} queued` : "",
    state.dropped ? `${state.dropped} dropped (the queue was full)` : ""].filter(Boolean);
  return parts.length ? el("span", { class: "muted", id: "state-queued" }, parts.join(", ")) : null;
}

function instance(beat, state) {
  const notes = [beat.instance === state.instance ? "this one" : "",
    typeof beat.started_at === "number" ? `started ${span(state.now - beat.started_at)} ago` : ""].filter(Boolean);
  return el("li", { "data-self": beat.instance === state.instance }, el("code", {}, String(beat.instance)),
    notes.length ? ` (${notes.join(", ")})` : "");
}

function instances(state) {
  const beats = state.instances || [];
  const unseen = state.connected ? "" : " (the others cannot be seen while the store is away)";
  return el("div", { class: "instances" },
    el("span", { class: "muted" }, `${plural(beats.length, "live instance")}${unseen}:`),
    el("ul", {}, beats.map((beat) => instance(beat, state))));
}

export async function loadState() {
  const state = await call("GET", "state");
  const box = document.getElementById("shared-state");
  box.dataset.backend = state.backend;
  box.dataset.connected = state.connected;
  const head = el("div", { class: "state-head" }, el("strong", {}, "Shared state"),
    el("span", { class: "badge", id: "state-backend" }, state.backend),
    el("span", { class: "muted" }, BACKENDS[state.backend] || ""), link(state), backlog(state));
  const lost = el("p", { class: "why link-down", id: "state-detail" }, state.detail || "unreachable");
  box.replaceChildren(...(state.connected ? [head] : [head, lost]), instances(state));
  box.hidden = false;
}
