"""The engine: batches of raw event bytes in, alerts and rejects out."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, overload

from sisec_stream import _core
from sisec_stream.registry import Registry
from sisec_stream.watchlist import Watchlist
from sisec_stream.zones import Zones

__all__ = [
    "ALERT_KINDS",
    "EVENT_TYPES",
    "REJECT_REASONS",
    "Alert",
    "BatchResult",
    "Engine",
    "EngineConfig",
    "Reject",
]

#: Stable reject reason codes, in the order the parser checks for them.
REJECT_REASONS: tuple[str, ...] = tuple(_core.REJECT_REASONS)
#: Event types of the contract (docs/events.md).
EVENT_TYPES: tuple[str, ...] = tuple(_core.EVENT_TYPES)
#: Alert kinds the engine emits.
ALERT_KINDS: tuple[str, ...] = tuple(_core.ALERT_KINDS)


@dataclass(frozen=True)
class EngineConfig:
    """Engine settings; every field has a default.

    Attributes:
        max_event_bytes: Larger events are rejected as ``too_large``.
        priority: The priority model (``[engine.priority]``, see docs/priority.md):
            base priorities by alert ``kinds``, watchlist ``lists``, ``devices`` and
            ``calls``; ``zones`` boosts by zone kind; ``confidence.score_levels``;
            ``repetition``. Tables merge over the built-in defaults key by key.
        timezone: IANA time zone of zone ``active`` windows when a zone names none.
        unknown_sensor: An event from a camera or device missing from a loaded
            registry is rejected (``reject``, reason ``unknown_sensor``) or placed by
            its own coordinates (``accept``: mobile cameras).
        list_zones: Per-list geofences: hits on the list alert only inside these
            zones (zone ids, or ``kind:<kind>``).
        incidents: The incident stage's settings (de-duplication windows,
            corroboration, presses, heartbeats, call clustering; see
            docs/incidents.md); unset keys keep their defaults.
    """

    max_event_bytes: int = 65_536
    priority: Mapping[str, Any] = field(default_factory=dict)
    timezone: str = "UTC"
    unknown_sensor: Literal["reject", "accept"] = "reject"
    list_zones: Mapping[str, Sequence[str]] = field(default_factory=dict)
    incidents: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The JSON form the Rust core reads."""
        d = asdict(self)
        d["priority"] = _plain(self.priority)
        d["list_zones"] = {k: list(v) for k, v in self.list_zones.items()}
        d["incidents"] = _plain(self.incidents)
        return json.dumps(d)


def _plain(v: Any) -> Any:
    """Nested mappings and sequences as JSON-ready dicts and lists."""
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert for operators.

    ``json`` is the full alert document (see docs/alerts.md); the other attributes
    are the fields routing and sorting need, without parsing it. ``update`` is 0
    for a page and n for the n-th update of the alert with the same ``alert_id``;
    ``corroboration`` marks the update that promotes a weak plate hit because
    another camera read the vehicle (every other update folds a repeated event).
    """

    alert_id: str
    kind: str
    priority: int
    event_time_ms: int
    incident_key: str
    update: int
    json: bytes
    corroboration: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The alert document as a JSON-serializable dict."""
        doc: dict[str, Any] = json.loads(self.json)
        return doc


@dataclass(frozen=True, slots=True)
class Reject:
    """One rejected event, for the dead-letter topic.

    Attributes:
        index: Position of the event in its batch.
        reason: Stable reason code (one of :data:`REJECT_REASONS`).
        field: The field concerned (``plate``, ``vehicle.make``, ``candidates[2].plate``),
            or None when the problem is the whole event.
        detail: What is wrong, for humans.
        raw: The event bytes exactly as received.
        event_id: The event's id when it could be read.
        source: The event type when it could be read.
    """

    index: int
    reason: str
    field: str | None
    detail: str
    raw: bytes
    event_id: str | None
    source: str | None


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch produced. ``accepted + rejected == n_in`` always.

    ``dropped_hits`` counts watchlist hits not alerted because of where they
    happened (a zone that takes other lists, or outside the list's geofence).
    """

    n_in: int
    accepted_by_source: dict[str, int]
    alerts: list[Alert]
    rejects: list[Reject]
    dropped_hits: int = 0

    @property
    def accepted(self) -> int:
        """Events that passed validation."""
        return sum(self.accepted_by_source.values())

    @property
    def rejected(self) -> int:
        """Events turned into rejects."""
        return len(self.rejects)

    def rejects_by_reason(self) -> Counter[str]:
        """Reject counts per reason code."""
        return Counter(r.reason for r in self.rejects)


class Engine:
    """Parses, validates and matches batches of raw events in Rust.

    ``Engine()`` works with the default configuration and an empty watchlist.
    Worker threads may share one engine: :meth:`process` releases the GIL while
    the core runs, and :meth:`set_places` swaps zones and registries between
    batches.
    """

    __slots__ = ("_inner", "cameras", "config", "devices", "watchlist", "zones")

    def __init__(
        self,
        config: EngineConfig | None = None,
        watchlist: Watchlist | None = None,
        *,
        zones: Zones | None = None,
        cameras: Registry | None = None,
        devices: Registry | None = None,
    ) -> None:
        """Build an engine.

        Args:
            zones: Zones to place events in (alerts list them, and they shape
                priorities and filters); None: no zones.
            cameras, devices: Registries; events from registered sensors are
                placed by the registry, others per ``config.unknown_sensor``.
                None: every event is placed by its own coordinates.

        Raises:
            ConfigError: a configuration value is invalid (the message names the key),
                e.g. a ``list_zones`` entry naming a zone that is not in ``zones``.
        """
        self.config = config if config is not None else EngineConfig()
        self.watchlist = watchlist if watchlist is not None else Watchlist()
        self._inner = _core.Engine(
            self.config.to_json(),
            self.watchlist._inner,
            None if zones is None else zones._inner,
            None if cameras is None else cameras._inner,
            None if devices is None else devices._inner,
        )
        self.zones, self.cameras, self.devices = zones, cameras, devices

    def set_places(
        self,
        *,
        zones: Zones | None = None,
        cameras: Registry | None = None,
        devices: Registry | None = None,
    ) -> None:
        """Replace the zones and both registries (a live reload): batches under
        way finish with the previous ones, the next batch uses these.

        Raises:
            ConfigError: a ``list_zones`` entry names no zone of ``zones``;
                nothing is changed.
            ValueError: a registry of the wrong kind.
        """
        self._inner.set_places(
            None if zones is None else zones._inner,
            None if cameras is None else cameras._inner,
            None if devices is None else devices._inner,
        )
        self.zones, self.cameras, self.devices = zones, cameras, devices

    def process(self, events: Sequence[bytes], now_ms: int | None = None) -> BatchResult:
        """Process one batch of raw events (each one JSON event as ``bytes``).

        Never raises on bad data: every malformed event becomes a :class:`Reject`.
        ``now_ms`` (epoch milliseconds) stamps ``emitted_at``; default: the clock.

        Raises:
            TypeError: an item is not ``bytes`` (a programming error, not bad data).
        """
        batch = events if isinstance(events, list) else list(events)
        return _result(batch, self._inner.process(batch, now_ms))

    @overload
    def process_routed(
        self, events: Sequence[bytes], now_ms: int | None = None, *, archive: Literal[False] = ...
    ) -> tuple[BatchResult, list[bytes]]: ...

    @overload
    def process_routed(
        self,
        events: Sequence[bytes],
        now_ms: int | None = None,
        *,
        archive: Literal[True],
        archive_key: bytes | None = None,
    ) -> tuple[BatchResult, list[bytes], dict[str, bytes]]: ...

    def process_routed(
        self,
        events: Sequence[bytes],
        now_ms: int | None = None,
        *,
        archive: bool = False,
        archive_key: bytes | None = None,
    ) -> tuple[BatchResult, list[bytes]] | tuple[BatchResult, list[bytes], dict[str, bytes]]:
        """Process a batch for the incident stage: alert candidates, device events
        and calls become signals, one ``bytes`` batch per shard (index = shard; see
        :mod:`sisec_stream.incidents`); the result has the counts and rejects, and
        no alerts.

        With ``archive=True`` a third item holds the accepted events in normalised
        form for the archive (:mod:`sisec_stream.archive`): per source
        (``plate_read``, ``button_press``, ``call``), newline-delimited JSON with
        one line per accepted event (``ts`` in epoch ms; plate reads with ``hit``),
        ``b""`` when the batch has none. Off by default: nothing is serialised.

        With ``archive_key`` (the archive's pseudonymisation key, 16 to 64 bytes)
        the plate reads are pseudonymised in those lines, as the archive stores
        them: ``plate_token`` on every read and ``token`` on every candidate, and
        a read that is not a hit has ``plate``, ``plate_raw`` and its candidates'
        ``plate`` null (the tokens of :func:`sisec_stream.archive.pseudonym.token`).

        Raises:
            ValueError: ``archive_key`` is not 16 to 64 bytes, or is given
                without ``archive=True``.
        """
        batch = events if isinstance(events, list) else list(events)
        out, shards, archived = self._inner.process_routed(batch, now_ms, archive, archive_key)
        if archived is None:
            return _result(batch, out), shards
        return _result(batch, out), shards, dict(zip(EVENT_TYPES, archived, strict=True))

    @property
    def shards(self) -> int:
        """Shards of the incident stage (``incidents.shards``)."""
        return self._inner.shards

    def __repr__(self) -> str:
        return f"Engine(watchlist={len(self.watchlist)} entries)"


def _result(batch: list[bytes], out: _core._BatchTuple) -> BatchResult:
    n_in, (n_plate, n_button, n_call), alerts, rejects, dropped = out
    return BatchResult(
        n_in=n_in,
        accepted_by_source={"plate_read": n_plate, "button_press": n_button, "call": n_call},
        alerts=[Alert(*a) for a in alerts],
        rejects=[
            Reject(index, reason, fld, detail, batch[index], event_id, source)
            for index, reason, fld, detail, event_id, source in rejects
        ],
        dropped_hits=dropped,
    )
