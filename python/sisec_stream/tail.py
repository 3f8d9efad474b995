"""``sisec-stream alerts``: the operator's view of the alert topic.

Updates fold into their alert (by ``alert_id``; the newest ``update`` wins), so an
incident is one line that keeps changing, never a scroll of repeats. The board
lists alerts most urgent first (then newest first), coloured by priority, and
filters by priority, kind and zone.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import orjson

from sisec_stream.engine import Alert
from sisec_stream.sinks import AlertPrinter

__all__ = ["AlertBoard", "AlertFilter", "follow_alerts"]


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to show (None: any).

    Attributes:
        priorities: Priorities to show, e.g. {1, 2}.
        kinds: Alert kinds to show (``plate_hit``, ``call_incident``, ...).
        zones: Zone ids, zone names (case-insensitive) or ``kind:<zone kind>``; an
            alert is shown when one of its zones matches.
    """

    priorities: frozenset[int] | None = None
    kinds: frozenset[str] | None = None
    zones: frozenset[str] | None = None

    def accepts(self, doc: dict[str, Any]) -> bool:
        """Does the alert document pass the filter?"""
        if self.priorities is not None and doc.get("priority") not in self.priorities:
            return False
        if self.kinds is not None and doc.get("kind") not in self.kinds:
            return False
        if self.zones is not None:
            wanted = {z.casefold() for z in self.zones}
            names = set()
            for z in doc.get("zones", ()):
                names |= {z["zone_id"].casefold(), z["name"].casefold(), f"kind:{z['kind']}"}
            return bool(wanted & names)
        return True


def _alert(doc: dict[str, Any]) -> Alert:
    when = datetime.fromisoformat(str(doc["event_time"]).replace("Z", "+00:00"))
    return Alert(
        alert_id=doc["alert_id"],
        kind=doc["kind"],
        priority=int(doc["priority"]),
        event_time_ms=int(when.timestamp() * 1000),
        incident_key=doc.get("incident_key", ""),
        update=int(doc.get("update", 0)),
        json=orjson.dumps(doc),
    )


class AlertBoard:
    """Alerts by ``alert_id``, each at its newest update."""

    def __init__(self, alert_filter: AlertFilter | None = None) -> None:
        self.filter = alert_filter or AlertFilter()
        self._alerts: dict[str, tuple[Alert, dict[str, Any]]] = {}

    def add(self, doc: dict[str, Any]) -> Alert | None:
        """Fold one alert message in; the alert's new state if it changed and passes
        the filter (the filter looks at the folded state: an alert raised to P1 by
        an update leaves a P2 view), else None."""
        alert = _alert(doc)
        known = self._alerts.get(alert.alert_id)
        if known is not None and known[0].update >= alert.update:
            return None  # a replay, or an older update arriving late
        self._alerts[alert.alert_id] = (alert, doc)
        return alert if self.filter.accepts(doc) else None

    def rows(self) -> list[Alert]:
        """The alerts that pass the filter, most urgent first, then newest first."""
        shown = [a for a, doc in self._alerts.values() if self.filter.accepts(doc)]
        return sorted(shown, key=lambda a: (a.priority, -a.event_time_ms))

    def __len__(self) -> int:
        return len(self._alerts)


def follow_alerts(
    bootstrap: str,
    topic: str,
    *,
    out: IO[str],
    alert_filter: AlertFilter | None = None,
    from_beginning: bool = False,
    once: bool = False,
    colour: bool | None = None,
    utc_offset_minutes: int = 0,
    consumer_config: dict[str, str | int | bool] | None = None,
    idle_exit_s: float | None = None,
) -> AlertBoard:
    """Read the alert topic and show it folded.

    With ``once``, read to the end of every partition, print the board (most
    urgent first) and return. Otherwise print each new or updated alert as it
    arrives (after the board so far, when reading from the beginning) until
    interrupted, or until nothing arrives for ``idle_exit_s``.
    """
    import uuid

    from confluent_kafka import Consumer, KafkaError

    board = AlertBoard(alert_filter)
    printer = AlertPrinter(out, colour=colour, utc_offset_minutes=utc_offset_minutes)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"sisec-alerts-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest" if from_beginning or once else "latest",
            "enable.partition.eof": True,
            **(consumer_config or {}),
        }
    )
    meta = consumer.list_topics(topic, timeout=30)
    if topic not in meta.topics or meta.topics[topic].error is not None:
        consumer.close()
        raise ValueError(f"topic {topic!r} does not exist; check [topics] alerts")
    n_parts = len(meta.topics[topic].partitions)
    consumer.subscribe([topic])
    at_end: set[int] = set()
    caught_up = not (from_beginning or once)
    last_seen = time.monotonic()
    try:
        while True:
            msgs = consumer.consume(500, 0.2)
            if not msgs and idle_exit_s is not None and time.monotonic() - last_seen > idle_exit_s:
                break
            changed: list[Alert] = []
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_end.add(msg.partition() or 0)
                        continue
                    raise RuntimeError(f"reading {topic}: {err.str()}")
                last_seen = time.monotonic()
                try:
                    doc = orjson.loads(msg.value() or b"null")
                except orjson.JSONDecodeError:
                    continue  # not an alert document: nothing to show
                if isinstance(doc, dict) and (alert := board.add(doc)) is not None:
                    changed.append(alert)
            if not caught_up:
                if len(at_end) >= n_parts:
                    caught_up = True
                    _print(printer, board.rows())
                    if once:
                        break
                continue
            _print(printer, sorted(changed, key=lambda a: (a.priority, a.event_time_ms)))
    finally:
        consumer.close()
    return board


def _print(printer: AlertPrinter, alerts: Iterable[Alert]) -> None:
    for alert in alerts:
        print(printer.format(alert), file=printer.stream)
    printer.stream.flush()
