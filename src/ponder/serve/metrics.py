"""``GET /metrics``: the server's counters, gauges and histograms, through ``prometheus-client``.

Each ``Server`` has a registry of its own (tests run several in one process). Responses are
counted by route and status and timed from the request's arrival to the end of its body; a
streamed answer's time to its first reasoning delta has a histogram of its own, the latency a
user watching the reasoning feels. The scheduler's figures are read when the page is scraped.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
FIRST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

SCHEDULER = (
    ("ponder_tokens_generated", "counter", "completion_tokens", "Tokens the policy generated."),
    ("ponder_generate_calls", "counter", "generate_calls", "Batched policy calls."),
    ("ponder_batched_prompts", "counter", "batched_prompts",
     "Prompts sent in those calls (divide by the calls for the mean batch size)."),
    ("ponder_batched_requests", "counter", "batched_jobs",
     "Requests served by those calls, summed over calls (requests per batch on average, likewise)."),
    ("ponder_searches_cancelled", "counter", "cancelled", "Requests dropped: the client left."),
    ("ponder_searches_timed_out", "counter", "timed_out", "Requests dropped: out of time."),
    ("ponder_requests_shed", "counter", "shed",
     "Queued requests turned away (429) when the forecast said they could not end in time."),
)
"""The scheduler's counters: exported name, kind, key in ``Scheduler.metrics``, help."""


class SchedulerFigures:
    """A collector that reads the scheduler's figures at each scrape."""

    def __init__(self, scheduler):
        self.scheduler = scheduler

    def collect(self):
        active, waiting = self.scheduler.load
        yield GaugeMetricFamily("ponder_requests_active", "Requests whose searches are running.", value=active)
        yield GaugeMetricFamily("ponder_requests_queued", "Requests waiting for a place in the batch.", value=waiting)
        figures = self.scheduler.metrics
        for name, _, key, help_ in SCHEDULER:
            yield CounterMetricFamily(name, help_, value=figures[key])


class Metrics:
    """One server's registry: responses by route and status, their latency, time to first reasoning."""

    def __init__(self, scheduler):
        self.registry = CollectorRegistry()
        self.responses = Counter("ponder_requests", "Responses by route and HTTP status.", ["route", "status"],
                                 registry=self.registry)
        self.latency = Histogram("ponder_request_seconds", "Seconds from a request's arrival to the end of its "
                                 "response, by route.", ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.first_reasoning = Histogram("ponder_first_reasoning_seconds", "Seconds from a streamed request's "
                                         "arrival to its first reasoning delta, by route.", ["route"],
                                         buckets=FIRST_BUCKETS, registry=self.registry)
        self.registry.register(SchedulerFigures(scheduler))

    def page(self) -> bytes:
        """The text exposition format, as Prometheus scrapes it."""
        return generate_latest(self.registry)


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

__all__ = ["CONTENT_TYPE", "Metrics"]
