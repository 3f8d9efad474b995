"""The engine's Kafka topics and their creation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sisec_stream.runconfig import Topics

__all__ = ["DEFAULT_TOPICS", "TopicSpec", "create_topics", "topic_specs"]


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create: name, partitions and extra topic configs."""

    name: str
    partitions: int = 1
    config: dict[str, str] = field(default_factory=dict)


#: Default topics. Plate reads get several partitions (they are ~90 % of the
#: traffic and scale out over Bytewax workers); the watchlist topic is compacted
#: (key = entry id, null value = delete).
DEFAULT_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("sisec.plate-reads", 6),
    TopicSpec("sisec.button-presses", 2),
    TopicSpec("sisec.calls", 2),
    TopicSpec("sisec.alerts", 3),
    TopicSpec("sisec.rejects", 1),
    TopicSpec("sisec.watchlist", 1, {"cleanup.policy": "compact"}),
)


def topic_specs(names: Topics) -> list[TopicSpec]:
    """The default topic layout under configured names."""
    by_default = dict(zip(Topics.__dataclass_fields__, DEFAULT_TOPICS, strict=True))
    return [
        TopicSpec(getattr(names, attr), spec.partitions, spec.config)
        for attr, spec in by_default.items()
    ]


def create_topics(
    bootstrap: str, topics: Iterable[TopicSpec] = DEFAULT_TOPICS, timeout: float = 30.0
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    from sisec_stream.kafka.broker import BrokerError

    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as e:
        raise BrokerError(
            f"no Kafka broker answers on {bootstrap} ({e}); start one with "
            "`sisec-stream kafka start` or check the address"
        ) from e
    new = [
        NewTopic(t.name, num_partitions=t.partitions, replication_factor=1, config=t.config)
        for t in topics
        if t.name not in existing
    ]
    if not new:
        return []
    for future in admin.create_topics(new, operation_timeout=timeout).values():
        future.result(timeout)
    return [t.topic for t in new]
