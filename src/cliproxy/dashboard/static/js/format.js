// Small helpers: building elements without HTML strings, and numbers, times and names for people.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;  // through the CSSOM: the page's policy forbids inline style attributes
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// "alice@example.com" → "a…e@example.com", wherever it appears in a name (account files are named after them).
export function maskEmails(text) {
  return String(text ?? "").replace(/([A-Za-z0-9._%+-]+)@([A-Za-z0-9.-]+\.[A-Za-z]{2,})/g, (_, user, domain) =>
    `${user.length > 2 ? user[0] + "…" + user[user.length - 1] : user[0] + "…"}@${domain}`);
}

export const number = (value) => Number(value || 0).toLocaleString("en-US");

export function compact(value) {
  const n = Number(value || 0);
  if (n >= 1e9) return (n / 1e9).toFixed(1) + "B";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return n.toLocaleString("en-US");
}

export function ms(value) {
  if (value === null || value === undefined) return "–";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

// Seconds until (positive) as "2 h 05 m", "4 m 10 s", "12 s".
export function span(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${String(m).padStart(2, "0")} m`;
  if (m) return `${m} m ${String(s % 60).padStart(2, "0")} s`;
  return `${s} s`;
}

export function ago(when) {
  if (!when) return "never";
  const t = typeof when === "number" ? when * 1000 : Date.parse(when);
  if (Number.isNaN(t)) return "–";
  const seconds = (Date.now() - t) / 1000;
  return seconds < 5 ? "just now" : `${span(seconds)} ago`;
}

export function clock(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("show"), 2600);
}

export function table(columns, rows, footer) {
  if (!rows.length) return el("p", { class: "empty" }, "Nothing yet.");
  const head = el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.numeric ? "n" : "" }, c.title)));
  const cell = (c, row) => el("td", { class: (c.numeric ? "n " : "") + (c.cls ? c.cls(row) : "") }, c.value(row));
  const body = rows.map((row) => el("tr", {}, columns.map((c) => cell(c, row))));
  const foot = footer ? el("tfoot", {}, el("tr", {}, columns.map((c) => cell(c, footer)))) : null;
  return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, body), foot));
}
