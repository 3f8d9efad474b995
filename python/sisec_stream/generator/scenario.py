"""A scenario: the static world of one config and seed, and its three event streams."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Final, Literal

from sisec_stream.generator.buttons import BUTTON_TRUTH_COLUMNS, button_events
from sisec_stream.generator.calls import CALL_TRUTH_COLUMNS, call_events
from sisec_stream.generator.city import Camera, Device, build_city, build_devices
from sisec_stream.generator.config import ScenarioConfig, derive_rng
from sisec_stream.generator.fleet import build_fleet, build_watchlist
from sisec_stream.generator.plate_reads import (
    PLATE_TRUTH_COLUMNS,
    WARMUP_S,
    build_camera_profiles,
    expected_reads_per_trip,
    plate_read_events,
)

__all__ = ["EVENT_TYPES", "SOURCES", "TRUTH_COLUMNS", "Event", "Scenario", "Source"]

Source = Literal["plate_reads", "button_presses", "calls"]
#: One generated event: epoch-ms time, the JSON line (no newline), its truth record.
Event = tuple[int, bytes, tuple[Any, ...] | None]

SOURCES: Final[tuple[Source, ...]] = ("plate_reads", "button_presses", "calls")
#: Contract ``type`` of each source's events.
EVENT_TYPES: Final[dict[Source, str]] = {
    "plate_reads": "plate_read",
    "button_presses": "button_press",
    "calls": "call",
}
#: Column names of each source's truth records, in tuple order.
TRUTH_COLUMNS: Final[dict[Source, tuple[str, ...]]] = {
    "plate_reads": PLATE_TRUTH_COLUMNS,
    "button_presses": BUTTON_TRUTH_COLUMNS,
    "calls": CALL_TRUTH_COLUMNS,
}


class Scenario:
    """The deterministic world of a :class:`ScenarioConfig` and its event streams.

    Construction builds the static world (roads, cameras, devices, vehicles, watchlist),
    each part from its own RNG derived from the seed. :meth:`events` then streams one
    source in time order with bounded memory; each source has its own RNG, so the streams
    are independent and can be generated in any order or in parallel.

    Attributes:
        config: the configuration.
        cameras: LPR cameras (:class:`~sisec_stream.generator.city.Camera`).
        devices: alarm devices (:class:`~sisec_stream.generator.city.Device`).
        offline_at: device index -> epoch ms after which the device sends nothing.
    """

    def __init__(self, config: ScenarioConfig) -> None:
        self.config = config
        seed = config.seed
        preset = config.preset
        self.city = build_city(preset, config.cameras, derive_rng(seed, "city"))
        self.cameras: list[Camera] = self.city.cameras
        self.devices: list[Device] = build_devices(
            preset, config.devices, derive_rng(seed, "devices")
        )
        self.camera_profiles = build_camera_profiles(self.city, derive_rng(seed, "cameras"))
        self.reads_per_trip = expected_reads_per_trip(self.city)
        reads_per_s = config.cameras * config.reads_per_camera_per_day / 86_400
        self.trip_rate_per_s = reads_per_s / self.reads_per_trip if self.reads_per_trip else 0.0
        # Vehicles sized to the trips: each makes ~1.2 trips in an hour, ~3 in a day.
        trips = self.trip_rate_per_s * (config.duration_s + WARMUP_S)
        per_vehicle = 1.2 + 0.08 * config.duration_s / 3600
        n_vehicles = max(16, math.ceil(trips / per_vehicle))
        self.fleet = build_fleet(
            preset,
            n_vehicles,
            config.listed_share,
            config.watchlist_size,
            derive_rng(seed, "fleet"),
        )
        self._watchlist: list[tuple[str, str, str, str]] | None = None
        orng = derive_rng(seed, "offline")
        n_off = round(config.offline_device_share * len(self.devices))
        duration_ms = config.duration_s * 1000
        self.offline_at: dict[int, int] = {
            i: config.start_ms + int((0.1 + 0.7 * orng.random()) * duration_ms)
            for i in sorted(orng.sample(range(len(self.devices)), n_off))
        }

    @property
    def listed_vehicles(self) -> dict[str, str]:
        """Vehicle id (as in the truth files) -> watchlist entry_id, for listed vehicles."""
        return {f"V{v:07d}": entry for v, entry in sorted(self.fleet.listed.items())}

    @property
    def watchlist(self) -> list[tuple[str, str, str, str]]:
        """Watchlist rows as ``(entry_id, plate, list, priority)``, built on first use."""
        if self._watchlist is None:
            self._watchlist = build_watchlist(
                self.fleet, self.config.preset, derive_rng(self.config.seed, "watchlist")
            )
        return self._watchlist

    def watchlist_rows(self) -> list[dict[str, str]]:
        """Watchlist entries: ``entry_id``, ``plate`` (normalised), ``list``, ``priority``.

        Lists: stolen_vehicle (~70 %), stolen_plate (~15 %), wanted (~12 %), amber_alert
        (~3 %); priority "1" (amber) .. "3" (stolen plate).
        """
        return [
            {"entry_id": e, "plate": p, "list": lst, "priority": prio}
            for e, p, lst, prio in self.watchlist
        ]

    def expected_events(self) -> dict[Source, int]:
        """Approximate number of events per source (for progress bars and sizing)."""
        cfg = self.config
        hours = cfg.duration_s / 3600
        n_dev = len(self.devices)
        heartbeats = n_dev * cfg.duration_s / cfg.heartbeat_interval_s
        heartbeats *= 1 - 0.55 * cfg.offline_device_share
        presses = n_dev * cfg.presses_per_device_per_day * hours / 24 * 1.4
        return {
            "plate_reads": round(cfg.cameras * cfg.reads_per_camera_per_day * hours / 24),
            "button_presses": round(heartbeats + presses),
            "calls": round(cfg.calls_per_hour * hours * 3),
        }

    def events(self, source: Source) -> Iterator[Event]:
        """Stream ``(ts_ms, event_json, truth)`` of one source in non-decreasing ts order.

        The JSON has no trailing newline. The truth tuple follows
        ``TRUTH_COLUMNS[source]``. Each call starts the stream afresh with the same
        result: it is a pure function of the config.

        Raises:
            ValueError: ``source`` is not one of :data:`SOURCES`.
        """
        if source == "plate_reads":
            return plate_read_events(self)
        if source == "button_presses":
            return button_events(self)
        if source == "calls":
            return call_events(self)
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
