"""One benchmark run: start the servers, measure every level of every run, interleaved, and stop.

Order: for each repetition, profile and level, every run (column) once, the order rotated per
repetition so no target always goes first. "Added" figures are computed later against direct in
the same repetition, profile and level. Every process started here is stopped in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .loadgen import Level, post_json, run_level
from .plan import Plan, Profile, Run, target_state
from .targets import (
    HOST,
    Server,
    TargetError,
    client_keys_config,
    ensure_nginx,
    pin_self,
    start_cliproxy,
    start_fake,
    start_nginx,
    start_redis,
    state_config,
)
from .wire import WIRES

RSS_SAMPLE_SECONDS = 0.05


@dataclass
class Outcome:
    """Everything a run produced: per-level records, idle RSS, skipped columns and notes."""

    records: list[dict[str, Any]] = field(default_factory=list)
    rss_idle: dict[str, int] = field(default_factory=dict)
    rss_start: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    pinned: bool = False
    runs: list[Run] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    ordered = sorted(v for v in values if not math.isnan(v))
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Runner:
    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan = plan
        self.workdir = workdir
        self.servers: dict[str, Server] = {}
        self.fake: Server | None = None
        self.outcome = Outcome()
        self.seed = 0

    async def run(self) -> Outcome:
        try:
            await self._start()
            await self._probe_and_warm()
            for rep in range(self.plan.reps):
                for profile in self.plan.profiles:
                    await self._set_profile(profile)
                    for concurrency, requests in profile.levels:
                        for run in _rotated(self.outcome.runs, rep):
                            await self._measure(run, profile, rep, concurrency, requests)
        finally:
            self._stop()
        return self.outcome

    # --- start-up ------------------------------------------------------------------------

    async def _start(self) -> None:
        plan, out = self.plan, self.outcome
        self.fake = start_fake(plan.pin)
        out.pinned = pin_self(plan.pin)
        if plan.pin and not out.pinned:
            out.notes.append("not pinned: fewer than 2 cores")
        for target in plan.servers():
            try:
                self.servers[target] = await self._start_target(target)
            except (TargetError, OSError) as exc:
                out.skipped[target] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                out.notes.append(f"{target} skipped: {exc}")
        for name, server in self.servers.items():
            out.versions[name] = server.version
            if server.meter:
                out.rss_start[name] = server.meter.rss()

    async def _start_target(self, target: str) -> Server:
        assert self.fake is not None
        if target == "nginx":
            binary, note = ensure_nginx(self.plan.install)
            if binary is None:
                raise TargetError(note)
            if note:
                self.outcome.notes.append(note)
            return await start_nginx(binary, self.fake.port, self.workdir, self.plan.pin)
        if target.startswith("cliproxy"):
            return await self._start_cliproxy(target)
        raise TargetError(f"unknown target {target}")

    async def _start_cliproxy(self, target: str) -> Server:
        """cliproxy on the state backend its name says, in a directory of its own (config, accounts)."""
        assert self.fake is not None
        extra = client_keys_config(self.plan.client_keys)
        shared = target_state(target) == "redis"
        if shared:
            extra += state_config((await self._redis()).extra["url"])
        workdir = self.workdir / target
        server = await start_cliproxy(self.fake.port, workdir, self.plan.pin, self.plan.product_install,
                                      config_extra=extra, name=target)
        if shared:
            await _check_shared(server)
        return server

    async def _redis(self) -> Server:
        """The run's redis-server, started on first need."""
        if "redis" not in self.servers:
            self.servers["redis"] = await start_redis(self.workdir, self.plan.pin)
        return self.servers["redis"]

    async def _probe_and_warm(self) -> None:
        """One request per column (404 → column skipped), then warm-up, then idle RSS."""
        await self._set_profile(self.plan.profiles[0])
        for run in self.plan.runs():
            if run.target in self.outcome.skipped:
                self.outcome.skipped[run.label] = self.outcome.skipped[run.target]
                continue
            level = await self._level(run, 1, 1)
            result = level.results[0]
            if result.status == 404:
                self._skip(run, f"{WIRES[run.wire].path} answered 404 (route not served yet)")
            elif result.status != 200:
                self._skip(run, f"probe failed: {result.error[:200]}")
            else:
                if not result.ok:
                    self.outcome.notes.append(f"{run.label}: probe content check failed: {result.error}")
                self.outcome.runs.append(run)
                await self._level(run, self.plan.warmup, min(10, self.plan.warmup))
        await asyncio.sleep(0.5)
        for name, server in self.servers.items():
            if server.meter:
                self.outcome.rss_idle[name] = server.meter.rss()

    def _skip(self, run: Run, why: str) -> None:
        self.outcome.skipped[run.label] = why
        self.outcome.notes.append(f"{run.label} skipped: {why}")

    async def _set_profile(self, profile: Profile) -> None:
        assert self.fake is not None
        body = orjson.dumps({"delta_count": self.plan.delta_count, "first_delay": profile.first_delay,
                             "inter_delay": profile.inter_delay})
        status, _ = await post_json(HOST, self.fake.port, "/_bench/profile", body)
        if status != 200:
            raise TargetError(f"the fake refused the profile ({status})")

    # --- measuring -------------------------------------------------------------------------

    async def _level(self, run: Run, requests: int, concurrency: int) -> Level:
        port = self._port(run)
        first, self.seed = self.seed, self.seed + requests
        return await run_level(HOST, port, WIRES[run.wire], requests=requests, concurrency=concurrency,
                               delta_count=self.plan.delta_count, first_seed=first)

    def _port(self, run: Run) -> int:
        if run.target == "direct":
            assert self.fake is not None
            return self.fake.port
        return self.servers[run.target].port

    async def _measure(self, run: Run, profile: Profile, rep: int, concurrency: int, requests: int) -> None:
        server = self.servers.get(run.target)
        meter = server.meter if server else None
        upstream_before = await self._fake_events()
        cpu_before = meter.cpu() if meter else 0.0
        sampler = asyncio.create_task(_sample_rss(server)) if server else None
        level = await self._level(run, requests, concurrency)
        cpu = (meter.cpu() - cpu_before) if meter else math.nan
        rss_max = 0
        if sampler is not None:
            sampler.cancel()
            rss_max = await sampler
        upstream = await self._fake_events() - upstream_before
        self.outcome.records.append(
            _record(run, profile, rep, concurrency, level, cpu, upstream, rss_max)
        )

    async def _fake_events(self) -> int:
        assert self.fake is not None
        _, body = await post_json(HOST, self.fake.port, "/_bench/stats", b"")
        return int(orjson.loads(body)["events"])

    def _stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        if self.fake is not None:
            self.fake.stop()


async def _check_shared(server: Server) -> None:
    """cliproxy says on ``/healthz`` that it runs on Redis and reaches it; else the column would
    measure the embedded state under the redis label."""
    _, body = await post_json(HOST, server.port, "/healthz", b"")
    state = orjson.loads(body).get("state") or {}
    if state.get("backend") != "redis" or not state.get("connected"):
        server.stop()
        raise TargetError(f"cliproxy is not on the run's Redis (its /healthz says {state or 'embedded'})")


async def _sample_rss(server: Server) -> int:
    """Sample the server's RSS until cancelled; return the highest value seen."""
    peak = 0
    meter = server.meter
    if meter is None:
        return 0
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            peak = max(peak, meter.rss())
            await asyncio.sleep(RSS_SAMPLE_SECONDS)
    return max(peak, meter.rss())


def _rotated(runs: list[Run], rep: int) -> list[Run]:
    if not runs:
        return runs
    shift = rep % len(runs)
    return runs[shift:] + runs[:shift]


def _record(run: Run, profile: Profile, rep: int, concurrency: int, level: Level, cpu: float,
            upstream_events: int, rss_max: int) -> dict[str, Any]:
    results = level.results
    failed = [r for r in results if not r.ok]
    content_events = sum(r.content_events for r in results)
    return {
        "run": run.label, "target": run.target, "wire": run.wire, "profile": profile.name,
        "rep": rep, "concurrency": concurrency, "requests": len(results),
        "ok": len(results) - len(failed), "failed": len(failed),
        "errors": sorted({r.error for r in failed})[:3],
        "ttft_p50_ms": percentile([r.ttft for r in results], 0.50) * 1e3,
        "ttft_p99_ms": percentile([r.ttft for r in results], 0.99) * 1e3,
        "total_p50_ms": percentile([r.total for r in results], 0.50) * 1e3,
        "total_p99_ms": percentile([r.total for r in results], 0.99) * 1e3,
        "wall_s": level.wall,
        "content_events": content_events,
        "content_events_per_s": content_events / level.wall if level.wall > 0 else math.nan,
        "upstream_events": upstream_events,
        "server_cpu_s": cpu,
        "rss_max_bytes": rss_max,
    }


def run_plan(plan: Plan, workdir: Path | None = None) -> Outcome:
    """Run a plan to completion in a fresh event loop (uvloop when available)."""
    from .fake_upstream import install_fast_loop

    install_fast_loop()
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cliproxy-bench-")))
        started = time.monotonic()
        outcome = asyncio.run(Runner(plan, workdir).run())
        outcome.notes.append(f"run took {time.monotonic() - started:.0f} s")
        return outcome
