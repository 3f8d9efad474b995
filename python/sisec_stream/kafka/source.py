"""A partitioned Bytewax source over confluent-kafka, made for the engine.

One Bytewax partition per Kafka topic-partition; each consumes in large batches
(``Consumer.consume``) and hands the engine the raw value bytes. The resume state
is the next offset to read, kept in Bytewax's recovery store, so Kafka consumer
groups are not used for progress. When a saved offset no longer exists (retention
deleted it) the partition never silently jumps to the end of the topic: it
resumes from the earliest retained offset and logs it, or fails, as configured.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from sisec_stream.errors import SisecError

__all__ = ["CONSUMER_DEFAULTS", "KafkaSource", "LagObserver", "OffsetGoneError"]

log = logging.getLogger(__name__)

#: Consumer settings tuned for both throughput and latency. librdkafka's default
#: fetch.wait.max.ms=500 would hold a panic alert for up to half a second; 10 ms
#: keeps latency low while large fetches keep throughput.
CONSUMER_DEFAULTS: Mapping[str, str | int | bool] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "fetch.wait.max.ms": 10,
    "fetch.min.bytes": 1,
    "queued.min.messages": 100_000,
    "enable.partition.eof": True,
    # Never jump silently: an out-of-range offset becomes an error we handle.
    "auto.offset.reset": "error",
}

OnMissingOffset = Literal["earliest", "fail"]
#: Called with (topic, partition, lag) after every fetch, e.g. ``EngineMetrics.set_lag``.
LagObserver = Callable[[str, int, int], None]


class OffsetGoneError(SisecError, RuntimeError):
    """A saved offset was deleted by retention and the source was told to fail."""


def _part_key(topic: str, partition: int) -> str:
    return f"{partition}-{topic}"


class _KafkaPartition(StatefulSourcePartition[bytes, int]):
    def __init__(
        self,
        config: dict[str, str | int | bool],
        topic: str,
        partition: int,
        resume_at: int | None,
        batch_size: int,
        idle_wait_s: float,
        stop_at_end: bool,
        on_missing_offset: OnMissingOffset,
        on_lag: LagObserver | None,
        stop: threading.Event | None,
    ) -> None:
        self._consumer = Consumer(config)
        self._topic = topic
        self._partition = partition
        self._next = resume_at if resume_at is not None else OFFSET_BEGINNING
        self._consumer.assign([TopicPartition(topic, partition, self._next)])
        self._batch_size = batch_size
        self._idle_wait = timedelta(seconds=idle_wait_s)
        self._awake: datetime | None = None
        self._stop = stop
        self._stop_at_end = stop_at_end
        self._on_missing = on_missing_offset
        self._at_end = False
        self._on_lag = on_lag
        self._tp = TopicPartition(topic, partition)

    def _offset_gone(self, err: KafkaError) -> None:
        low, _high = self._consumer.get_watermark_offsets(
            TopicPartition(self._topic, self._partition), timeout=10
        )
        where = f"{self._topic}[{self._partition}]"
        if self._on_missing == "fail":
            raise OffsetGoneError(
                f"{where}: saved offset {self._next} no longer exists (earliest retained is "
                f"{low}): {err.str()}; restart with on_missing_offset='earliest' to resume "
                f"there, accepting the gap"
            )
        log.warning(
            "%s: saved offset %s no longer exists; resuming at the earliest retained "
            "offset %s (%s messages lost to retention)",
            where,
            self._next,
            low,
            max(0, low - int(self._next)),
        )
        self._next = low
        self._consumer.assign([TopicPartition(self._topic, self._partition, low)])

    def next_batch(self) -> list[bytes]:
        if (self._at_end and self._stop_at_end) or (self._stop is not None and self._stop.is_set()):
            raise StopIteration
        values: list[bytes] = []
        # Never block here: one worker polls all its partitions in turn, so a
        # blocking consume would add its timeout per idle partition to every
        # alert's latency. librdkafka prefetches in the background; when nothing
        # is queued, next_awake parks this partition for ``idle_wait``.
        msgs = self._consumer.consume(self._batch_size, 0)
        self._awake = None if msgs else datetime.now(UTC) + self._idle_wait
        for msg in msgs:
            err = msg.error()
            if err is None:
                value = msg.value()
                # A null value (tombstone) carries no event: skip it but move past it.
                if value is not None:
                    values.append(value)
                offset = msg.offset()
                if offset is not None:
                    self._next = offset + 1
            elif err.code() == KafkaError._PARTITION_EOF:
                # Reported once, after the last message: stop on the next call.
                self._at_end = True
            elif err.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                self._offset_gone(err)
            else:
                raise KafkaException(err)
        if self._on_lag is not None:
            self._report_lag()
        return values

    def _report_lag(self) -> None:
        # Cached watermarks: the high one is refreshed by every fetch response, so
        # this costs no broker round trip.
        _low, high = self._consumer.get_watermark_offsets(self._tp, cached=True)
        if high >= 0 and self._next >= 0 and self._on_lag is not None:
            self._on_lag(self._topic, self._partition, max(0, high - self._next))

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> int:
        return int(self._next)

    def close(self) -> None:
        self._consumer.close()


class KafkaSource(FixedPartitionedSource[bytes, int]):
    """Raw event bytes from Kafka topics, one Bytewax partition per topic-partition.

    Args:
        brokers: ``bootstrap.servers``.
        topics: Topics to read.
        batch_size: Most messages per ``consume`` call.
        idle_wait_s: When a partition has nothing queued, how long before it is
            polled again (bounds the latency it adds; polls never block).
        stop_at_end: End when every partition is at its end (replays, tests);
            False for a stream worker that runs forever.
        on_missing_offset: ``"earliest"`` (resume at the earliest retained offset,
            logged) or ``"fail"`` when a saved offset was deleted by retention.
        config: librdkafka overrides (security settings, ...).
        on_lag: Told each partition's consumer lag after every fetch.
        stop: When set, every partition ends at its next poll (graceful shutdown:
            batches in flight still reach the sinks).
    """

    def __init__(
        self,
        brokers: str,
        topics: Sequence[str],
        *,
        batch_size: int = 5000,
        idle_wait_s: float = 0.002,
        stop_at_end: bool = False,
        on_missing_offset: OnMissingOffset = "earliest",
        config: Mapping[str, str | int | bool] | None = None,
        on_lag: LagObserver | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.topics = list(topics)
        self.on_lag = on_lag
        self.batch_size = batch_size
        self.idle_wait_s = idle_wait_s
        self.stop = stop
        self.stop_at_end = stop_at_end
        self.on_missing_offset = on_missing_offset
        self.config: dict[str, str | int | bool] = {
            **CONSUMER_DEFAULTS,
            "bootstrap.servers": brokers,
            # Required by librdkafka even though offsets live in Bytewax's state.
            "group.id": "sisec-stream",
            **(config or {}),
        }

    def list_parts(self) -> list[str]:
        """Bytewax hook: every partition of every topic."""
        consumer = Consumer(self.config)
        try:
            meta = consumer.list_topics(timeout=30)
            parts = []
            for topic in self.topics:
                tmeta = meta.topics.get(topic)
                if tmeta is None or tmeta.error is not None:
                    raise SisecError(
                        f"topic {topic!r} does not exist on {self.config['bootstrap.servers']}; "
                        "create it (sisec-stream kafka topics)"
                    )
                parts += [_part_key(topic, p) for p in tmeta.partitions]
            return parts
        finally:
            consumer.close()

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _KafkaPartition:
        """Bytewax hook: open one topic-partition at its saved offset."""
        partition, topic = for_part.split("-", 1)
        return _KafkaPartition(
            dict(self.config),
            topic,
            int(partition),
            resume_state,
            self.batch_size,
            self.idle_wait_s,
            self.stop_at_end,
            self.on_missing_offset,
            self.on_lag,
            self.stop,
        )
