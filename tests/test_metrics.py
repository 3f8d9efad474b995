"""Metrics are served over real HTTP and tell the truth about the flow."""

from __future__ import annotations

import urllib.request

from bytewax.testing import TestingSink, TestingSource
from prometheus_client.parser import text_string_to_metric_families

from conftest import button, plate_read
from sisec_stream import Alert, Engine, Reject
from sisec_stream.flow import build_alerts_flow, run_flow
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
