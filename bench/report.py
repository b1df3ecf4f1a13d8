"""From per-level records to the published table: medians over repetitions with min–max.

"Added" = the column's figure minus direct-to-fake's in the same repetition, profile and level.
CPU per upstream event = the server's process-tree CPU over the burst levels divided by the
upstream events the fake sent during them. Stream time growth = the column's median stream time
at paced concurrency 50 over direct's, minus one.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Callable
from typing import Any

from .plan import Plan, cliproxy_target
from .runner import Outcome

Records = list[dict[str, Any]]
MiB = 1024 * 1024


def _pick(records: Records, **match: Any) -> Records:
    return [r for r in records if all(r.get(k) == v for k, v in match.items())]


def _per_rep(records: Records, run: str, fn: Callable[[int], float]) -> list[float]:
    reps = sorted({r["rep"] for r in records if r["run"] == run})
    values = [fn(rep) for rep in reps]
    return [v for v in values if not math.isnan(v)]


def _one(records: Records, key: str, **match: Any) -> float:
    found = _pick(records, **match)
    return float(found[0][key]) if found else math.nan


def _fmt(values: list[float], digits: int = 2, suffix: str = "") -> str:
    if not values:
        return "—"
    mid = statistics.median(values)
    text = f"{mid:.{digits}f}"
    lo, hi = min(values), max(values)
    if len(values) > 1 and f"{lo:.{digits}f}" != f"{hi:.{digits}f}":
        text += f" ({lo:.{digits}f}–{hi:.{digits}f})"
    return text + suffix


def _ttft(records: Records, run: str, conc: int, key: str) -> list[float]:
    def value(rep: int) -> float:
        mine = _one(records, key, run=run, profile="burst", concurrency=conc, rep=rep)
        if run == "direct":
            return mine
        return mine - _one(records, key, run="direct", profile="burst", concurrency=conc, rep=rep)

    return _per_rep(records, run, value)


def _cpu(records: Records, run: str, per: str) -> list[float]:
    def value(rep: int) -> float:
        rows = _pick(records, run=run, profile="burst", rep=rep)
        cpu = sum(r["server_cpu_s"] for r in rows)
        if per == "event":
            events = sum(r["upstream_events"] for r in rows)
            return cpu / events * 1e6 if events else math.nan
        requests = sum(r["requests"] for r in rows)
        return cpu / requests * 1e3 if requests else math.nan

    return _per_rep(records, run, value)


def _throughput(records: Records, run: str, conc: int) -> list[float]:
    return _per_rep(records, run, lambda rep: _one(
        records, "content_events_per_s", run=run, profile="burst", concurrency=conc, rep=rep) / 1e3)


def _growth(records: Records, run: str, conc: int) -> list[float]:
    def value(rep: int) -> float:
        mine = _one(records, "total_p50_ms", run=run, profile="paced", concurrency=conc, rep=rep)
        if run == "direct":
            return mine
        base = _one(records, "total_p50_ms", run="direct", profile="paced", concurrency=conc, rep=rep)
        return (mine / base - 1) * 100

    return _per_rep(records, run, value)


def _rss(outcome: Outcome, run: str, target: str, top: int) -> str:
    idle = outcome.rss_idle.get(target)
    if idle is None:
        return "—"
    peaks = [r["rss_max_bytes"] for r in _pick(outcome.records, run=run, concurrency=top)]
    peak = max(peaks, default=0)
    return f"{idle / MiB:.0f} → {peak / MiB:.0f} MiB" if peak else f"{idle / MiB:.0f} MiB"


def _checked(records: Records, run: str) -> str:
    rows = _pick(records, run=run)
    ok, total = sum(r["ok"] for r in rows), sum(r["requests"] for r in rows)
    return f"{ok}/{total}" + ("" if ok == total else " ✗")


def _levels(plan: Plan, profile: str) -> list[int]:
    for p in plan.profiles:
        if p.name == profile:
            return [c for c, _ in p.levels]
    return []


def _pair(first: list[float], second: list[float], digits: int) -> str:
    return f"{_fmt(first, digits)} / {_fmt(second, digits)}"


def _column(outcome: Outcome, plan: Plan, run: str, target: str) -> list[str]:
    records = outcome.records
    burst, paced = _levels(plan, "burst"), _levels(plan, "paced")
    cells: list[str] = []
    for conc in (burst[0], burst[-1]) if burst else ():
        p50, p99 = _ttft(records, run, conc, "ttft_p50_ms"), _ttft(records, run, conc, "ttft_p99_ms")
        cells.append(_pair(p50, p99, 2))
    if burst:
        cpu_event = "—" if target == "direct" else _fmt(_cpu(records, run, "event"), 1)
        cpu_request = "—" if target == "direct" else _fmt(_cpu(records, run, "request"), 2)
        cells += [cpu_event, cpu_request, _fmt(_throughput(records, run, burst[-1]), 1)]
    if paced:
        growth = _growth(records, run, paced[-1])
        cells.append(_fmt(growth, 0, " ms") if target == "direct" else _fmt(growth, 1, " %"))
    top = max(burst + paced, default=0)
    cells += ["—" if target == "direct" else _rss(outcome, run, target, top), _checked(records, run)]
    return cells


def _row_names(plan: Plan) -> list[str]:
    burst, paced = _levels(plan, "burst"), _levels(plan, "paced")
    names: list[str] = []
    for conc in (burst[0], burst[-1]) if burst else ():
        names.append(f"TTFT p50 / p99 at concurrency {conc}, burst (ms; direct: absolute, others: added)")
    if burst:
        names += ["CPU per upstream event, burst (µs)", "CPU per request, burst (ms)",
                  f"content events/s at concurrency {burst[-1]}, burst (thousands)"]
    if paced:
        names.append(f"stream time growth, {paced[-1]} paced streams (direct: p50 stream time)")
    top = max(burst + paced, default=0)
    names += [f"RSS idle → at concurrency {top}", "responses matching byte for byte"]
    return names


def table(outcome: Outcome, plan: Plan) -> str:
    """The markdown table: one row per figure, one column per server and dialect."""
    runs = plan.runs()
    header = "| per server, one core | " + " | ".join(r.label for r in runs) + " |"
    lines = [header, "|---" * (len(runs) + 1) + "|"]
    columns = []
    for run in runs:
        if run.label in outcome.skipped:
            columns.append(["skipped"] * len(_row_names(plan)))
        else:
            columns.append(_column(outcome, plan, run.label, run.target))
    for i, name in enumerate(_row_names(plan)):
        lines.append(f"| {name} | " + " | ".join(col[i] for col in columns) + " |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as info:
            model = next((ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version()}


def markdown(outcome: Outcome, plan: Plan, command: str) -> str:
    box = machine()
    pin = ("servers pinned to core 1, fake upstream and load generator to core 0"
           if outcome.pinned else "no core pinning")
    parts = [
        table(outcome, plan),
        "",
        f"Machine: {box['cores']} × {box['cpu']}, Linux {box['kernel']}, Python {box['python']}; {pin}. "
        f"{plan.delta_count} text deltas per stream; {plan.reps} repetition(s), medians (min–max).",
        f"Versions: {', '.join(f'{k} {v}' for k, v in outcome.versions.items()) or '—'}"
        + ("; cliproxy from a user-like install (bench/.product-venv)." if plan.product_install
           else "; cliproxy from the development venv.")
        + (f" {plan.client_keys} client keys with limits configured." if plan.client_keys else "")
        + " " + _state(plan, outcome),
        f"Command: `{command}`",
    ]
    parts += [f"- {note}" for note in outcome.notes]
    return "\n".join(parts) + "\n"


def _state(plan: Plan, outcome: Outcome) -> str:
    """Which state backend each cliproxy ran on: the figures of one do not stand for the other."""
    said = []
    for state in plan.states:
        name = cliproxy_target(state)
        if state == "embedded":
            said.append(f"{name}: embedded (one process, its own memory)")
        elif version := outcome.versions.get("redis"):
            said.append(f"{name}: redis (redis-server {version} on loopback, started by this run, nothing saved "
                        "to disk; on the load generator's core)")
        else:
            said.append(f"{name}: redis (redis-server did not start)")
    return "State: " + "; ".join(said) + "."


def to_json(outcome: Outcome, plan: Plan, command: str) -> dict[str, Any]:
    return {
        "command": command,
        "machine": machine(),
        "plan": {"reps": plan.reps, "delta_count": plan.delta_count, "pinned": outcome.pinned,
                 "client_keys": plan.client_keys, "states": list(plan.states),
                 "profiles": [{"name": p.name, "inter_delay": p.inter_delay, "levels": p.levels}
                              for p in plan.profiles]},
        "versions": outcome.versions,
        "skipped": outcome.skipped,
        "notes": outcome.notes,
        "rss_start_bytes": outcome.rss_start,
        "rss_idle_bytes": outcome.rss_idle,
        "records": outcome.records,
        "table": table(outcome, plan),
    }
