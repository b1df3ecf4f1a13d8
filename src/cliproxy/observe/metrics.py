"""Prometheus metrics for ``GET /metrics``: requests, errors by class, time to first token, active
streams and account states.

Each server has its own registry (no process-global state, so tests and several apps in one process
do not mix). Counters move once per finished request, never per streamed event. Account states are
read from the pool when scraped, not tracked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
TTFT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
DURATION_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
ACCOUNT_STATES = ("available", "cooling", "quota", "disabled", "needs-login")

AccountStates = Callable[[], Mapping[str, int]]


class _Accounts(Collector):
    """``cliproxy_accounts{state=...}`` computed at scrape time."""

    def __init__(self, states: AccountStates) -> None:
        self._states = states

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("cliproxy_accounts", "Accounts by state.", labels=["state"])
        counts = self._states()
        for state in ACCOUNT_STATES:
            family.add_metric([state], counts.get(state, 0))
        yield family


class Metrics:
    def __init__(self, account_states: AccountStates = dict) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter("cliproxy_requests", "Finished client requests.",
                                ["dialect", "model", "status"], registry=self.registry)
        self.errors = Counter("cliproxy_request_errors", "Failed client requests by error class.",
                              ["error"], registry=self.registry)
        self.tokens = Counter("cliproxy_tokens", "Tokens reported by the upstream.", ["kind"],
                              registry=self.registry)
        self.ttft = Histogram("cliproxy_time_to_first_token_seconds",
                              "Seconds from request to the first streamed output byte.", ["dialect"],
                              buckets=TTFT_BUCKETS, registry=self.registry)
        self.duration = Histogram("cliproxy_request_duration_seconds", "Seconds from request to the end.",
                                  ["dialect"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.active_streams = Gauge("cliproxy_active_streams", "Streams being sent to clients now.",
                                    registry=self.registry)
        self.registry.register(_Accounts(account_states))

    def observe(self, *, dialect: str, model: str, status: int, error: str, ttft: float | None,
                duration: float, tokens: tuple[int, int, int, int]) -> None:
        """One finished request. ``tokens`` = (input, cached, output, reasoning)."""
        self.requests.labels(dialect, model or "unknown", str(status)).inc()
        if error:
            self.errors.labels(error).inc()
        if ttft is not None:
            self.ttft.labels(dialect).observe(ttft)
        self.duration.labels(dialect).observe(duration)
        for kind, count in zip(("input", "cached", "output", "reasoning"), tokens, strict=True):
            if count:
                self.tokens.labels(kind).inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)


__all__ = ["ACCOUNT_STATES", "CONTENT_TYPE", "Metrics"]
