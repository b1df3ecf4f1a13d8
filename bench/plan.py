"""What one benchmark run measures: targets, wire formats, profiles, levels, repetitions.

The full plan uses the method of the peers' table, so figures compare with it: burst (no delay,
200 requests at concurrency 1, 10, 50) and paced (5 ms before each delta, 10/50/100 requests at
1/10/50), 200 deltas per stream, 3 repetitions. The smoke plan is a few requests, direct and
cliproxy only, no pinning and nothing installed, so it can run inside the test suite.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .wire import DIALECTS


@dataclass(frozen=True)
class Profile:
    """How the fake paces streams and which (concurrency, requests) levels are run."""

    name: str
    inter_delay: float
    levels: tuple[tuple[int, int], ...]
    first_delay: float = 0.0


@dataclass(frozen=True)
class Run:
    """One column of the table: a server reached in one wire format."""

    target: str  # direct | nginx | cliproxy | cliproxy-redis
    wire: str  # codex | chat | responses | anthropic

    @property
    def label(self) -> str:
        return f"{self.target} {self.wire}" if self.target.startswith("cliproxy") else self.target


def cliproxy_target(state: str) -> str:
    """The server name of cliproxy on one state backend: plain ``cliproxy`` on the default one, so
    a run on the embedded state reads as it always has, ``cliproxy-redis`` beside it."""
    return "cliproxy" if state == "embedded" else f"cliproxy-{state}"


def target_state(target: str) -> str:
    """The state backend a cliproxy server name stands for (the inverse of ``cliproxy_target``)."""
    return target.removeprefix("cliproxy-") if target.startswith("cliproxy-") else "embedded"


@dataclass(frozen=True)
class Plan:
    targets: tuple[str, ...]
    dialects: tuple[str, ...]
    profiles: tuple[Profile, ...]
    reps: int
    delta_count: int
    pin: bool
    install: bool
    warmup: int
    # cliproxy as a user installs it (``pip install .`` in its own venv, no test or dev extras),
    # not the development venv: what it loads, and so its memory, is what users get.
    product_install: bool = False
    # Client keys in cliproxy's config (``--client-keys``): the benchmark's own key is one of them,
    # with a request and a token limit it never reaches, so every request is matched, reserved and settled.
    client_keys: int = 0
    # Where cliproxy keeps the pool's shared facts (``--state``): ``embedded`` (its memory, the default)
    # and/or ``redis`` (a redis-server the run starts on loopback, as several instances would share).
    # With both, one cliproxy runs on each and their columns are measured in turn within every
    # repetition, so the two are compared under the same conditions, not across separate runs.
    states: tuple[str, ...] = ("embedded",)

    def servers(self) -> list[str]:
        """The servers this plan starts, by name: cliproxy once per state backend."""
        names: list[str] = []
        for target in self.targets:
            if target == "cliproxy":
                names += [cliproxy_target(state) for state in self.states]
            elif target != "direct":
                names.append(target)
        return names

    def runs(self) -> list[Run]:
        runs: list[Run] = []
        for target in self.targets:
            if target == "cliproxy":
                runs += [Run(cliproxy_target(state), d) for d in self.dialects for state in self.states]
            else:
                runs.append(Run(target, "codex"))
        return runs


BURST = Profile("burst", 0.0, ((1, 200), (10, 200), (50, 200)))
PACED = Profile("paced", 0.005, ((1, 10), (10, 50), (50, 100)))

FULL = Plan(
    targets=("direct", "nginx", "cliproxy"),
    dialects=DIALECTS,
    profiles=(BURST, PACED),
    reps=3,
    delta_count=200,
    pin=True,
    install=True,
    warmup=20,
    product_install=True,
)

SMOKE = Plan(
    targets=("direct", "cliproxy"),
    dialects=DIALECTS,
    profiles=(Profile("burst", 0.0, ((1, 3), (4, 8))),),
    reps=1,
    delta_count=200,
    pin=False,
    install=False,
    warmup=1,
)


def scaled(plan: Plan, factor: float) -> Plan:
    """The same plan with request counts scaled (at least one request per level)."""
    profiles = tuple(
        replace(p, levels=tuple((c, max(1, round(n * factor))) for c, n in p.levels)) for p in plan.profiles
    )
    return replace(plan, profiles=profiles)
