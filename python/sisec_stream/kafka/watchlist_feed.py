"""Live watchlist updates from the compacted watchlist topic.

The topic (``sisec.watchlist``, ``cleanup.policy=compact``) holds the latest word
on every entry: the key is the entry id (UTF-8), the value a JSON object with the
CSV columns (``plate`` and ``list`` required; ``priority``, ``valid_from``,
``expires_at``, ``region``, ``make``, ``color``, ``match``, ``note`` optional),
and a null value (tombstone) deletes the entry. Compaction keeps the topic about
as large as the list, so every process simply reads it from the beginning on
start and then follows it: no consumer group, no committed offsets, and each
process (``-i/-a``) holds the whole list.

:class:`WatchlistFeed` does that on a background thread and applies each
message to a live :class:`~sisec_stream.watchlist.Watchlist`, which engines built
on it see from their next batch: matching never pauses for an update. A
malformed message is data, not a crash: it is logged (topic, partition, offset,
why), counted and skipped, and the entry keeps its previous value.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from sisec_stream.errors import ConfigError, SisecError
from sisec_stream.kafka.sink import DeliveryError
from sisec_stream.metrics import WATCHLIST_ACTIONS
from sisec_stream.watchlist import MatchMode, Watchlist

__all__ = [
    "ENTRY_FIELDS",
    "UPDATE_ACTIONS",
    "EntryFields",
    "FeedStats",
    "WatchlistFeed",
    "decode_entry",
    "encode_entry",
    "parse_entry",
    "publish_entry",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The ``action`` of a handled message: applied upsert, applied delete, or skipped.
UPDATE_ACTIONS = WATCHLIST_ACTIONS

#: The fields of an entry message (the watchlist CSV columns but ``entry_id``,
#: which is the message key).
ENTRY_FIELDS = frozenset(
    {
        "plate",
        "list",
        "priority",
        "valid_from",
        "expires_at",
        "region",
        "make",
        "color",
        "match",
        "note",
    }
)

#: Consumer settings of the feed. It reads the whole topic from the beginning on
#: every start and never commits: its progress is the watchlist itself.
FEED_CONSUMER_DEFAULTS: Mapping[str, str | int | bool] = {
    "group.id": "sisec-stream-watchlist",
    "auto.offset.reset": "earliest",
    "fetch.wait.max.ms": 100,
}

#: Detailed log lines for invalid messages per feed; past it they are only
#: counted (a producer stuck sending garbage must not fill the disk).
MAX_LOGGED_INVALID = 1000

#: How long an unknown watchlist topic is given to appear in the metadata (a
#: topic created a moment ago) before it counts as missing.
MISSING_GRACE_S = 3.0

_EPOCH_MS = re.compile(r"-?\d+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class EntryFields:
    """A checked entry message, ready for :meth:`Watchlist.upsert` (times in epoch ms)."""

    plate: str
    list: str
    priority: int | None = None
    valid_from: int | None = None
    expires_at: int | None = None
    region: str | None = None
    make: str | None = None
    color: str | None = None
    match: MatchMode | None = None
    note: str | None = None

    def apply(self, watchlist: Watchlist, entry_id: str) -> None:
        """Add or replace ``entry_id``; raises ``WatchlistError`` if the core refuses it."""
        watchlist.upsert(
            entry_id,
            self.plate,
            self.list,
            priority=self.priority,
            valid_from=self.valid_from,
            expires_at=self.expires_at,
            region=self.region,
            make=self.make,
            color=self.color,
            match=self.match,
            note=self.note,
        )


def _text(doc: Mapping[str, Any], name: str, required: bool = False) -> str | None:
    """A string field, trimmed; empty counts as absent (as an empty CSV cell does)."""
    v = doc.get(name)
    if isinstance(v, str):
        v = v.strip() or None
    if v is None:
        if required:
            raise ValueError(f"{name!r} is missing or empty; every entry needs plate and list")
        return None
    if not isinstance(v, str):
        raise ValueError(f"{name!r} must be a string, got {v!r}")
    return v


def _time(doc: Mapping[str, Any], name: str) -> int | None:
    """RFC 3339 text, a date (midnight UTC) or epoch ms, as the CSV loader reads them."""
    v = doc.get(name)
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        s = v.strip()
        if _EPOCH_MS.fullmatch(s):
            return int(s)
        try:
            if _DATE.fullmatch(s):
                d = date.fromisoformat(s)
                return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)
            t = datetime.fromisoformat(s)
        except ValueError:
            pass
        else:
            if t.tzinfo is not None:
                return int(t.timestamp() * 1000)
    raise ValueError(
        f"{name} {v!r} is not a time; write RFC 3339 with an offset "
        "(2026-11-23T07:00:00-05:00), a date (2026-11-23) or epoch milliseconds"
    )


def parse_entry(doc: object) -> EntryFields:
    """Check one decoded entry message.

    Empty strings count as absent (as empty CSV cells do); ``priority`` may be a
    number or its text. Unknown fields are not an error here (producers may add
    their own, e.g. who changed the entry); :class:`WatchlistFeed` logs them.

    Raises:
        ValueError: why the message cannot be an entry.
    """
    if not isinstance(doc, dict):
        raise ValueError(f"the value must be a JSON object, got {type(doc).__name__}")
    priority = doc.get("priority")
    if isinstance(priority, str) and priority.strip().isdigit():
        priority = int(priority)
    elif isinstance(priority, str) and not priority.strip():
        priority = None
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
        raise ValueError(f"priority {priority!r} must be 1, 2, 3 or 4, or absent")
    match = _text(doc, "match")
    if match is not None and match not in ("exact", "lookalike"):
        raise ValueError(f"match {match!r} must be exact or lookalike, or absent")
    plate, lst = _text(doc, "plate", True), _text(doc, "list", True)
    assert plate is not None and lst is not None  # required: _text raised otherwise
    return EntryFields(
        plate=plate,
        list=lst,
        priority=priority,
        valid_from=_time(doc, "valid_from"),
        expires_at=_time(doc, "expires_at"),
        region=_text(doc, "region"),
        make=_text(doc, "make"),
        color=_text(doc, "color"),
        match="exact" if match == "exact" else ("lookalike" if match else None),
        note=_text(doc, "note"),
    )


def decode_entry(value: bytes) -> tuple[EntryFields, list[str]]:
    """A message value -> the entry and its unknown field names.

    Raises:
        ValueError: not JSON, not an object, or not a valid entry.
    """
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as e:
        raise ValueError(f"the value is not JSON ({e})") from None
    fields = parse_entry(doc)
    return fields, sorted(set(doc) - ENTRY_FIELDS - {"entry_id"})


def _jsonable(v: object) -> object:
    if isinstance(v, datetime):
        if v.tzinfo is None:
            raise ValueError(f"{v!r} has no UTC offset; give an aware datetime")
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


def encode_entry(fields: Mapping[str, object]) -> bytes:
    """The message value for an entry, checked as the feed will check it.

    ``fields`` are the CSV columns (datetimes may be given as aware ``datetime``).

    Raises:
        ValueError: an unknown field or a value the feed would skip.
    """
    unknown = sorted(set(fields) - ENTRY_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown field {unknown[0]!r}; an entry has {', '.join(sorted(ENTRY_FIELDS))} "
            "(the entry id is the message key)"
        )
    doc = {k: _jsonable(v) for k, v in fields.items() if v is not None}
    parse_entry(doc)
    return orjson.dumps(doc)


def publish_entry(
    producer: Any,
    topic: str,
    entry_id: str,
    fields: Mapping[str, object] | None,
    *,
    flush_timeout_s: float | None = 30.0,
) -> None:
    """Publish an entry (``fields``) or its deletion (``None``: a tombstone).

    Args:
        producer: A ``confluent_kafka.Producer``.
        topic: The watchlist topic.
        entry_id: The entry id (the message key).
        fields: The entry's CSV columns, or None to delete the entry.
        flush_timeout_s: Wait this long for the broker's acknowledgement and fail
            if it does not come; None: return at once (bulk publishing: the
            caller flushes and checks).

    Raises:
        ValueError: an empty id or fields the feed would skip (nothing is sent).
        DeliveryError: not acknowledged within ``flush_timeout_s``.
    """
    if not entry_id.strip():
        raise ValueError("an entry id must not be empty")
    value = None if fields is None else encode_entry(fields)
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(f"{err.name()}: {err.str()}")

    for _ in range(600):  # bounded: a full local queue gets up to ~60 s to drain
        try:
            producer.produce(topic, value=value, key=entry_id.encode(), on_delivery=on_delivery)
            break
        except BufferError:
            producer.poll(0.1)
    else:
        raise DeliveryError(f"{topic}: the producer's queue stayed full; {entry_id!r} not sent")
    if flush_timeout_s is None:
        producer.poll(0)
        return
    left = producer.flush(flush_timeout_s)
    if left or errors:
        why = errors[0] if errors else f"not acknowledged within {flush_timeout_s} s"
        raise DeliveryError(f"{topic}: watchlist entry {entry_id!r} was not delivered ({why})")


@dataclass(frozen=True)
class FeedStats:
    """Counts of a feed so far.

    Attributes:
        upserts, removes, invalid: Messages applied as upserts, as deletions, and
            skipped as malformed.
        last_offset: Offset of the last message handled (applied or skipped), or
            None before the first.
        offsets: The same per partition.
    """

    upserts: int = 0
    removes: int = 0
    invalid: int = 0
    last_offset: int | None = None
    offsets: Mapping[int, int] = field(default_factory=dict)


class WatchlistFeed:
    """Follows the watchlist topic on a thread, applying it to a live watchlist.

    Every message read since the start is also kept (latest per key, deletions
    included) as the topic's *overlay*, so that :meth:`replace_base` can swap in
    a whole new file and put the topic's word back on top.

    Args:
        watchlist: The live watchlist engines match against.
        brokers: ``bootstrap.servers``.
        topic: The compacted watchlist topic.
        config: librdkafka overrides (security settings, ...).
        on_update: Called with ``upsert``, ``remove`` or ``invalid`` after each
            message (e.g. a metrics counter).
        on_entries: Called with ``counts_by_list()`` after changes, at most once
            per ``entries_interval_s`` (counting is not per-message work).
        entries_interval_s: Least time between two ``on_entries`` calls.
        poll_timeout_s: Longest wait for messages (bounds update latency and stop time).
    """

    def __init__(
        self,
        watchlist: Watchlist,
        brokers: str,
        topic: str,
        *,
        config: Mapping[str, str | int | bool] | None = None,
        on_update: Callable[[str], None] | None = None,
        on_entries: Callable[[dict[str, int]], None] | None = None,
        entries_interval_s: float = 1.0,
        poll_timeout_s: float = 0.1,
        batch_size: int = 1000,
    ) -> None:
        self.watchlist = watchlist
        self.brokers = brokers
        self.topic = topic
        self.config: dict[str, str | int | bool] = {
            **FEED_CONSUMER_DEFAULTS,
            **(config or {}),
            "bootstrap.servers": brokers,
            # Progress is the list itself: never commit, always read it all.
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
        }
        self.on_update = on_update
        self.on_entries = on_entries
        self.entries_interval_s = entries_interval_s
        self.poll_timeout_s = poll_timeout_s
        self.batch_size = batch_size
        self._lock = threading.Lock()  # the watchlist's writers: messages vs replace_base
        self._overlay: dict[str, EntryFields | None] = {}
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._pending: dict[int, int] = {}  # partition -> high watermark at start, until read
        self._backlog = 0  # messages (at most: compaction leaves gaps) to read at start
        self._consumer: Any = None
        self._thread: threading.Thread | None = None
        self._counts = {a: 0 for a in UPDATE_ACTIONS}
        self._offsets: dict[int, int] = {}
        self._last_offset: int | None = None
        self._logged_invalid = 0
        self._unknown_fields: set[str] = set()
        self._dirty = False
        self._entries_at = float("-inf")
        self.error: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------------

    def start(self, timeout_s: float = 30.0) -> None:
        """Assign every partition at its beginning and start following the topic.

        Raises:
            ConfigError: the topic does not exist.
            SisecError: the broker did not answer within ``timeout_s``.
        """
        if self._thread is not None:
            raise RuntimeError("the feed is already started")
        consumer = Consumer(self.config)
        try:
            parts = self._partitions(consumer, timeout_s)
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in parts])
        except BaseException:
            consumer.close()
            raise
        log.info(
            "watchlist topic %s: %d partition(s), %d message(s) to read before caught up",
            self.topic,
            len(parts),
            self._backlog,
        )
        if not self._pending:
            self._caught_up.set()
        self._consumer = consumer
        self._thread = threading.Thread(
            target=self._run, name=f"watchlist-feed-{self.topic}", daemon=True
        )
        self._thread.start()

    def _partitions(self, consumer: Any, timeout_s: float) -> list[int]:
        """The topic's partitions; notes each non-empty one's high watermark.

        Right after a topic is created its metadata can lag (unknown topic, no
        leader yet) for a moment: that is retried, an unknown topic for
        ``MISSING_GRACE_S``, a missing leader until ``timeout_s``.
        """
        t0 = time.monotonic()
        deadline = t0 + timeout_s
        try:
            while True:  # bounded by the deadline
                left = max(0.1, deadline - time.monotonic())
                tmeta = consumer.list_topics(self.topic, timeout=left).topics.get(self.topic)
                err = tmeta.error if tmeta is not None else None
                unknown = (
                    tmeta is None
                    or not tmeta.partitions
                    or (err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART)
                )
                leaderless = not unknown and (
                    err is not None or any(pm.leader < 0 for pm in tmeta.partitions.values())
                )
                now = time.monotonic()
                if unknown and now - t0 >= MISSING_GRACE_S:
                    raise ConfigError(
                        f"watchlist topic {self.topic!r} does not exist on {self.brokers}; "
                        "create it (sisec-stream kafka topics), or set [watchlist] updates = "
                        "false to run without live updates",
                        key="watchlist.updates",
                    )
                if leaderless and now >= deadline:
                    raise SisecError(
                        f"watchlist topic {self.topic!r} has partitions without a leader "
                        f"after {timeout_s:.0f} s ({err.str() if err is not None else ''})"
                    )
                if not unknown and not leaderless:
                    break
                time.sleep(0.1)
            parts = sorted(tmeta.partitions)
            for p in parts:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, p), timeout=max(0.1, deadline - time.monotonic())
                )
                if high > low:
                    self._pending[p] = high
                    self._backlog += high - low
        except KafkaException as e:
            raise SisecError(
                f"watchlist topic {self.topic!r}: no answer from {self.brokers} within "
                f"{timeout_s:.0f} s ({e}); check [kafka] brokers"
            ) from e
        return parts

    def wait_caught_up(self, timeout: float | None = None) -> bool:
        """True once every message that was in the topic at :meth:`start` is applied."""
        return self._caught_up.wait(timeout)

    @property
    def caught_up(self) -> bool:
        """Has the feed read up to the high watermarks seen at start?"""
        return self._caught_up.is_set()

    @property
    def running(self) -> bool:
        """Is the thread alive (started, not stopped, not failed)?"""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop following the topic and wait (bounded) for the thread to close its consumer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("watchlist feed %s did not stop within %.0f s", self.topic, timeout)

    def __enter__(self) -> WatchlistFeed:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state --------------------------------------------------------------------

    def stats(self) -> FeedStats:
        """Counts and offsets so far (a consistent copy)."""
        with self._lock:
            return FeedStats(
                upserts=self._counts["upsert"],
                removes=self._counts["remove"],
                invalid=self._counts["invalid"],
                last_offset=self._last_offset,
                offsets=dict(self._offsets),
            )

    def replace_base(self, load: Callable[[], T]) -> T:
        """Run ``load`` (which replaces the whole list, e.g. a file reload), then put
        the topic's entries and deletions back on top, with no message applied in
        between. If ``load`` raises, the list is as it was.

        Between the swap and the re-application (a few microseconds per topic
        entry) an engine batch can see the file without the topic's overlay.
        """
        with self._lock:
            result = load()
            for entry_id, fields in self._overlay.items():
                try:
                    if fields is None:
                        self.watchlist.remove(entry_id)
                    else:
                        fields.apply(self.watchlist, entry_id)
                except ValueError as e:  # applied before with the same rules: unexpected
                    log.error("watchlist entry %r from the topic not re-applied: %s", entry_id, e)
            self._dirty = True
            return result

    # -- the thread -----------------------------------------------------------------

    def _run(self) -> None:
        consumer = self._consumer
        try:
            while not self._stop.is_set():
                try:
                    msgs = consumer.consume(self.batch_size, self.poll_timeout_s)
                except KafkaException as e:
                    log.error("watchlist topic %s: %s; retrying", self.topic, e)
                    self._stop.wait(1.0)
                    continue
                for msg in msgs:
                    self._handle(msg)
                self._publish_entries()
        except Exception as e:  # never take the worker down; say so loudly
            self.error = e
            log.exception(
                "watchlist feed %s stopped: live updates are off until restart", self.topic
            )
        finally:
            self._publish_entries(force=True)
            consumer.close()

    def _handle(self, msg: Any) -> None:
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                self._mark_read(msg.partition(), None)
            else:
                log.warning("watchlist topic %s: %s", self.topic, err.str())
            return
        partition, offset = msg.partition(), msg.offset()
        with self._lock:
            action, why = self._apply(msg.key(), msg.value())
            self._counts[action] += 1
            self._offsets[partition] = offset
            self._last_offset = offset
            if action != "invalid":
                self._dirty = True
        if why is not None:
            self._log_invalid(partition, offset, msg.key(), why)
        self._mark_read(partition, offset)
        if self.on_update is not None:
            try:
                self.on_update(action)
            except Exception:  # a metrics callback must not stop live updates
                log.exception("watchlist feed %s: on_update failed", self.topic)

    def _apply(self, key: bytes | None, value: bytes | None) -> tuple[str, str | None]:
        """Apply one message (lock held): (action, why it was skipped or None)."""
        if key is None:
            return "invalid", "no key; the key must be the entry id"
        try:
            entry_id = key.decode("utf-8")
        except UnicodeDecodeError:
            return "invalid", "the key is not UTF-8 text"
        if not entry_id.strip():
            return "invalid", "empty key; the key must be the entry id"
        if value is None:
            self.watchlist.remove(entry_id)
            self._overlay[entry_id] = None
            return "remove", None
        try:
            fields, unknown = decode_entry(value)
            fields.apply(self.watchlist, entry_id)
        except (ValueError, TypeError) as e:  # WatchlistError is a ValueError
            return "invalid", str(e)
        self._overlay[entry_id] = fields
        new = set(unknown) - self._unknown_fields
        if new:
            self._unknown_fields |= new
            log.warning(
                "watchlist topic %s: ignoring unknown field(s) %s (first seen on entry %r); "
                "known: %s",
                self.topic,
                ", ".join(sorted(new)),
                entry_id,
                ", ".join(sorted(ENTRY_FIELDS)),
            )
        return "upsert", None

    def _log_invalid(self, partition: int, offset: int, key: bytes | None, why: str) -> None:
        self._logged_invalid += 1
        if self._logged_invalid > MAX_LOGGED_INVALID:
            return
        log.warning(
            "watchlist topic %s[%d] offset %d (key %r): skipped, the entry keeps its previous "
            "value: %s",
            self.topic,
            partition,
            offset,
            key.decode("utf-8", "replace") if key is not None else None,
            why,
        )
        if self._logged_invalid == MAX_LOGGED_INVALID:
            log.warning(
                "watchlist topic %s: %d invalid messages logged; further ones are only "
                'counted (sisec_watchlist_updates_total{action="invalid"})',
                self.topic,
                MAX_LOGGED_INVALID,
            )

    def _mark_read(self, partition: int, offset: int | None) -> None:
        """Partition read up to its start-time high watermark (or at its end)?"""
        high = self._pending.get(partition)
        if high is None or (offset is not None and offset + 1 < high):
            return
        del self._pending[partition]
        if not self._pending:
            log.info("watchlist topic %s: caught up (%s)", self.topic, self.stats())
            self._caught_up.set()

    def _publish_entries(self, force: bool = False) -> None:
        if self.on_entries is None or not self._dirty:
            return
        now = time.monotonic()
        if not force and now - self._entries_at < self.entries_interval_s:
            return
        self._dirty = False
        self._entries_at = now
        try:
            self.on_entries(self.watchlist.counts_by_list())
        except Exception:
            log.exception("watchlist feed %s: on_entries failed", self.topic)
