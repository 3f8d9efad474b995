"""Metrics are served over real HTTP and tell the truth about the flow."""

from __future__ import annotations

import time
import urllib.request

import orjson
from bytewax.testing import TestingSink, TestingSource
from prometheus_client.parser import text_string_to_metric_families

from conftest import button, call, plate_read
from sisec_stream import Alert, Engine, Reject
from sisec_stream.flow import build_alerts_flow, run_flow
from sisec_stream.incidents import IncidentState
from sisec_stream.metrics import EngineMetrics


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_flow_counts_scraped_over_http(engine: Engine) -> None:
    metrics = EngineMetrics()
    metrics.set_watchlist(engine.watchlist.counts_by_list())
    server = metrics.serve(0)
    try:
        events = [plate_read("r1", "ABC123"), plate_read("r2", "QQQ111"), button("b1")]
        events += [b"{oops", b'{"type":"call"}']
        alerts: list[Alert] = []
        rejects: list[Reject] = []
        flow = build_alerts_flow(
            TestingSource(events),
            engine,
            TestingSink(alerts),
            TestingSink(rejects),
            metrics=metrics,
        )
        run_flow(flow)
        m = scrape(server.url)
    finally:
        server.close()

    def v(name: str, **labels: str) -> float:
        return m[(name, frozenset(labels.items()))]

    assert v("sisec_events_total", source="plate_read", outcome="accepted") == 2
    assert v("sisec_events_total", source="button_press", outcome="accepted") == 1
    assert v("sisec_events_total", source="unknown", outcome="rejected") == 1
    assert v("sisec_events_total", source="call", outcome="rejected") == 1
    assert v("sisec_rejects_total", reason="invalid_json") == 1
    assert v("sisec_rejects_total", reason="missing_field") == 1
    assert v("sisec_rejects_total", reason="too_large") == 0
    assert v("sisec_alerts_total", kind="plate_hit", priority="1") == 1
    assert v("sisec_alerts_total", kind="plate_hit", priority="2") == 1
    assert v("sisec_alerts_total", kind="button_press", priority="1") == 1
    assert v("sisec_watchlist_entries", list="wanted") == 1
    assert v("sisec_batch_duration_seconds_count") >= 1
    assert len(alerts) == 3 and len(rejects) == 2


def series(metrics: EngineMetrics) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    return {
        (sample.name, frozenset(sample.labels.items()))
        for family in metrics.registry.collect()
        for sample in family.samples
    }


def test_label_sets_are_bounded() -> None:
    """Distinct plates, ids and garbage never create new series."""
    metrics = EngineMetrics()
    before = series(metrics)
    engine = Engine()
    for i in range(200):
        batch = [plate_read(f"id-{i}", f"AAA{i:03d}"), b"{bad", button(f"id-b{i}"), b"x" * i]
        metrics.observe(engine.process(batch), 0.001)
    after = series(metrics)
    assert after == before
    values = {v for _, labels in after for _, v in labels}
    assert not any("AAA" in v or "id-" in v for v in values)


def _run(engine: Engine, events: list[bytes], metrics: EngineMetrics) -> list[Alert]:
    alerts: list[Alert] = []
    rejects: list[Reject] = []
    flow = build_alerts_flow(
        TestingSource(events), engine, TestingSink(alerts), TestingSink(rejects), metrics=metrics
    )
    run_flow(flow)
    return alerts


def test_updates_are_suppressed_duplicates_or_corroborations(engine: Engine) -> None:
    """A look-alike read, a second camera's exact read (which corroborates it) and
    a repeat of that read: both ABC123 entries (two lists) page twice each; of
    their four updates, two are repeat sightings (suppressed duplicate pages) and
    two promote the weak hit (not duplicates of anything)."""
    metrics = EngineMetrics()
    other = {"camera_id": "MDE-LPR-0002", "lat": 6.25, "lon": -75.58}
    events = [
        plate_read("r1", "A8C123"),
        plate_read("r2", "ABC123", ts="2026-11-23T07:01:00.250-05:00", **other),
        plate_read("r3", "ABC123", ts="2026-11-23T07:02:00.250-05:00", **other),
    ]
    alerts = _run(engine, events, metrics)
    updates = [orjson.loads(a.json) for a in alerts if a.update]
    corroborations = [u for u in updates if "corroborated_by" in u["incident"]]
    assert len(updates) == 4 and len(corroborations) == 2
    v = metrics.value
    pages = sum(
        v("sisec_alerts_total", {"kind": "plate_hit", "priority": str(p)}) for p in range(1, 5)
    )
    assert pages == 4
    assert v("sisec_alert_updates_total", {"kind": "plate_hit"}) == 4
    assert v("sisec_suppressed_duplicates_total", {"kind": "plate_hit"}) == 2


def test_event_to_alert_latency_is_wall_clock_minus_event_time(engine: Engine) -> None:
    metrics = EngineMetrics()
    before = time.time_ns() // 1_000_000
    events = [plate_read("r1", "XYZ12D", ts=before - 1500), button("b1")]
    alerts = _run(engine, events, metrics)
    after = time.time_ns() // 1_000_000
    assert len(alerts) == 2
    v = metrics.value
    hit = {"kind": "plate_hit"}
    assert v("sisec_event_to_alert_seconds_count", hit) == 1
    # The read is 1.5 s old when the flow starts; the alert leaves the incident
    # stage before the flow ends.
    assert 1.5 <= v("sisec_event_to_alert_seconds_sum", hit) <= (after - before + 1500) / 1000
    assert v("sisec_event_to_alert_seconds_bucket", {**hit, "le": "1.0"}) == 0
    assert v("sisec_event_to_alert_seconds_bucket", {**hit, "le": "+Inf"}) == 1
    # The press is from 2026-11-23 (conftest): a replay's long tail, in its own bucket.
    press = {"kind": "button_press"}
    press_age_s = (before - 1795435200000) / 1000
    assert v("sisec_event_to_alert_seconds_sum", press) >= press_age_s
    top = "604800.0" if press_age_s > 86400 else "86400.0"
    assert v("sisec_event_to_alert_seconds_bucket", {**press, "le": top}) == 1
    assert v("sisec_alert_event_time_ahead_total", hit) == 0


def test_event_time_ahead_of_the_clock_counts_as_zero_latency() -> None:
    metrics = EngineMetrics()
    alert = Alert("A-1", "button_press", 1, 10_000, "button_press:D-1", 0, b"{}")
    metrics.observe_alerts([alert], now_ms=9_000)  # the sensor's clock is 1 s fast
    metrics.observe_alerts([alert], now_ms=10_250)
    labels = {"kind": "button_press"}
    assert metrics.value("sisec_alert_event_time_ahead_total", labels) == 1
    assert metrics.value("sisec_event_to_alert_seconds_count", labels) == 2
    assert metrics.value("sisec_event_to_alert_seconds_sum", labels) == 0.25
    assert metrics.value("sisec_event_to_alert_seconds_bucket", {**labels, "le": "0.001"}) == 1


def test_incident_state_gauges_sum_the_shards(engine: Engine) -> None:
    """The gauges equal the sizes of the same events folded shard by shard."""
    events = [plate_read("r1", "ABC123"), plate_read("r2", "XYZ12D"), button("b1")]
    events += [button("b2", action="heartbeat"), call("c1")]
    metrics = EngineMetrics()
    _run(engine, events, metrics)
    states: list[IncidentState] = []
    _, shards = engine.process_routed(events)
    for blob in shards:
        state = IncidentState(engine.config)
        state.apply([blob])
        states.append(state)
    sizes = [s.size() for s in states]
    v = metrics.value
    assert v("sisec_incident_shards") == len(states) == 64
    assert v("sisec_incident_state_entries", {"kind": "plates"}) == sum(s.plates for s in sizes)
    assert v("sisec_incident_state_entries", {"kind": "devices"}) == sum(s.devices for s in sizes)
    assert v("sisec_incident_state_entries", {"kind": "calls"}) == sum(s.calls for s in sizes)
    assert sum(s.plates for s in sizes) == 3 and sum(s.devices for s in sizes) == 1
    assert v("sisec_incident_state_bytes") == sum(s.bytes for s in sizes) > 0
