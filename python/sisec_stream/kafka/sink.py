"""Checked Kafka sinks for alerts and rejects.

Every message gets a delivery callback. librdkafka (idempotent producer) retries
what can be retried; a delivery report that still fails is counted, logged and
fails the flow, and each batch is flushed before ``write_batch`` returns, so the
flow never reports progress past messages the broker has not acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import KafkaError, Message, Producer

from sisec_stream.engine import Alert, Reject
from sisec_stream.errors import SisecError

__all__ = [
    "PRODUCER_DEFAULTS",
    "DeliveryError",
    "KafkaSink",
    "alert_message",
    "reject_message",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
Headers = list[tuple[str, str | bytes | None]]
#: (key, value, headers) of one message.
Encoded = tuple[bytes | None, bytes, Headers]

#: Idempotent, acknowledged by all replicas, small linger: alerts must not wait
#: for a batch to fill, but bursts still batch.
PRODUCER_DEFAULTS: Mapping[str, str | int | bool] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "compression.type": "lz4",
    "delivery.timeout.ms": 30_000,
}


class DeliveryError(SisecError, RuntimeError):
    """Messages the broker did not acknowledge after librdkafka's retries."""


def alert_message(alert: Alert) -> Encoded:
    """Key = incident key (one incident's alerts stay ordered), priority in a header."""
    headers: Headers = [("priority", str(alert.priority).encode()), ("kind", alert.kind.encode())]
    return alert.incident_key.encode(), alert.json, headers


def reject_message(reject: Reject) -> Encoded:
    """The original bytes, with the reason code, field and detail in headers."""
    headers: Headers = [("reason", reject.reason.encode()), ("detail", reject.detail.encode())]
    if reject.field is not None:
        headers.append(("field", reject.field.encode()))
    key = reject.event_id.encode() if reject.event_id else None
    return key, reject.raw, headers


class _ProducerPartition(StatelessSinkPartition[T]):
    def __init__(self, sink: KafkaSink[T]) -> None:
        self._sink = sink
        self._producer = Producer(sink.config)
        self._failed: list[str] = []

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failed.append(f"{err.name()}: {err.str()}")
            if self._sink.on_error is not None:
                self._sink.on_error(self._sink.topic, err)

    def write_batch(self, items: list[T]) -> None:
        produce = self._producer.produce
        for item in items:
            key, value, headers = self._sink.encode(item)
            while True:
                try:
                    produce(
                        self._sink.topic,
                        value,
                        key,
                        headers=headers,
                        on_delivery=self._on_delivery,
                    )
                    break
                except BufferError:  # local queue full: let deliveries drain
                    self._producer.poll(0.1)
        left = self._producer.flush(self._sink.flush_timeout_s)
        if left:
            self._failed.append(f"{left} messages not delivered within the flush timeout")
        if self._sink.on_delivered is not None:
            self._sink.on_delivered(self._sink.topic, max(0, len(items) - len(self._failed)))
        if self._failed:
            failures, self._failed = self._failed, []
            log.error(
                "kafka sink %s: %d delivery failures, e.g. %s",
                self._sink.topic,
                len(failures),
                failures[0],
            )
            raise DeliveryError(
                f"{len(failures)} messages to {self._sink.topic} were not delivered "
                f"(e.g. {failures[0]}); the flow stops rather than lose them"
            )

    def close(self) -> None:
        self._producer.flush(self._sink.flush_timeout_s)


class KafkaSink(DynamicSink[T], Generic[T]):
    """Produces items to one topic with delivery checks; one producer per worker.

    Args:
        brokers: ``bootstrap.servers``.
        topic: The topic.
        encode: Item -> (key, value, headers), e.g. :func:`alert_message`.
        on_error: Called for every failed delivery (e.g. to count it in metrics).
        on_delivered: Called after each batch with the number of acknowledged messages.
        flush_timeout_s: Longest wait for a batch's delivery reports (default: the
            producer's ``delivery.timeout.ms`` plus 5 s).
        config: librdkafka overrides.
    """

    def __init__(
        self,
        brokers: str,
        topic: str,
        encode: Callable[[T], Encoded],
        *,
        on_error: Callable[[str, KafkaError], None] | None = None,
        on_delivered: Callable[[str, int], None] | None = None,
        flush_timeout_s: float | None = None,
        config: Mapping[str, str | int | bool] | None = None,
    ) -> None:
        self.topic = topic
        self.encode = encode
        self.on_error = on_error
        self.on_delivered = on_delivered
        self.config: dict[str, str | int | bool] = {
            **PRODUCER_DEFAULTS,
            "bootstrap.servers": brokers,
            **(config or {}),
        }
        # Wait past librdkafka's own delivery timeout, so every message has its
        # delivery report (success or failure) by the time flush returns.
        self.flush_timeout_s = (
            flush_timeout_s
            if flush_timeout_s is not None
            else int(self.config["delivery.timeout.ms"]) / 1000 + 5
        )

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ProducerPartition[T]:
        """Bytewax hook: one producer per worker."""
        return _ProducerPartition(self)
