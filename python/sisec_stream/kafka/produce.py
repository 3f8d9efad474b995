"""``sisec-stream produce``: replay JSON-lines files into the input topics.

Each file goes to the topic of its source (``plate_reads.jsonl`` ->
``sisec.plate-reads``, as ``sisec-stream generate`` names them) unless a topic is
given. Files are interleaved by how far each has been read, so generated files
(each in time order, covering the same span) arrive roughly in time order.
Messages are keyed by the device that produced them (camera, button, call), so
one device's events stay in order on one partition; a line that is not JSON
goes unkeyed, unchanged: rejecting it is the engine's job. Every message is
delivery-checked; failures are counted and reported, never dropped silently.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from confluent_kafka import KafkaError, Message, Producer
from tqdm import tqdm

from sisec_stream.errors import ConfigError
from sisec_stream.files import iter_lines
from sisec_stream.kafka.sink import PRODUCER_DEFAULTS, DeliveryError

__all__ = ["ProduceReport", "message_key", "produce_files", "topic_for_file"]

#: Source name (the generator's file stem) -> RunConfig.topics attribute.
SOURCES = ("plate_reads", "button_presses", "calls")
_KEY_FIELDS = ("camera_id", "device_id", "call_id")
_CHUNK = 2000


@dataclass
class ProduceReport:
    """What was produced: messages per topic, seconds, failed deliveries."""

    sent: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    failed: int = 0

    @property
    def total(self) -> int:
        """Messages sent."""
        return sum(self.sent.values())


def topic_for_file(path: Path, topics: Mapping[str, str], override: str | None) -> str:
    """The topic a file replays into; :class:`ConfigError` says how to choose one."""
    if override:
        return override
    if path.stem in topics:
        return topics[path.stem]
    raise ConfigError(
        f"{path}: no topic for this file: name it after its source "
        f"({', '.join(s + '.jsonl' for s in SOURCES)}) or give --topic",
        key="topic",
    )


def message_key(line: bytes) -> bytes | None:
    """The producing device's id (camera, button, call), or None if unreadable."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, dict):
        for k in _KEY_FIELDS:
            v = doc.get(k)
            if isinstance(v, str):
                return v.encode()
    return None


class _Pacer:
    """Holds a steady overall rate (events/s), sleeping in small steps."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.t0 = time.perf_counter()

    def wait(self, sent: int) -> None:
        if self.rate is None:
            return
        ahead = sent / self.rate - (time.perf_counter() - self.t0)
        if ahead > 0:
            time.sleep(ahead)


def produce_files(
    paths: Sequence[Path],
    brokers: str,
    topics: Mapping[str, str],
    *,
    topic: str | None = None,
    rate: float | None = None,
    progress: bool = True,
    config: Mapping[str, str | int | bool] | None = None,
) -> ProduceReport:
    """Produce every non-blank line of ``paths`` (see the module docstring).

    Args:
        topics: Source name -> topic (``plate_reads`` -> ``sisec.plate-reads``).
        topic: Send every file to this topic instead.
        rate: Events per second overall; ``None``: as fast as the broker takes them.
        config: librdkafka overrides.

    Raises:
        ConfigError: a file is missing or has no topic.
        DeliveryError: messages were not acknowledged (after librdkafka's retries).
    """
    for p in paths:
        if not p.is_file():
            raise ConfigError(f"{p}: no such file; check the path", key="input")
    targets = [topic_for_file(p, topics, topic) for p in paths]
    report = ProduceReport(sent={t: 0 for t in targets})
    failures: list[str] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            failures.append(f"{msg.topic()}: {err.name()}: {err.str()}")

    producer = Producer({**PRODUCER_DEFAULTS, "bootstrap.servers": brokers, **(config or {})})
    sizes = [max(1, p.stat().st_size) for p in paths]
    files = [p.open("rb") for p in paths]
    lines = [iter_lines(f) for f in files]
    done_bytes = [0] * len(paths)
    open_ = set(range(len(paths)))
    bar = tqdm(total=sum(sizes), unit="B", unit_scale=True, disable=not progress, leave=False)
    pacer = _Pacer(rate)
    # Paced: small chunks (~20 ms of events), so the rate is steady, not bursts.
    chunk = _CHUNK if rate is None else max(1, min(_CHUNK, int(rate / 50)))
    t0 = time.perf_counter()
    try:
        while open_:
            # The file least far along goes next: keeps generated files in time order.
            i = min(open_, key=lambda j: done_bytes[j] / sizes[j])
            n = 0
            for line, end in lines[i]:
                while True:
                    try:
                        producer.produce(
                            targets[i], line, message_key(line), on_delivery=on_delivery
                        )
                        break
                    except BufferError:  # local queue full: let deliveries drain
                        producer.poll(0.1)
                bar.update(end - done_bytes[i])
                done_bytes[i] = end
                n += 1
                if n >= chunk:
                    break
            if n < chunk:
                open_.discard(i)
            report.sent[targets[i]] += n
            producer.poll(0)
            pacer.wait(report.total)
        left = producer.flush(float(PRODUCER_DEFAULTS["delivery.timeout.ms"]) / 1000 + 5)
    finally:
        bar.close()
        for f in files:
            f.close()
    report.seconds = time.perf_counter() - t0
    report.failed = len(failures) + left
    if report.failed:
        example = failures[0] if failures else f"{left} still queued after the flush"
        raise DeliveryError(
            f"{report.failed} of {report.total} messages were not delivered (e.g. {example})"
        )
    return report
