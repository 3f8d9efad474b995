"""What the Kafka connectors do when things go wrong, against real brokers.

Each failure must be visible (metric and log) and must never let the flow report
success with data missing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bytewax.inputs import DynamicSource, StatelessSourcePartition
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from conftest import SHARED_KAFKA_LIB, button
from sisec_stream import Engine
from sisec_stream.flow import build_alerts_flow, run_flow
from sisec_stream.kafka import BrokerSettings, TopicSpec, create_topics, stop
from sisec_stream.kafka.sink import DeliveryError
from sisec_stream.kafka.source import KafkaSource, OffsetGoneError
from sisec_stream.kafka.testing import temporary_broker
from sisec_stream.metrics import EngineMetrics
from sisec_stream.runner import counted_sinks


def _topic(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}"


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for v in values:
        producer.produce(topic, v)
    assert producer.flush(30) == 0


def _batches(part: Any, timeout_s: float = 30.0) -> Iterator[list[bytes]]:
    """A partition's non-empty batches until it ends (stop_at_end), bounded in time.

    Polls never block, so an empty batch means "nothing yet": wait a little, as
    Bytewax does with ``next_awake``.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            batch = part.next_batch()
        except StopIteration:
            return
        if batch:
            yield batch
        else:
            time.sleep(0.005)
    raise AssertionError("the partition did not reach its end in time")


def _drain(source: KafkaSource) -> list[bytes]:
    """Read every partition of ``source`` (stop_at_end) from saved offset 10."""
    out: list[bytes] = []
    for part_key in source.list_parts():
        part = source.build_part("in", part_key, 10)
        try:
            for batch in _batches(part):
                out += batch
        finally:
            part.close()
    return out


@pytest.fixture
def trimmed_topic(broker: BrokerSettings) -> str:
    """100 messages of which retention (``DeleteRecords``) removed the first 60."""
    topic = _topic("trimmed")
    create_topics(broker.bootstrap, [TopicSpec(topic, 1)])
    _produce(broker.bootstrap, topic, [b"m%d" % i for i in range(100)])
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.delete_records([TopicPartition(topic, 0, 60)]).values():
        f.result(30)
    return topic


def test_lost_offset_resumes_at_earliest_retained_and_says_so(
    broker: BrokerSettings, trimmed_topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = KafkaSource(broker.bootstrap, [trimmed_topic], stop_at_end=True)
    with caplog.at_level(logging.WARNING, logger="sisec_stream.kafka.source"):
        got = _drain(source)  # saved offset 10 was deleted
    assert got == [b"m%d" % i for i in range(60, 100)], "no jump to the end, no duplicates"
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "saved offset 10 no longer exists" in warning
    assert "offset 60 (50 messages lost to retention)" in warning


def test_lost_offset_fails_when_told_to(broker: BrokerSettings, trimmed_topic: str) -> None:
    source = KafkaSource(
        broker.bootstrap, [trimmed_topic], stop_at_end=True, on_missing_offset="fail"
    )
    with pytest.raises(
        OffsetGoneError, match=r"saved offset 10 no longer exists \(earliest retained is 60\)"
    ):
        _drain(source)


def test_consumer_lag_is_published(broker: BrokerSettings) -> None:
    topic = _topic("lag")
    create_topics(broker.bootstrap, [TopicSpec(topic, 1)])
    _produce(broker.bootstrap, topic, [b"x"] * 30_000)
    metrics = EngineMetrics()
    source = KafkaSource(
        broker.bootstrap, [topic], batch_size=1000, stop_at_end=True, on_lag=metrics.set_lag
    )
    part = source.build_part("in", source.list_parts()[0], None)
    lags = []
    labels = {"topic": topic, "partition": "0"}
    try:
        for _ in _batches(part):
            lags.append(metrics.value("sisec_consumer_lag_messages", labels))
        read_all = part.snapshot()
    finally:
        part.close()
    assert read_all == 30_000
    assert lags[0] > 0, "lag is seen while behind"
    assert lags == sorted(lags, reverse=True)
    assert lags[-1] == 0.0


class _PacedButtons(DynamicSource[bytes]):
    """Panic presses, a batch every 50 ms, until ``stop`` is set (bounded)."""

    def __init__(self, stop: threading.Event, max_batches: int = 1200) -> None:
        self.stop = stop
        self.max_batches = max_batches

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _PacedPart:
        return _PacedPart(self)


class _PacedPart(StatelessSourcePartition[bytes]):
    def __init__(self, src: _PacedButtons) -> None:
        self.src = src
        self.n = 0

    def next_batch(self) -> list[bytes]:
        if self.src.stop.is_set() or self.n >= self.src.max_batches:
            raise StopIteration
        self.n += 1
        time.sleep(0.05)
        return [button(f"B-{self.n}-{i}") for i in range(5)]


def test_message_too_large_fails_the_flow_and_is_counted(
    broker: BrokerSettings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    alerts_topic, rejects_topic = _topic("small.alerts"), _topic("small.rejects")
    create_topics(
        broker.bootstrap,
        [TopicSpec(alerts_topic, 1, {"max.message.bytes": "200"}), TopicSpec(rejects_topic, 1)],
    )
    metrics = EngineMetrics()
    sinks = counted_sinks(broker.bootstrap, alerts_topic, rejects_topic, metrics)
    done = threading.Event()
    with (
        caplog.at_level(logging.ERROR, logger="sisec_stream.kafka.sink"),
        pytest.raises(Exception, match="error writing output batch") as info,
    ):
        run_flow(build_alerts_flow(_PacedButtons(done, 20), engine, *sinks))
    assert isinstance(info.value.__cause__, DeliveryError)
    labels = {"topic": alerts_topic, "error": "MSG_SIZE_TOO_LARGE"}
    assert metrics.value("sisec_delivery_failures_total", labels) >= 1
    assert metrics.value("sisec_produced_messages_total", {"topic": alerts_topic}) == 0
    assert any("MSG_SIZE_TOO_LARGE" in r.getMessage() for r in caplog.records)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[BrokerSettings]:
    """A broker of this test alone: the test stops it mid-run."""
    with temporary_broker(tmp_path / "kafka", SHARED_KAFKA_LIB) as settings:
        yield settings


def test_broker_stopped_mid_run_fails_the_flow_and_is_counted(
    own_broker: BrokerSettings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    create_topics(own_broker.bootstrap, [TopicSpec("alerts", 1), TopicSpec("rejects", 1)])
    metrics = EngineMetrics()
    sinks = counted_sinks(
        own_broker.bootstrap, "alerts", "rejects", metrics, {"delivery.timeout.ms": 4000}
    )
    done = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            run_flow(build_alerts_flow(_PacedButtons(done), engine, *sinks))
        except BaseException as e:  # handed to the test thread
            failure.append(e)

    with caplog.at_level(logging.ERROR, logger="sisec_stream.kafka.sink"):
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        for _ in range(200):  # until some alerts are acknowledged, at most 20 s
            if metrics.value("sisec_produced_messages_total", {"topic": "alerts"}) > 0:
                break
            time.sleep(0.1)
        delivered_before = metrics.value("sisec_produced_messages_total", {"topic": "alerts"})
        assert delivered_before > 0
        stop(own_broker)
        worker.join(timeout=60)
        done.set()
    assert not worker.is_alive(), "the flow must stop, not hang, when deliveries fail"
    assert failure, "the flow must not report success with alerts undelivered"
    assert isinstance(failure[0].__cause__, DeliveryError), repr(failure[0])
    failed = metrics.value(
        "sisec_delivery_failures_total", {"topic": "alerts", "error": "_MSG_TIMED_OUT"}
    )
    assert failed >= 1
    assert any("delivery failures" in r.getMessage() for r in caplog.records)
