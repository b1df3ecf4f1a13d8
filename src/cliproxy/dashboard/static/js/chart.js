// Stacked bar charts as inline SVG: one bar per label, one coloured part per series.
import { compact, el } from "./format.js";

const NS = "http://www.w3.org/2000/svg";
const W = 560, H = 220, LEFT = 48, BOTTOM = 28, TOP = 10;

function svg(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// series: [{name, color, values: number[]}]; labels: string[] (in tooltips); ticks: the axis text under each bar
export function stackedBars(labels, series, description, ticks = labels.map((label) => label.slice(5))) {
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  const max = Math.max(1, ...totals);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": description });
  const plotW = W - LEFT - 8, plotH = H - TOP - BOTTOM;
  for (const f of [0, 0.5, 1]) {
    const y = TOP + plotH * (1 - f);
    root.append(svg("line", { x1: LEFT, x2: W - 8, y1: y, y2: y, stroke: "currentColor", "stroke-opacity": 0.15 }));
    root.append(svg("text", { x: LEFT - 6, y: y + 4, "text-anchor": "end" }, compact(max * f)));
  }
  const step = plotW / Math.max(1, labels.length), barW = Math.max(4, Math.min(44, step * 0.7));
  labels.forEach((label, i) => {
    let y = TOP + plotH;
    const x = LEFT + step * i + (step - barW) / 2, bar = svg("g", { class: "bar", "data-label": label });
    root.append(bar);
    for (const s of series) {
      const h = ((s.values[i] || 0) / max) * plotH;
      if (h > 0) {
        y -= h;
        const rect = svg("rect", { x, y, width: barW, height: h, fill: s.color, rx: 2 });
        rect.append(svg("title", {}, `${label} · ${s.name}: ${(s.values[i] || 0).toLocaleString("en-US")}`));
        bar.append(rect);
      }
    }
    if (labels.length <= 16 || (labels.length - 1 - i) % Math.ceil(labels.length / 12) === 0) {  // the last one named
      root.append(svg("text", { x: x + barW / 2, y: H - 8, "text-anchor": "middle" }, ticks[i]));
    }
  });
  const legend = el("div", { class: "legend" },
    series.map((s) => el("span", {}, el("i", { style: `background:${s.color}` }), s.name)));
  return [root, legend];
}
