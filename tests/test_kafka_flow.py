"""The alerts flow from Kafka to Kafka, against the real local broker."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, Producer

from sisec_stream import Alert, Engine, Reject, Watchlist
from sisec_stream.flow import build_alerts_flow, run_flow
from sisec_stream.generator import Scenario, ScenarioConfig
from sisec_stream.kafka import BrokerSettings, TopicSpec, create_topics
from sisec_stream.kafka.sink import DeliveryError, KafkaSink, alert_message, reject_message
from sisec_stream.kafka.source import KafkaSource

INPUTS = {"plate_reads": "in.plate-reads", "button_presses": "in.buttons", "calls": "in.calls"}
CITY = ScenarioConfig(
    seed=21,
    duration_s=600,
    cameras=60,
    watchlist_size=3000,
    listed_share=0.05,
    devices=80,
    presses_per_device_per_day=30.0,
    calls_per_hour=400,
    malformed_share=0.01,
)


@pytest.fixture(scope="module")
def city_events(broker: BrokerSettings) -> list[bytes]:
    """The small city, produced into three input topics (3, 2 and 1 partitions)."""
    create_topics(
        broker.bootstrap,
        [
            TopicSpec(INPUTS["plate_reads"], 3),
            TopicSpec(INPUTS["button_presses"], 2),
            TopicSpec(INPUTS["calls"], 1),
        ],
    )
    scenario = Scenario(CITY)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
    events: list[bytes] = []
    for source, topic in INPUTS.items():
        for _, line, _ in scenario.events(source):  # type: ignore[arg-type]
            producer.produce(topic, line)
            producer.poll(0)
            events.append(line)
    assert producer.flush(60) == 0
    return events


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(watchlist=Watchlist.from_rows(Scenario(CITY).watchlist_rows()))


def consume_all(bootstrap: str, topic: str) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    meta = consumer.list_topics(topic, timeout=10)
    n_parts = len(meta.topics[topic].partitions)
    consumer.subscribe([topic])
    out: list[tuple[bytes, dict[str, bytes]]] = []
    at_end: set[int] = set()
    for _ in range(600):  # bounded: 600 polls of up to 0.5 s
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error() is not None:
            at_end.add(msg.partition() or 0)
            if len(at_end) == n_parts:
                break
            continue
        raw_headers: list[tuple[str, bytes]] = msg.headers() or []  # type: ignore[assignment]
        headers = {k: v for k, v in raw_headers if isinstance(v, bytes)}
        out.append((msg.value() or b"", headers))
    consumer.close()
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_kafka_to_kafka_equals_direct_processing(
    broker: BrokerSettings, city_events: list[bytes], engine: Engine, workers: int
) -> None:
    alerts_topic, rejects_topic = f"out.alerts.w{workers}", f"out.rejects.w{workers}"
    create_topics(broker.bootstrap, [TopicSpec(alerts_topic, 3), TopicSpec(rejects_topic, 1)])
    source = KafkaSource(broker.bootstrap, list(INPUTS.values()), stop_at_end=True)
    alert_sink: KafkaSink[Alert] = KafkaSink(broker.bootstrap, alerts_topic, alert_message)
    reject_sink: KafkaSink[Reject] = KafkaSink(broker.bootstrap, rejects_topic, reject_message)
    run_flow(build_alerts_flow(source, engine, alert_sink, reject_sink), workers)

    direct = engine.process(city_events)
    assert direct.alerts and direct.rejects
    got_alerts = consume_all(broker.bootstrap, alerts_topic)
    docs = [orjson.loads(v) for v, _ in got_alerts]
    # Every alert candidate of the stateless engine is exactly one page or update
    # (partitions interleave, so which one is a page may differ from run to run);
    # the only other messages are corroborations and call or device incidents.
    candidates = Counter((a.to_dict()["events"][0], a.incident_key) for a in direct.alerts)
    messages = Counter(
        (d["events"][0], d["incident_key"])
        for d in docs
        if d["kind"] in ("plate_hit", "button_press", "restricted_zone")
        and "corroborated_by" not in d.get("incident", {})
    )
    assert messages == candidates
    assert any(d["update"] for d in docs) and any(d["update"] == 0 for d in docs)
    for (_, headers), d in zip(got_alerts, docs, strict=True):
        assert headers["priority"] == str(d["priority"]).encode()
        assert headers["kind"] == d["kind"].encode()
    got_rejects = consume_all(broker.bootstrap, rejects_topic)
    assert Counter((v, h["reason"].decode()) for v, h in got_rejects) == Counter(
        (r.raw, r.reason) for r in direct.rejects
    )


def alert_id_of(value: bytes) -> str:
    import orjson

    alert_id: str = orjson.loads(value)["alert_id"]
    return alert_id


def test_undeliverable_alerts_fail_the_flow(
    broker: BrokerSettings, city_events: list[bytes], engine: Engine, tmp_path: Path
) -> None:
    errors: list[str] = []
    sink: KafkaSink[Alert] = KafkaSink(
        broker.bootstrap,
        "no.such.topic",
        alert_message,
        on_error=lambda topic, err: errors.append(err.str()),
        config={"delivery.timeout.ms": 3000},
    )
    # Rejects go to a real topic: the alerts' failure must be the one that stops the flow.
    create_topics(broker.bootstrap, [TopicSpec("undeliverable.rejects", 1)])
    rejects: KafkaSink[Reject] = KafkaSink(
        broker.bootstrap, "undeliverable.rejects", reject_message
    )
    source = KafkaSource(broker.bootstrap, [INPUTS["button_presses"]], stop_at_end=True)
    with pytest.raises(Exception, match="error writing output batch") as info:
        run_flow(build_alerts_flow(source, engine, sink, rejects))
    assert errors, "the delivery callback must have seen the failures"
    cause = info.value.__cause__
    assert isinstance(cause, DeliveryError), repr(cause)
    assert "not delivered" in str(cause)
