"""Local sinks: JSON-lines files and the operator's terminal.

Kafka sinks live with the Kafka connectors; these serve the embedded demo,
replays and tests. Worker threads of one process share each sink object, so
writes are serialised by a lock and every batch is flushed before returning:
nothing is buffered where a crash could lose it silently.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

import orjson
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from sisec_stream.engine import Alert, Reject

__all__ = ["AlertPrinter", "JsonLinesSink", "alert_line", "reject_line"]

T = TypeVar("T")


def alert_line(alert: Alert) -> bytes:
    """An alert as one JSON line."""
    return alert.json + b"\n"


def reject_line(reject: Reject) -> bytes:
    """A reject as one JSON line: reason, field, detail and the raw event."""
    return orjson.dumps(
        {
            "reason": reject.reason,
            "field": reject.field,
            "detail": reject.detail,
            "event_id": reject.event_id,
            "source": reject.source,
            "raw": reject.raw.decode("utf-8", errors="backslashreplace"),
        },
        option=orjson.OPT_APPEND_NEWLINE,
    )


class _Partition(StatelessSinkPartition[T]):
    def __init__(self, write: Callable[[list[T]], None]) -> None:
        self._write = write

    def write_batch(self, items: list[T]) -> None:
        self._write(items)


class JsonLinesSink(DynamicSink[T], Generic[T]):
    """Appends items as JSON lines to one file shared by this process's workers.

    Args:
        path: The file; created with its folder, truncated unless ``append``.
        encode: Turns an item into one line (bytes ending in a newline).
        on_write: Called with each written batch (e.g. to print or count it).
    """

    def __init__(
        self,
        path: str | Path,
        encode: Callable[[T], bytes],
        *,
        append: bool = False,
        on_write: Callable[[list[T]], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._encode = encode
        self._on_write = on_write
        self._lock = threading.Lock()
        self._file: IO[bytes] = self.path.open("ab" if append else "wb")
        self.written = 0

    def _write(self, items: list[T]) -> None:
        data = b"".join(self._encode(item) for item in items)
        with self._lock:
            self._file.write(data)
            self._file.flush()
            self.written += len(items)
            if self._on_write is not None:
                self._on_write(items)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition[T]:
        """Bytewax hook: one partition per worker, all writing through this object."""
        return _Partition(self._write)

    def close(self) -> None:
        """Close the file (after the flow has finished)."""
        with self._lock:
            self._file.close()


_COLOURS = {1: "\033[1;97;41m", 2: "\033[1;33m", 3: "\033[36m", 4: "\033[2m"}
_RESET = "\033[0m"


def _describe(doc: dict[str, Any]) -> str:
    """What happened, in one short phrase, from the alert's details (its first
    reason when the details are not the ones expected)."""
    try:
        return _describe_details(doc)
    except (KeyError, TypeError):
        reasons: list[str] = doc.get("reasons") or [doc["kind"]]
        return str(reasons[0])


def _describe_details(doc: dict[str, Any]) -> str:
    d = doc.get("details", {})
    if doc["kind"] == "plate_hit":
        return (
            f"{d['listed_plate']} on {d['list']} ({d['entry_id']}): "
            f"read {d['read_plate']!r} by {d['camera_id']}, {d['match']['kind']} match"
        )
    if doc["kind"] == "button_press":
        return f"{d['device_kind']} button {d['device_id']} pressed"
    if doc["kind"] in ("device_offline", "device_restored", "device_tamper"):
        return str(doc["reasons"][0])
    if doc["kind"] == "call_incident":
        n = len(d["call_ids"])
        return f"{n} call(s) about {', '.join(d['incident_types'])}"
    if doc["kind"] == "restricted_zone":
        return f"{d['read_plate']!r} by {d['camera_id']}: not on allow list {d['allow_list']}"
    reasons: list[str] = doc.get("reasons") or [doc["kind"]]
    return reasons[0]


class AlertPrinter:
    """Prints alerts for an operator: each batch most urgent first, in the centre's
    local time, coloured by priority when the stream is a terminal (and
    ``NO_COLOR`` is not set).

    Args:
        stream: Where to print (default: stdout).
        colour: Force colours on or off (default: when ``stream`` is a terminal).
        utc_offset_minutes: The centre's clock (-300 for Medellín, UTC-05:00).
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        colour: bool | None = None,
        utc_offset_minutes: int = 0,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        if colour is None:
            colour = self.stream.isatty() and "NO_COLOR" not in os.environ
        self.colour = colour
        self.tz = timezone(timedelta(minutes=utc_offset_minutes))

    def format(self, alert: Alert) -> str:
        """One line: priority, local event time, kind, what happened and where."""
        doc = alert.to_dict()
        when = datetime.fromtimestamp(alert.event_time_ms / 1000, self.tz).strftime("%H:%M:%S")
        where = ""
        if doc.get("location"):
            where = f" @ {doc['location']['lat']:.5f},{doc['location']['lon']:.5f}"
        # Operators dispatch by zone: name the zones, smallest areas first (the
        # municipality says nothing a centre does not know).
        zones = [z for z in doc.get("zones", ()) if z["kind"] != "municipality"]
        if zones:
            order = {"sector": 1}
            names = [
                z["name"] or z["zone_id"]
                for z in sorted(zones, key=lambda z: order.get(z["kind"], 0))
            ]
            where += " in " + ", ".join(names)
        tag = f"P{alert.priority}"
        tag = f"{_COLOURS.get(alert.priority, '')} {tag} {_RESET}" if self.colour else f"[{tag}]"
        # An update of an alert already paged says so (the operator tail folds them).
        again = f" (update {alert.update})" if alert.update else ""
        return f"{tag} {when} {alert.kind:<12} {_describe(doc)}{where}{again}"

    def __call__(self, alerts: list[Alert]) -> None:
        for alert in sorted(alerts, key=lambda a: (a.priority, a.event_time_ms)):
            print(self.format(alert), file=self.stream)
        self.stream.flush()
