"""Prometheus metrics of the engine, served over HTTP.

Names follow Prometheus conventions (``_total`` counters, base units: seconds,
bytes); label values come from small fixed sets (sources, outcomes, reason codes,
alert kinds, priorities, state kinds) or from the deployment's configuration (list
names, topics and their partitions, librdkafka error names), never from plates or
ids, so the series count stays bounded. docs/metrics.md describes every metric;
``tests/test_metrics_exposition.py`` lints the exposition with ``promtool``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from sisec_stream.engine import ALERT_KINDS, EVENT_TYPES, REJECT_REASONS, Alert, BatchResult
from sisec_stream.incidents import IncidentState, StateSize

__all__ = [
    "BATCH_BUCKETS",
    "EVENT_TO_ALERT_BUCKETS",
    "STATE_KINDS",
    "UNKNOWN_SOURCE",
    "WATCHLIST_ACTIONS",
    "EngineMetrics",
    "MetricsServer",
]

#: Source label of rejects whose event type could not be read.
UNKNOWN_SOURCE = "unknown"

#: ``action`` labels of ``sisec_watchlist_updates_total``.
WATCHLIST_ACTIONS = ("upsert", "remove", "invalid")

#: ``kind`` labels of ``sisec_incident_state_entries``: open plate incidents,
#: supervised devices, open call incidents.
STATE_KINDS = ("plates", "devices", "calls")

#: Buckets of ``sisec_batch_duration_seconds``: 100 us to 2.5 s.
BATCH_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)

#: Buckets of ``sisec_event_to_alert_seconds``: 1 ms to 60 s for a live stream,
#: then 5 min, 1 h, 1 day and 1 week for backlogs and replays of old captures.
EVENT_TO_ALERT_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    3600.0,
    86400.0,
    604800.0,
)


@dataclass
class MetricsServer:
    """A running metrics HTTP endpoint; :meth:`close` stops it."""

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        """The scrape URL."""
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and wait for the server thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class EngineMetrics:
    """The engine's counters, on a registry of their own (several engines, or
    tests, can coexist in one process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "sisec_events",
            "Events received, by source (event type) and outcome (accepted or rejected).",
            ["source", "outcome"],
            registry=r,
        )
        self.rejects = Counter(
            "sisec_rejects", "Rejected events by reason code.", ["reason"], registry=r
        )
        self.alerts = Counter(
            "sisec_alerts",
            "Alerts paged (update 0), by kind and priority (1 = most urgent); updates of "
            "paged alerts are counted in sisec_alert_updates_total.",
            ["kind", "priority"],
            registry=r,
        )
        self.alert_updates = Counter(
            "sisec_alert_updates",
            "Alert updates emitted (update > 0), by kind: the suppressed duplicate pages "
            "(sisec_suppressed_duplicates_total) plus the corroborations that promote a "
            "weak plate hit.",
            ["kind"],
            registry=r,
        )
        self.suppressed = Counter(
            "sisec_suppressed_duplicates",
            "Suppressed duplicate pages, by alert kind: events that joined an open "
            "incident (a repeat sighting, press or call) and updated its alert instead of "
            "paging again.",
            ["kind"],
            registry=r,
        )
        self.event_to_alert = Histogram(
            "sisec_event_to_alert_seconds",
            "Wall-clock time when the incident stage emitted an alert (page or update) "
            "minus its source event time, by kind; an event time ahead of this clock "
            "counts as 0 (see sisec_alert_event_time_ahead_total).",
            ["kind"],
            buckets=EVENT_TO_ALERT_BUCKETS,
            registry=r,
        )
        self.event_time_ahead = Counter(
            "sisec_alert_event_time_ahead",
            "Alerts whose source event time was later than this process's clock when "
            "they were emitted (a sensor clock running fast), by kind.",
            ["kind"],
            registry=r,
        )
        self.state_bytes = Gauge(
            "sisec_incident_state_bytes",
            "Memory held by the incident state of the shards this process holds.",
            registry=r,
        )
        self.state_entries = Gauge(
            "sisec_incident_state_entries",
            "Entries of the incident state of the shards this process holds: open plate "
            "incidents (plates), supervised devices (devices), open call incidents (calls).",
            ["kind"],
            registry=r,
        )
        self.state_shards = Gauge(
            "sisec_incident_shards",
            "Incident shards (Bytewax keys) this process holds.",
            registry=r,
        )
        self.batches = Counter("sisec_batches", "Batches processed by the engine.", registry=r)
        self.batch_seconds = Histogram(
            "sisec_batch_duration_seconds",
            "Time the engine spent on one batch.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.watchlist_entries = Gauge(
            "sisec_watchlist_entries", "Watchlist entries loaded, by list.", ["list"], registry=r
        )
        self.watchlist_memory = Gauge(
            "sisec_watchlist_memory_bytes",
            "Memory held by the watchlist's entries and indexes.",
            registry=r,
        )
        self.watchlist_updates = Counter(
            "sisec_watchlist_updates",
            "Messages from the watchlist topic: applied upserts, applied removals "
            "(tombstones), and invalid messages skipped.",
            ["action"],
            registry=r,
        )
        self.watchlist_reloads = Counter(
            "sisec_watchlist_reloads",
            "Reloads of the watchlist file after it changed: ok, or failed (the previous "
            "list stays).",
            ["outcome"],
            registry=r,
        )
        self.dropped_hits = Counter(
            "sisec_hits_dropped_by_zone",
            "Watchlist hits not alerted because of where they happened: a zone that takes "
            "other lists, or outside the list's geofence.",
            registry=r,
        )
        self.places_reloads = Counter(
            "sisec_places_reloads",
            "Reloads of the zones and registry files after they changed: ok, or failed "
            "(the previous ones stay).",
            ["outcome"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "sisec_consumer_lag_messages",
            "Messages in a topic-partition not yet read by this process (high watermark "
            "minus next offset, as of the last fetch); only partitions this process reads.",
            ["topic", "partition"],
            registry=r,
        )
        self.produced = Counter(
            "sisec_produced_messages",
            "Messages the broker acknowledged, by topic.",
            ["topic"],
            registry=r,
        )
        self.delivery_failures = Counter(
            "sisec_delivery_failures",
            "Messages the broker did not acknowledge after the client's retries, by topic "
            "and librdkafka error name.",
            ["topic", "error"],
            registry=r,
        )
        # Create every bounded series up front so dashboards see zeros, not gaps.
        for source in (*EVENT_TYPES, UNKNOWN_SOURCE):
            for outcome in ("accepted", "rejected"):
                if source == UNKNOWN_SOURCE and outcome == "accepted":
                    continue
                self.events.labels(source, outcome)
        for reason in REJECT_REASONS:
            self.rejects.labels(reason)
        for kind in ALERT_KINDS:
            self.alert_updates.labels(kind)
            self.suppressed.labels(kind)
            self.event_to_alert.labels(kind)
            self.event_time_ahead.labels(kind)
            for priority in range(1, 5):
                self.alerts.labels(kind, str(priority))
        for action in WATCHLIST_ACTIONS:
            self.watchlist_updates.labels(action)
        for outcome in ("ok", "failed"):
            self.watchlist_reloads.labels(outcome)
            self.places_reloads.labels(outcome)
        self._lock = threading.Lock()
        self._lists: set[str] = set()
        # The size of each shard this process holds, keyed by its state (a shard's
        # state object lives as long as the flow holds the shard).
        self._shards: dict[IncidentState, StateSize] = {}
        self.state_bytes.set_function(lambda: self._state_total().bytes)
        self.state_entries.labels("plates").set_function(lambda: self._state_total().plates)
        self.state_entries.labels("devices").set_function(lambda: self._state_total().devices)
        self.state_entries.labels("calls").set_function(lambda: self._state_total().calls)
        self.state_shards.set_function(lambda: len(self._shards))

    def observe(self, result: BatchResult, seconds: float) -> None:
        """Count one processed batch."""
        with self._lock:
            self.batches.inc()
            self.batch_seconds.observe(seconds)
            for source, n in result.accepted_by_source.items():
                if n:
                    self.events.labels(source, "accepted").inc(n)
            for reject in result.rejects:
                self.events.labels(reject.source or UNKNOWN_SOURCE, "rejected").inc()
                self.rejects.labels(reject.reason).inc()
            self._count_alerts(result.alerts)
            if result.dropped_hits:
                self.dropped_hits.inc(result.dropped_hits)

    def observe_alerts(self, alerts: list[Alert], now_ms: int | None = None) -> None:
        """Count what the incident stage emitted: pages by kind and priority, updates
        and suppressed duplicates by kind, and each alert's event-to-alert latency
        (``now_ms``, default this process's clock, minus the alert's event time)."""
        if not alerts:
            return
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        with self._lock:
            self._count_alerts(alerts)
            for alert in alerts:
                delay_ms = now - alert.event_time_ms
                if delay_ms < 0:
                    self.event_time_ahead.labels(alert.kind).inc()
                    delay_ms = 0
                self.event_to_alert.labels(alert.kind).observe(delay_ms / 1000)

    def _count_alerts(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            if alert.update:
                self.alert_updates.labels(alert.kind).inc()
                if not alert.corroboration:
                    self.suppressed.labels(alert.kind).inc()
            else:
                self.alerts.labels(alert.kind, str(alert.priority)).inc()

    def set_incident_state(self, shard: IncidentState, size: StateSize | None = None) -> None:
        """Publish one shard's state size (``size``, default ``shard.size()``);
        the gauges show the sum over the shards this process holds."""
        size = shard.size() if size is None else size
        with self._lock:  # the gauges add the shards up when scraped
            self._shards[shard] = size

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        """Publish a topic-partition's consumer lag (a Kafka source's ``on_lag``)."""
        self.consumer_lag.labels(topic, str(partition)).set(lag)

    def delivered(self, topic: str, n: int) -> None:
        """Count acknowledged messages (a Kafka sink's ``on_delivered``)."""
        self.produced.labels(topic).inc(n)

    def delivery_failed(self, topic: str, error: str) -> None:
        """Count one undelivered message (a Kafka sink's ``on_error``)."""
        self.delivery_failures.labels(topic, error).inc()

    def _state_total(self) -> StateSize:
        with self._lock:
            sizes = list(self._shards.values())
        return (
            StateSize(*(sum(column) for column in zip(*sizes, strict=True)))
            if sizes
            else StateSize(0, 0, 0, 0)
        )

    def set_watchlist(
        self, counts_by_list: dict[str, int], memory_bytes: int | None = None
    ) -> None:
        """Publish the watchlist's size per list (a list that emptied shows 0) and,
        when given, its memory (``Watchlist.memory_bytes()``)."""
        with self._lock:
            for name in self._lists - set(counts_by_list):
                self.watchlist_entries.labels(name).set(0)
            for name, n in counts_by_list.items():
                self.watchlist_entries.labels(name).set(n)
            self._lists |= set(counts_by_list)
            if memory_bytes is not None:
                self.watchlist_memory.set(memory_bytes)

    def watchlist_update(self, action: str) -> None:
        """Count one watchlist-topic message (a feed's ``on_update``):
        ``upsert``, ``remove`` or ``invalid``."""
        self.watchlist_updates.labels(action).inc()

    def watchlist_reloaded(self, ok: bool) -> None:
        """Count one reload of the watchlist file."""
        self.watchlist_reloads.labels("ok" if ok else "failed").inc()

    def places_reloaded(self, ok: bool) -> None:
        """Count one reload of the zones and registries."""
        self.places_reloads.labels("ok" if ok else "failed").inc()

    def serve(self, port: int = 9464, host: str = "127.0.0.1") -> MetricsServer:
        """Serve ``/metrics`` on ``host:port`` (port 0 picks a free port)."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        return MetricsServer(host, server.server_port, server, thread)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Current value of one sample (0.0 if absent), e.g. for summaries."""
        v = self.registry.get_sample_value(name, labels or {})
        return 0.0 if v is None else v
