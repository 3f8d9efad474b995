"""The metrics exposition of real runs, scraped over HTTP, passes Prometheus's own
linter (``promtool check metrics``: exit 0, no finding), carries no plate or id as
a label value, and keeps its series count when the input doubles.

promtool comes from ``make tools`` (Debian's ``prometheus`` package, unpacked into
``.tools/bin``); without it these tests fail, they are never skipped.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import orjson
import pytest
from bytewax.testing import TestingSource
from confluent_kafka import KafkaError, Producer

from conftest import button
from promcheck import Series, check_metrics, families, promtool, scrape, series, values
from sisec_stream import Engine
from sisec_stream.cli import main as cli_main
from sisec_stream.engine import ALERT_KINDS, EVENT_TYPES, REJECT_REASONS
from sisec_stream.flow import build_alerts_flow, run_flow
from sisec_stream.kafka import BrokerSettings, TopicSpec, create_topics
from sisec_stream.kafka.testing import free_port_pair
from sisec_stream.kafka.watchlist_feed import publish_entry
from sisec_stream.metrics import (
    BATCH_BUCKETS,
    EVENT_TO_ALERT_BUCKETS,
    STATE_KINDS,
    UNKNOWN_SOURCE,
    WATCHLIST_ACTIONS,
    EngineMetrics,
)
from sisec_stream.runconfig import RunConfig
from sisec_stream.runner import RunOptions, build_run_flow, counted_sinks

SOURCES = ("plate_reads", "button_presses", "calls")
TOPICS = (*SOURCES, "alerts", "rejects", "watchlist")

#: librdkafka's error names (``KafkaError.name()``): a fixed set of ~190 codes.
KAFKA_ERROR_NAMES = frozenset(
    n
    for n in dir(KafkaError)
    if n.lstrip("_").isupper() and isinstance(getattr(KafkaError, n), int)
)

#: The ``le`` values histograms may have.
BUCKET_BOUNDS = frozenset((*EVENT_TO_ALERT_BUCKETS, *BATCH_BUCKETS, float("inf")))


def _generate(out: Path, duration_s: int) -> Path:
    code = cli_main(
        [
            "generate",
            "--out",
            str(out),
            "--seed",
            "5",
            "--duration",
            str(duration_s),
            "--cameras",
            "30",
            "--watchlist-size",
            "1000",
            "--listed-share",
            "0.05",
            "--devices",
            "60",
            "--presses-per-device-per-day",
            "60",
            "--offline-device-share",
            "0.05",
            "--malformed-share",
            "0.01",
            "--no-progress",
        ]
    )
    assert code == 0
    return out


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten minutes of a small simulated Medellín (every source, malformed events)."""
    return _generate(tmp_path_factory.mktemp("city"), 600)


@pytest.fixture(scope="module")
def city_twice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same city over twice the time: twice the events, new plates and ids."""
    return _generate(tmp_path_factory.mktemp("city2"), 1200)


def _write_config(path: Path, city: Path, extra: str = "") -> Path:
    path.write_text(
        f"""{extra}[watchlist]
file = "{city / "watchlist.csv"}"
[places]
zones = "{city / "zones.geojson"}"
cameras = "{city / "cameras.csv"}"
devices = "{city / "devices.csv"}"
[engine]
timezone = "America/Bogota"
[engine.incidents]
lateness_s = 3600
""",
        encoding="utf-8",
    )
    return path


def _identifiers(city: Path, *outputs: Path) -> set[str]:
    """Every plate and id of a city's input (events, watchlist, registries, zones)
    and of its alerts: what must never become a label value."""
    ids: set[str] = set()
    for source in SOURCES:
        for line in (city / f"{source}.jsonl").read_bytes().splitlines():
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # malformed on purpose
            if not isinstance(doc, dict):
                continue
            for key in ("event_id", "plate", "camera_id", "device_id", "call_id", "caller_hash"):
                if isinstance(doc.get(key), str):
                    ids.add(doc[key])
            for c in doc.get("candidates") or []:
                if isinstance(c, dict) and isinstance(c.get("plate"), str):
                    ids.add(c["plate"])
    for name, columns in (
        ("watchlist.csv", ("entry_id", "plate")),
        ("cameras.csv", ("camera_id",)),
        ("devices.csv", ("device_id",)),
        ("allow_lists.csv", ("plate",)),
    ):
        with (city / name).open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                ids |= {row[c] for c in columns if row.get(c)}
    zones = json.loads((city / "zones.geojson").read_text(encoding="utf-8"))
    ids |= {str(z["properties"]["zone_id"]) for z in zones["features"]}
    for out in outputs:
        for line in out.read_bytes().splitlines():
            doc = orjson.loads(line)
            ids |= {doc.get("alert_id", ""), doc.get("incident_key", "")} - {""}
    assert len(ids) > 1000, "the scan must have something to look for"
    return ids


def _allowed_labels(
    lists: Iterable[str], topics: Iterable[str] = (), partitions: int = 0
) -> dict[str, set[str]]:
    """Every label name the exposition may carry, with its bounded set of values."""
    return {
        "source": {*EVENT_TYPES, UNKNOWN_SOURCE},
        "outcome": {"accepted", "rejected", "ok", "failed"},
        "reason": set(REJECT_REASONS),
        "kind": {*ALERT_KINDS, *STATE_KINDS},
        "priority": {"1", "2", "3", "4"},
        "list": set(lists),
        "action": set(WATCHLIST_ACTIONS),
        "topic": set(topics),
        "partition": {str(p) for p in range(partitions)},
        "error": set(KAFKA_ERROR_NAMES),
    }


def _check_labels(got: Series, ids: set[str], allowed: dict[str, set[str]]) -> None:
    """No label value is (or contains) a plate or an id; every label is a known
    one with a value from its bounded set."""
    long_ids = [i for i in ids if len(i) >= 5]
    for name, labels in got:
        for label, value in labels:
            assert value not in ids, (name, label, value)
            assert not any(i in value for i in long_ids), (name, label, value)
            if label == "le":  # a histogram's bucket bounds
                assert float(value) in BUCKET_BOUNDS, (name, value)
                continue
            assert label in allowed, f"{name}: label {label!r} is new: bound it and add it here"
            assert value in allowed[label], (name, label, value, "outside the bounded set")


def _lint(text: str) -> None:
    result = check_metrics(promtool(), text)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        f"promtool check metrics: exit {result.returncode}\n{result.stdout}{result.stderr}"
    )


def _replay(city: Path, tmp: Path, workers: int) -> tuple[str, Path]:
    """Replay ``city`` through the run flow (``sisec-stream run --input``) with
    metrics served on a free port; the scrape once it has ended, and the alerts."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = RunConfig.load(_write_config(tmp / "sisec.toml", city))
    metrics = EngineMetrics()
    server = metrics.serve(0)
    try:
        options = RunOptions(
            workers=workers, inputs=[city / f"{s}.jsonl" for s in SOURCES], out_dir=tmp / "out"
        )
        built = build_run_flow(config, metrics, options)
        try:
            run_flow(built.flow, workers)
        finally:
            built.close()
        return scrape(server.url), tmp / "out" / "alerts.jsonl"
    finally:
        server.close()


def _lists(city: Path) -> set[str]:
    with (city / "watchlist.csv").open(encoding="utf-8", newline="") as f:
        return {row["list"] for row in csv.DictReader(f)}


def test_replay_exposition_is_clean_and_bounded(
    city: Path, city_twice: Path, tmp_path: Path
) -> None:
    text, alerts = _replay(city, tmp_path / "once", 1)
    twice, alerts_twice = _replay(city_twice, tmp_path / "twice", 2)
    _lint(text)
    _lint(twice)
    n_in = sum(len((city / f"{s}.jsonl").read_bytes().splitlines()) for s in SOURCES)
    n_twice = sum(len((city_twice / f"{s}.jsonl").read_bytes().splitlines()) for s in SOURCES)
    assert values(text, "sisec_events_total") == n_in
    assert values(twice, "sisec_events_total") == n_twice >= 1.9 * n_in
    assert values(twice, "sisec_alerts_total") > values(text, "sisec_alerts_total") > 0
    assert values(text, "sisec_suppressed_duplicates_total") > 0
    assert values(text, "sisec_event_to_alert_seconds_count") == values(
        text, "sisec_alerts_total"
    ) + values(text, "sisec_alert_updates_total")
    assert values(text, "sisec_incident_state_entries", kind="plates") > 0
    assert values(text, "sisec_incident_state_bytes") > 0
    assert values(text, "sisec_watchlist_memory_bytes") > 0
    # Twice the input, new plates and ids: not one more series.
    once_series, twice_series = series(text), series(twice)
    assert len(twice_series) == len(once_series)
    assert {n for n, _ in twice_series} == {n for n, _ in once_series}
    lists = _lists(city) | _lists(city_twice)
    _check_labels(once_series, _identifiers(city, alerts), _allowed_labels(lists))
    _check_labels(twice_series, _identifiers(city_twice, alerts_twice), _allowed_labels(lists))


def test_kafka_run_exposition_passes_promtool(
    broker: BrokerSettings, city: Path, tmp_path: Path
) -> None:
    """``sisec-stream run`` against Kafka, as a process: every metric family has
    series (consumer lag, deliveries, watchlist-topic updates, file reloads), and
    the scrape passes ``promtool check metrics``."""
    tool = promtool()  # fail before the broker work when it is missing
    tag = f"expo-{uuid.uuid4().hex[:6]}"
    port = free_port_pair()
    watchlist = tmp_path / "watchlist.csv"
    watchlist.write_bytes((city / "watchlist.csv").read_bytes())
    zones = tmp_path / "zones.geojson"
    zones.write_bytes((city / "zones.geojson").read_bytes())
    topics = "".join(f'{t} = "{tag}.{t}"\n' for t in TOPICS)
    config = _write_config(
        tmp_path / "sisec.toml",
        city,
        f'[kafka]\nbrokers = "{broker.bootstrap}"\n[topics]\n{topics}[metrics]\nport = {port}\n',
    )
    text = config.read_text(encoding="utf-8")
    text = text.replace(
        f'file = "{city / "watchlist.csv"}"', f'file = "{watchlist}"\nreload_interval_s = 1'
    )
    text = text.replace(
        f'zones = "{city / "zones.geojson"}"', f'zones = "{zones}"\nreload_interval_s = 1'
    )
    config.write_text(text, encoding="utf-8")
    assert cli_main(["kafka", "topics", "--config", str(config)]) == 0
    files = [str(city / f"{s}.jsonl") for s in SOURCES]
    assert cli_main(["produce", "--config", str(config), "--no-progress", *files]) == 0
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    publish_entry(producer, f"{tag}.watchlist", "X-1", {"plate": "QRT482", "list": "wanted"})
    publish_entry(producer, f"{tag}.watchlist", "X-1", None)
    producer.produce(f"{tag}.watchlist", b"{not json", key=b"X-2")
    assert producer.flush(30) == 0
    n_in = sum(len(Path(f).read_bytes().splitlines()) for f in files)

    proc = subprocess.Popen(
        [sys.executable, "-m", "sisec_stream", "run", "--config", str(config)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    exposition = ""
    try:
        touched = False
        for _ in range(600):  # bounded: at most ~2 minutes
            time.sleep(0.2)
            assert proc.poll() is None, "sisec-stream run exited early"
            try:
                exposition = scrape(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                continue  # not serving yet
            counted = values(exposition, "sisec_events_total")
            emitted = (
                values(exposition, "sisec_alerts_total")
                + values(exposition, "sisec_alert_updates_total")
                + values(exposition, "sisec_events_total", outcome="rejected")
            )
            if counted >= n_in and not touched:
                # Change the files under the reloaders: a reload of each.
                with watchlist.open("a", encoding="utf-8") as f:
                    f.write("X-3,QRT483,wanted,\n")
                zones.write_bytes(zones.read_bytes() + b"\n")
                touched = True
            done = (
                counted >= n_in
                and values(exposition, "sisec_produced_messages_total") >= emitted
                and values(exposition, "sisec_watchlist_updates_total") >= 3
                and values(exposition, "sisec_watchlist_reloads_total", outcome="ok") >= 1
                and values(exposition, "sisec_places_reloads_total", outcome="ok") >= 1
            )
            if done:
                break
        else:
            raise AssertionError("the run did not get through the city in time")
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, out

    result = check_metrics(tool, exposition)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        f"promtool check metrics: exit {result.returncode}\n{result.stdout}{result.stderr}"
    )
    got = series(exposition)
    with_series = {name for name, _ in got}
    # Every family has series but delivery failures, which end the run (below).
    declared = {
        name + ("_count" if kind == "histogram" else "")
        for name, kind in families(exposition).items()
        if not name.endswith("_created")
    }
    assert declared - with_series == {"sisec_delivery_failures_total"}
    for name, labels in (
        ("sisec_produced_messages_total", {"topic": f"{tag}.alerts"}),
        ("sisec_watchlist_updates_total", {"action": "upsert"}),
        ("sisec_watchlist_updates_total", {"action": "remove"}),
        ("sisec_watchlist_updates_total", {"action": "invalid"}),
        ("sisec_event_to_alert_seconds_count", {"kind": "plate_hit"}),
        ("sisec_incident_state_entries", {"kind": "devices"}),
        ("sisec_incident_shards", {}),
        ("sisec_watchlist_memory_bytes", {}),
    ):
        assert values(exposition, name, **labels) > 0, (name, labels)
    lagging = {dict(labels)["topic"] for n, labels in got if n == "sisec_consumer_lag_messages"}
    assert lagging == {f"{tag}.{s}" for s in SOURCES}
    assert values(exposition, "sisec_consumer_lag_messages") == 0, "read to the end"
    partitions = max(int(dict(labels).get("partition", "0")) for _, labels in got) + 1
    ids = _identifiers(city) | {"X-1", "X-2", "X-3", "QRT482", "QRT483"}
    lists = _lists(city) | {"wanted"}
    _check_labels(got, ids, _allowed_labels(lists, [f"{tag}.{t}" for t in TOPICS], partitions))


def test_delivery_failure_exposition_passes_promtool(
    broker: BrokerSettings, engine: Engine
) -> None:
    """A real delivery failure (an alert larger than the topic takes) is counted
    under librdkafka's error name and the scrape still passes promtool."""
    tool = promtool()
    alerts_topic = f"tiny.alerts.{uuid.uuid4().hex[:8]}"
    rejects_topic = f"tiny.rejects.{uuid.uuid4().hex[:8]}"
    create_topics(
        broker.bootstrap,
        [TopicSpec(alerts_topic, 1, {"max.message.bytes": "200"}), TopicSpec(rejects_topic, 1)],
    )
    metrics = EngineMetrics()
    server = metrics.serve(0)
    try:
        sinks = counted_sinks(broker.bootstrap, alerts_topic, rejects_topic, metrics)
        flow = build_alerts_flow(TestingSource([button("B-1")]), engine, *sinks, metrics=metrics)
        with pytest.raises(Exception, match="error writing output batch"):
            run_flow(flow)
        exposition = scrape(server.url)
    finally:
        server.close()
    assert values(exposition, "sisec_delivery_failures_total", error="MSG_SIZE_TOO_LARGE") == 1
    result = check_metrics(tool, exposition)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        f"promtool check metrics: exit {result.returncode}\n{result.stdout}{result.stderr}"
    )
    _check_labels(
        series(exposition),
        {"B-1", "MDE-BTN-0042"},
        _allowed_labels([], [alerts_topic, rejects_topic], 1),
    )


def test_promtool_finds_what_breaks_conventions() -> None:
    """The lint is real: promtool flags a counter without ``_total``, a unit that is
    not a base unit, camelCase and a missing help text."""
    bad = (
        "# HELP sisec_alerts_paged Alerts.\n# TYPE sisec_alerts_paged counter\n"
        "sisec_alerts_paged 1\n"
        "# HELP sisec_latency_milliseconds Latency.\n# TYPE sisec_latency_milliseconds gauge\n"
        "sisec_latency_milliseconds 3\n"
        "# TYPE sisecStateBytes gauge\nsisecStateBytes 2\n"
    )
    result = check_metrics(promtool(), bad)
    found = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'counter metrics should have "_total" suffix' in found
    assert 'use base unit "seconds" instead of "milliseconds"' in found
    assert "camelCase" in found and "no help text" in found
