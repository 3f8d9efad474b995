"""Kafka for sisec-stream: a local broker the project starts itself, and topics.

The broker (``broker.py``) is a real single-node Apache Kafka in KRaft mode whose
jars Maven fetches from Maven Central (``pom.xml``); the source and sink
connectors of the alerts flow build on it.
"""

from sisec_stream.kafka.broker import BrokerError, BrokerSettings, BrokerStatus, start, status, stop
from sisec_stream.kafka.topics import DEFAULT_TOPICS, TopicSpec, create_topics

__all__ = [
    "DEFAULT_TOPICS",
    "BrokerError",
    "BrokerSettings",
    "BrokerStatus",
    "TopicSpec",
    "create_topics",
    "start",
    "status",
    "stop",
]
