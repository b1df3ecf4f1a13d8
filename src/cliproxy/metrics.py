"""Prometheus metrics for ``GET /metrics``: requests, errors by class, time to first token, active
streams and account states.

Each server has its own ``Metrics`` (no process-global state, so tests and several apps in one
process do not mix). Counters move once per finished request, never per streamed event. Account
states are read from the pool when scraped, not tracked.

Counting is plain dicts; ``prometheus_client`` is imported only to render a scrape
(``metrics_exposition.py``), so a server whose metrics are never read does not load it (~1 MiB).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # prometheus_client's CONTENT_TYPE_PLAIN_0_0_4
TTFT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
DURATION_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
ACCOUNT_STATES = ("available", "cooling", "quota", "disabled", "needs-login")

AccountStates = Callable[[], Mapping[str, int]]
Labels = tuple[str, ...]


@dataclass
class Counter:
    """A counter per label values, with the time each label set was first seen (``_created``)."""

    name: str
    help: str
    labels: Labels
    values: dict[Labels, float] = field(default_factory=dict)
    created: dict[Labels, float] = field(default_factory=dict)

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        if labels not in self.values:
            self.values[labels] = 0.0
            self.created[labels] = time.time()
        self.values[labels] += amount


@dataclass
class Histogram:
    """Observations per label values: a count per bucket (not cumulative; +Inf last) and a sum."""

    name: str
    help: str
    labels: Labels
    bounds: tuple[float, ...]
    counts: dict[Labels, list[int]] = field(default_factory=dict)
    sums: dict[Labels, float] = field(default_factory=dict)
    created: dict[Labels, float] = field(default_factory=dict)

    def observe(self, labels: Labels, amount: float) -> None:
        counts = self.counts.get(labels)
        if counts is None:
            counts = self.counts[labels] = [0] * (len(self.bounds) + 1)
            self.sums[labels] = 0.0
            self.created[labels] = time.time()
        counts[bisect_left(self.bounds, amount)] += 1  # le: amount <= bound
        self.sums[labels] += amount


@dataclass
class Gauge:
    """A value that goes up and down, read when scraped."""

    name: str
    help: str
    value: float = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount


class Metrics:
    def __init__(self, account_states: AccountStates = dict) -> None:
        self.account_states = account_states
        self.requests = Counter("cliproxy_requests", "Finished client requests.", ("dialect", "model", "status"))
        self.errors = Counter("cliproxy_request_errors", "Failed client requests by error class.", ("error",))
        self.tokens = Counter("cliproxy_tokens", "Tokens reported by the upstream.", ("kind",))
        self.ttft = Histogram("cliproxy_time_to_first_token_seconds",
                              "Seconds from request to the first streamed output byte.", ("dialect",),
                              TTFT_BUCKETS)
        self.duration = Histogram("cliproxy_request_duration_seconds", "Seconds from request to the end.",
                                  ("dialect",), DURATION_BUCKETS)
        self.active_streams = Gauge("cliproxy_active_streams", "Streams being sent to clients now.")

    def observe(self, *, dialect: str, model: str, status: int, error: str, ttft: float | None,
                duration: float, tokens: tuple[int, int, int, int]) -> None:
        """One finished request. ``tokens`` = (input, cached, output, reasoning)."""
        self.requests.inc((dialect, model or "unknown", str(status)))
        if error:
            self.errors.inc((error,))
        if ttft is not None:
            self.ttft.observe((dialect,), ttft)
        self.duration.observe((dialect,), duration)
        for kind, count in zip(("input", "cached", "output", "reasoning"), tokens, strict=True):
            if count:
                self.tokens.inc((kind,), count)

    def render(self) -> bytes:
        """The text exposition format, as ``prometheus_client.generate_latest`` writes it."""
        from .metrics_exposition import render

        return render(self)


__all__ = ["ACCOUNT_STATES", "CONTENT_TYPE", "Metrics"]
