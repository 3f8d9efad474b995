"""The alerts flow against a real local Kafka broker: throughput and latency.

Run: ``make bench-py`` (or ``pytest benches/test_bench_kafka.py --benchmark-only``).
The broker is the project's own (``sisec_stream.kafka.broker``), started once per
session on free loopback ports; topics follow the partition counts of
``DEFAULT_TOPICS``, under names unique to each run.

- Group ``kafka_city_1_worker``: a generated city (~220k events) is produced once into
  the three input topics; one Bytewax worker then runs Kafka -> engine -> Kafka into
  fresh output topics each round. The baseline beside it is the ceiling of any
  consumer of those topics in Python: a bare confluent-kafka consume loop with the
  source's own settings. The ratio says how much of it the whole flow keeps.
- ``test_latency_read_to_alert``: the flow runs live while events arrive at a steady
  2,000 events/s; each alert's latency is measured from the produce call of its
  event to the alert's production (broker timestamp) and to its consumption.

With ``--benchmark-disable`` (``make test``) every check still runs on a smaller city
and a shorter live run.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from sisec_stream import Alert, Engine, Reject, Watchlist
from sisec_stream.engine import BatchResult
from sisec_stream.flow import build_alerts_flow, run_flow
from sisec_stream.generator import Scenario, ScenarioConfig, Source
from sisec_stream.kafka import DEFAULT_TOPICS, BrokerSettings, TopicSpec, create_topics
from sisec_stream.kafka.sink import PRODUCER_DEFAULTS, KafkaSink, alert_message, reject_message
from sisec_stream.kafka.source import CONSUMER_DEFAULTS, KafkaSource

GROUP = "kafka_city_1_worker"
_PARTITIONS = {t.name: t.partitions for t in DEFAULT_TOPICS}
#: Input topic suffix and partition count per generator source (the default layout).
INPUTS: dict[Source, tuple[str, int]] = {
    "plate_reads": ("plate-reads", _PARTITIONS["sisec.plate-reads"]),
    "button_presses": ("button-presses", _PARTITIONS["sisec.button-presses"]),
    "calls": ("calls", _PARTITIONS["sisec.calls"]),
}
OUTPUTS = {"alerts": _PARTITIONS["sisec.alerts"], "rejects": _PARTITIONS["sisec.rejects"]}


def _city(duration_s: int) -> ScenarioConfig:
    """Enough hits, presses and malformed events that both outputs carry traffic."""
    return ScenarioConfig(
        seed=11,
        duration_s=duration_s,
        watchlist_size=20_000,
        listed_share=0.01,
        presses_per_device_per_day=24.0,
        malformed_share=0.002,
    )


#: Two simulated hours: ~220k events, a few seconds per flow run.
CITY = _city(7200)
#: Ten simulated minutes (~18k events) when benchmarks only smoke-run.
SMOKE_CITY = _city(600)

LIVE_RATE = 2000  # events/s sent during the latency run
LIVE_SECONDS = 8.0
SMOKE_LIVE_SECONDS = 2.0
LIVE_CITY = ScenarioConfig(
    seed=12,
    duration_s=1200,
    watchlist_size=20_000,
    listed_share=0.02,
    presses_per_device_per_day=200.0,
)
#: Ends a partition of the live run's source; never a valid event.
SENTINEL = b"__sisec_bench_end__"
#: Bound on anything the benchmarks wait for.
TIMEOUT_S = 120.0


def _smoke(config: pytest.Config) -> bool:
    """Benchmarks run once, unmeasured (``--benchmark-disable``): keep them short."""
    return bool(config.getoption("benchmark_disable")) and not config.getoption("benchmark_enable")


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _consumer(bootstrap: str) -> Consumer:
    """A consumer with the source's own settings (offsets are assigned, not committed)."""
    return Consumer(
        {**CONSUMER_DEFAULTS, "bootstrap.servers": bootstrap, "group.id": _unique("bench")}
    )


def _all_partitions(consumer: Consumer, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition at its start; waits (bounded) for new topics' metadata to appear."""
    parts: list[TopicPartition] = []
    for topic in topics:
        deadline = time.monotonic() + 30
        while True:
            tmeta = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if tmeta is not None and tmeta.error is None and tmeta.partitions:
                break
            assert time.monotonic() < deadline, f"topic {topic} has no metadata"
            time.sleep(0.1)
        parts += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(tmeta.partitions)]
    return parts


def message_count(bootstrap: str, topic: str) -> int:
    """Messages in a topic: the sum of its high watermarks (fresh, non-transactional)."""
    consumer = _consumer(bootstrap)
    try:
        return sum(
            consumer.get_watermark_offsets(tp, timeout=30)[1]
            for tp in _all_partitions(consumer, [topic])
        )
    finally:
        consumer.close()


def create_outputs(bootstrap: str, prefix: str) -> tuple[str, str]:
    """Fresh alerts and rejects topics, so a run's output can be counted exactly."""
    alerts, rejects = f"{prefix}.alerts", f"{prefix}.rejects"
    create_topics(
        bootstrap, [TopicSpec(alerts, OUTPUTS["alerts"]), TopicSpec(rejects, OUTPUTS["rejects"])]
    )
    return alerts, rejects


# --- throughput -------------------------------------------------------------------


@dataclass(frozen=True)
class CityTopics:
    """The city, already in its input topics, and what the engine makes of it."""

    bootstrap: str
    topics: list[str]
    events: int
    direct: BatchResult
    engine: Engine


@pytest.fixture(scope="module")
def city_topics(broker: BrokerSettings, request: pytest.FixtureRequest) -> CityTopics:
    """Produce the city into its input topics once; every round reads the same bytes."""
    config = SMOKE_CITY if _smoke(request.config) else CITY
    prefix = _unique("city")
    topics = {source: f"{prefix}.{suffix}" for source, (suffix, _) in INPUTS.items()}
    create_topics(broker.bootstrap, [TopicSpec(topics[s], n) for s, (_, n) in INPUTS.items()])
    scenario = Scenario(config)
    producer = Producer({**PRODUCER_DEFAULTS, "bootstrap.servers": broker.bootstrap})
    events: list[bytes] = []
    for source, topic in topics.items():
        for _, line, _ in scenario.events(source):
            while True:
                try:
                    producer.produce(topic, line)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    producer.poll(0.1)
            producer.poll(0)
            events.append(line)
    assert producer.flush(TIMEOUT_S) == 0
    engine = Engine(watchlist=Watchlist.from_rows(scenario.watchlist_rows()))
    direct = engine.process(events)
    assert direct.alerts and direct.rejects, "both outputs must carry traffic"
    return CityTopics(broker.bootstrap, list(topics.values()), len(events), direct, engine)


def run_kafka_flow(city: CityTopics, alerts_topic: str, rejects_topic: str) -> None:
    """What a replay deployment does: the alerts flow, one worker, ends at the end."""
    source = KafkaSource(city.bootstrap, city.topics, stop_at_end=True)
    alert_sink: KafkaSink[Alert] = KafkaSink(city.bootstrap, alerts_topic, alert_message)
    reject_sink: KafkaSink[Reject] = KafkaSink(city.bootstrap, rejects_topic, reject_message)
    run_flow(build_alerts_flow(source, city.engine, alert_sink, reject_sink), workers=1)


def bare_consume(bootstrap: str, topics: Sequence[str]) -> int:
    """The ceiling: one consumer reads every partition to its end, touching each value."""
    consumer = _consumer(bootstrap)
    try:
        parts = _all_partitions(consumer, topics)
        consumer.assign(parts)
        at_end: set[tuple[str, int]] = set()
        n = 0
        deadline = time.monotonic() + TIMEOUT_S
        while len(at_end) < len(parts):
            assert time.monotonic() < deadline, f"bare consumer stuck at {n} messages"
            for msg in consumer.consume(5000, 0.05):
                err = msg.error()
                if err is None:
                    n += msg.value() is not None
                elif err.code() == KafkaError._PARTITION_EOF:
                    at_end.add((msg.topic() or "", msg.partition() or 0))
                else:
                    raise KafkaException(err)
        return n
    finally:
        consumer.close()


@pytest.mark.benchmark(group=GROUP)
def test_kafka_engine_kafka(benchmark: Any, city_topics: CityTopics) -> None:
    """Kafka -> engine -> Kafka, one worker, into fresh output topics every round."""
    benchmark.extra_info["events"] = city_topics.events
    runs: list[tuple[str, str]] = []

    def fresh_outputs() -> tuple[tuple[str, str], dict[str, Any]]:
        topics = create_outputs(city_topics.bootstrap, _unique("flow"))
        runs.append(topics)
        return topics, {}

    benchmark.pedantic(
        lambda a, r: run_kafka_flow(city_topics, a, r),
        setup=fresh_outputs,
        rounds=3,
        warmup_rounds=1,
        iterations=1,
    )
    # Every round delivered every alert candidate the engine gives for the same events
    # (one page or update each; the incident stage adds its own: corroborations,
    # device and call incidents) and every reject.
    direct = city_topics.direct
    assert runs
    for alerts_topic, rejects_topic in runs:
        assert message_count(city_topics.bootstrap, alerts_topic) >= len(direct.alerts)
        assert message_count(city_topics.bootstrap, rejects_topic) == len(direct.rejects)


@pytest.mark.benchmark(group=GROUP)
def test_baseline_bare_consumer(benchmark: Any, city_topics: CityTopics) -> None:
    """The same topics read by a bare confluent-kafka loop: no engine, no output."""
    benchmark.extra_info["events"] = city_topics.events
    n = benchmark.pedantic(
        bare_consume, args=(city_topics.bootstrap, city_topics.topics), rounds=3, iterations=1
    )
    assert n == city_topics.events


# --- latency ----------------------------------------------------------------------


class _UntilSentinel(StatefulSourcePartition[bytes, int]):
    """A live Kafka partition that ends after the sentinel (or at a deadline)."""

    def __init__(self, inner: StatefulSourcePartition[bytes, int], deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline
        self._done = False

    def next_batch(self) -> list[bytes]:
        if self._done or time.monotonic() > self._deadline:
            raise StopIteration
        batch = list(self._inner.next_batch())
        if SENTINEL in batch:
            self._done = True
            batch = [value for value in batch if value != SENTINEL]
        return batch

    def snapshot(self) -> int:
        return self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()


class LiveKafkaSource(FixedPartitionedSource[bytes, int]):
    """``KafkaSource`` as deployed (``stop_at_end=False``), whose partitions end on a sentinel.

    ``stop_at_end=True`` would end each partition at its first end of data, which a
    live topic reaches at once; here the producer ends each partition explicitly.
    """

    def __init__(self, brokers: str, topics: Sequence[str], deadline: float) -> None:
        self._kafka = KafkaSource(brokers, topics, stop_at_end=False)
        self._deadline = deadline

    def list_parts(self) -> list[str]:
        return self._kafka.list_parts()

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _UntilSentinel:
        inner = self._kafka.build_part(step_id, for_part, resume_state)
        return _UntilSentinel(inner, self._deadline)


@dataclass
class Received:
    """Alerts seen by the consumer thread: (alert document, consumed at, broker ts in s)."""

    alerts: list[tuple[dict[str, Any], float, float]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def candidate_key(doc: dict[str, Any]) -> tuple[str, str] | None:
    """(event, incident key) of a message that carries one alert candidate of the
    stateless engine (a page or update of a plate or press alert); None for the
    incident stage's own messages (corroborations, device and call incidents)."""
    if doc["kind"] not in ("plate_hit", "button_press", "restricted_zone"):
        return None
    if "corroborated_by" in doc.get("incident", {}):
        return None
    return doc["events"][0], doc["incident_key"]


def consume_alerts(bootstrap: str, topic: str, want: int, deadline: float, out: Received) -> None:
    """Poll (returns as soon as a message is there) until ``want`` alert candidates
    (see :func:`candidate_key`) or the deadline."""
    consumer = _consumer(bootstrap)
    got = 0
    try:
        consumer.assign(_all_partitions(consumer, [topic]))
        while got < want and time.monotonic() < deadline:
            msg = consumer.poll(0.05)
            if msg is None:
                continue
            now = time.time()
            err = msg.error()
            if err is None:
                _, ts_ms = msg.timestamp()
                doc = orjson.loads(msg.value() or b"null")
                got += candidate_key(doc) is not None
                out.alerts.append((doc, now, ts_ms / 1000))
            elif err.code() != KafkaError._PARTITION_EOF:
                raise KafkaException(err)
    except BaseException as e:  # reported by the test, not lost in the thread
        out.errors.append(e)
    finally:
        consumer.close()


#: The live run's sources: plate reads with button events among them.
LIVE_SOURCES: tuple[Source, ...] = ("plate_reads", "button_presses")


def live_events(n: int) -> tuple[tuple[Source, bytes], list[tuple[Source, bytes]]]:
    """A warm-up press, then ``n`` reads and button events in the city's time order."""
    scenario = Scenario(LIVE_CITY)
    merged = sorted(
        (ts, source, line) for source in LIVE_SOURCES for ts, line, _ in scenario.events(source)
    )
    events = [(source, line) for _, source, line in merged]
    warmup = next(e for e in events if orjson.loads(e[1]).get("action") == "press")
    events.remove(warmup)
    assert len(events) >= n, "LIVE_CITY is too short for the live run"
    return warmup, events[:n]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


@pytest.mark.benchmark(group="kafka_latency_1_worker")
def test_latency_read_to_alert(
    benchmark: Any, broker: BrokerSettings, request: pytest.FixtureRequest
) -> None:
    """Read -> alert latency of the live flow at a steady 2,000 events/s, one worker.

    The benchmarked call is the whole live run (its time is not the figure); the
    latencies go to ``extra_info["latency_ms"]``, which the summary prints.
    """
    seconds = SMOKE_LIVE_SECONDS if _smoke(request.config) else LIVE_SECONDS
    warmup, events = live_events(int(LIVE_RATE * seconds))
    engine = Engine(watchlist=Watchlist.from_rows(Scenario(LIVE_CITY).watchlist_rows()))
    expected = Counter(
        (a.to_dict()["events"][0], a.incident_key)
        for a in engine.process([line for _, line in [warmup, *events]]).alerts
    )
    prefix = _unique("live")
    topics = {source: f"{prefix}.{INPUTS[source][0]}" for source in LIVE_SOURCES}
    create_topics(broker.bootstrap, [TopicSpec(topics[s], INPUTS[s][1]) for s in LIVE_SOURCES])
    alerts_topic, rejects_topic = create_outputs(broker.bootstrap, prefix)
    sent: dict[str, float] = {}  # event_id -> wall time of its produce call
    sent_rate: list[float] = []  # the rate the sender achieved, events/s

    def live_run() -> Received:
        deadline = time.monotonic() + TIMEOUT_S
        received = Received()
        flow_errors: list[BaseException] = []

        def flow() -> None:
            source = LiveKafkaSource(broker.bootstrap, list(topics.values()), deadline)
            alert_sink: KafkaSink[Alert] = KafkaSink(broker.bootstrap, alerts_topic, alert_message)
            reject_sink: KafkaSink[Reject] = KafkaSink(
                broker.bootstrap, rejects_topic, reject_message
            )
            try:
                run_flow(build_alerts_flow(source, engine, alert_sink, reject_sink), workers=1)
            except BaseException as e:  # reported by the test, not lost in the thread
                flow_errors.append(e)

        want = sum(expected.values())
        threads = [
            threading.Thread(target=flow, name="live-flow", daemon=True),
            threading.Thread(
                target=consume_alerts,
                args=(broker.bootstrap, alerts_topic, want, deadline, received),
                name="alert-consumer",
                daemon=True,
            ),
        ]
        for t in threads:
            t.start()
        producer = Producer({**PRODUCER_DEFAULTS, "bootstrap.servers": broker.bootstrap})

        def send(source: Source, line: bytes) -> None:
            sent[orjson.loads(line)["event_id"]] = time.time()
            producer.produce(topics[source], line)
            producer.poll(0)

        try:
            # Warm-up: the flow is up and has delivered an alert before the clock runs.
            send(*warmup)
            producer.flush(30)
            while not received.alerts and time.monotonic() < deadline:
                if flow_errors or received.errors:
                    break
                time.sleep(0.01)
            assert received.alerts, f"no warm-up alert: {flow_errors} {received.errors}"
            start = time.perf_counter()
            for i, (source, line) in enumerate(events):
                pause = start + i / LIVE_RATE - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                send(source, line)
            sent_rate.append(len(events) / (time.perf_counter() - start))
        finally:
            # End every input partition, even on failure, so the flow thread ends.
            for topic in topics.values():
                meta = producer.list_topics(topic, timeout=30)
                for p in meta.topics[topic].partitions:
                    producer.produce(topic, SENTINEL, partition=p)
            undelivered = producer.flush(30)
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
        assert undelivered == 0, f"{undelivered} input events not delivered"
        assert not any(t.is_alive() for t in threads), "the live run did not end in time"
        assert not flow_errors, flow_errors
        assert not received.errors, received.errors
        return received

    received = benchmark.pedantic(live_run, rounds=1, iterations=1)
    # Every alert candidate the engine gives for the sent events arrived, once, as
    # a page or an update of its incident.
    keys = (candidate_key(doc) for doc, _, _ in received.alerts)
    assert Counter(k for k in keys if k is not None) == expected
    warmup_id = orjson.loads(warmup[1])["event_id"]
    to_consumed: list[float] = []
    to_produced: list[float] = []
    for doc, consumed_at, produced_at in received.alerts:
        if warmup_id in doc["events"]:
            continue
        read_at = max(sent[e] for e in doc["events"])
        to_consumed.append((consumed_at - read_at) * 1000)
        to_produced.append((produced_at - read_at) * 1000)
    to_consumed.sort()
    to_produced.sort()
    assert to_consumed, "the live run must raise alerts"
    benchmark.extra_info["latency_ms"] = {
        "alerts measured (a count)": len(to_consumed),
        "events/s sent (a rate)": sent_rate[-1],
        "read -> alert consumed p50": percentile(to_consumed, 0.50),
        "read -> alert consumed p99": percentile(to_consumed, 0.99),
        "read -> alert consumed max": to_consumed[-1],
        "read -> alert produced p50": percentile(to_produced, 0.50),
        "read -> alert produced p99": percentile(to_produced, 0.99),
        "read -> alert produced max": to_produced[-1],
    }
