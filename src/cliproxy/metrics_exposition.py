"""A scrape of ``Metrics`` in Prometheus' text format, written by ``prometheus_client``.

Separate from ``metrics.py`` so that the library is imported on the first scrape, not by every
server that counts requests.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from .metrics import ACCOUNT_STATES, Counter, Gauge, Histogram, Metrics


def _counter(counter: Counter) -> Metric:
    family = CounterMetricFamily(counter.name, counter.help, labels=counter.labels)
    for labels, value in counter.values.items():
        family.add_metric(labels, value, created=counter.created[labels])
    return family


def _histogram(histogram: Histogram) -> Metric:
    family = HistogramMetricFamily(histogram.name, histogram.help, labels=histogram.labels)
    bounds = [repr(bound) for bound in histogram.bounds] + ["+Inf"]  # as floatToGoString, below 1e6
    for labels, counts in histogram.counts.items():
        cumulative, total = [], 0
        for bound, count in zip(bounds, counts, strict=True):
            total += count
            cumulative.append((bound, float(total)))
        family.add_metric(labels, cumulative, histogram.sums[labels])
        named = dict(zip(histogram.labels, labels, strict=True))
        family.samples.append(Sample(histogram.name + "_created", named, histogram.created[labels]))
    return family


def _gauge(gauge: Gauge) -> Metric:
    return GaugeMetricFamily(gauge.name, gauge.help, value=gauge.value)


class _Scrape(Collector):
    """Every family of one ``Metrics``, in the order the previous prometheus objects were registered."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        yield from (_counter(m.requests), _counter(m.errors), _counter(m.tokens))
        yield from (_histogram(m.ttft), _histogram(m.duration), _gauge(m.active_streams))
        accounts = GaugeMetricFamily("cliproxy_accounts", "Accounts by state.", labels=["state"])
        counts = m.account_states()
        for state in ACCOUNT_STATES:
            accounts.add_metric([state], counts.get(state, 0))
        yield accounts


def render(metrics: Metrics) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(metrics))
    return generate_latest(registry)
