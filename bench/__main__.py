"""``python -m bench``: run the benchmark and write a markdown table and JSON under bench/results/.

Exit status: 0 when every response matched its expected content, 1 otherwise, 2 when a target
that the run cannot do without (the fake, or cliproxy in smoke mode) did not start.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import orjson

from .plan import FULL, SMOKE, Plan, scaled
from .report import markdown, to_json
from .runner import run_plan
from .targets import REPO
from .wire import DIALECTS

TARGETS = ("direct", "nginx", "cliproxy")
STATES = ("embedded", "redis")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="a few requests, direct and cliproxy, no pinning")
    p.add_argument("--targets", help=f"comma list of {','.join(TARGETS)}")
    p.add_argument("--dialects", help=f"comma list of {','.join(DIALECTS)}")
    p.add_argument("--profiles", help="comma list of burst,paced")
    p.add_argument("--reps", type=int, help="repetitions (default 3; smoke 1)")
    p.add_argument("--deltas", type=int, help="text deltas per stream (default 200)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every level's request count")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    p.add_argument("--no-install", action="store_true", help="never apt-get install nginx")
    p.add_argument("--dev-venv", action="store_true",
                   help="run cliproxy from .venv (with the test extras) instead of a user-like install")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="results directory")
    p.add_argument("--profile-server", metavar="DIALECT",
                   help="instead of the table: py-spy profile of cliproxy under burst load in DIALECT")
    p.add_argument("--seconds", type=float, default=20.0, help="with --profile-server: how long")
    p.add_argument("--concurrency", type=int, default=50, help="with --profile-server: streams at once")
    p.add_argument("--client-keys", type=int, default=int(os.environ.get("BENCH_CLIENT_KEYS") or 0),
                   help="configure this many client keys with limits (default: $BENCH_CLIENT_KEYS or none)")
    p.add_argument("--state", default=os.environ.get("BENCH_STATE") or "embedded",
                   help="cliproxy's state backend: embedded, redis (on a redis-server this run starts), or "
                        "embedded,redis for one cliproxy on each, measured in turn (default: $BENCH_STATE or embedded)")
    p.add_argument("--first-delay-ms", type=float, default=0.0, help="fake's delay before the first event")
    p.add_argument("--socket-session", action="store_true",
                   help="instead of the table: a tool session over WebSocket and over HTTP (bytes upstream and "
                        "added time per turn); --reps sets its repetitions (default 3)")
    p.add_argument("--turns", type=int, default=20, help="with --socket-session: turns per session")
    return p


def _csv(value: str | None, allowed: tuple[str, ...], default: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        return default
    chosen = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [v for v in chosen if v not in allowed]
    if bad:
        raise SystemExit(f"unknown value(s) {', '.join(bad)}; choose from {', '.join(allowed)}")
    return chosen


def build_plan(args: argparse.Namespace) -> Plan:
    states = _csv(args.state, STATES, ("embedded",))
    plan = SMOKE if args.smoke else FULL
    profiles = _csv(args.profiles, tuple(p.name for p in plan.profiles), tuple(p.name for p in plan.profiles))
    plan = replace(
        plan,
        targets=_csv(args.targets, TARGETS, plan.targets),
        dialects=_csv(args.dialects, DIALECTS, plan.dialects),
        profiles=tuple(replace(p, first_delay=args.first_delay_ms / 1e3)
                       for p in plan.profiles if p.name in profiles),
        reps=args.reps or plan.reps,
        delta_count=args.deltas or plan.delta_count,
        pin=plan.pin and not args.no_pin,
        install=plan.install and not args.no_install,
        product_install=plan.product_install and not args.dev_venv,
        client_keys=max(0, args.client_keys),
        states=tuple(dict.fromkeys(states)),
    )
    return scaled(plan, args.scale) if args.scale != 1.0 else plan


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.profile_server:
        from .profile import profile_server

        return profile_server(args.profile_server, args.seconds, args.out, pin=not args.no_pin,
                              concurrency=args.concurrency, deltas=args.deltas or 200)
    if args.socket_session:
        from .socket_session import main as socket_session

        return socket_session(args.turns, args.reps or 3, args.out)
    plan = build_plan(args)
    outcome = run_plan(plan)
    text = markdown(outcome, plan, command.strip())
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + ("-smoke" if args.smoke else "")
    (args.out / f"{stamp}.md").write_text(text)
    (args.out / f"{stamp}.json").write_bytes(
        orjson.dumps(to_json(outcome, plan, command.strip()), option=orjson.OPT_INDENT_2)
    )
    sys.stdout.write(text + f"\nResults: {args.out / stamp}.md and .json\n")
    if args.smoke and "cliproxy" in plan.targets and any(name in outcome.skipped for name in plan.servers()):
        return 2
    failed = sum(r["failed"] for r in outcome.records)
    return 1 if failed or not outcome.records else 0


if __name__ == "__main__":
    raise SystemExit(main())
