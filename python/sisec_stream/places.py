"""Zones and sensor registries for a run: loaded from the configured files, and
reloaded into a running engine when they change."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from sisec_stream.engine import Engine
from sisec_stream.periodic import PeriodicCheck
from sisec_stream.registry import Registry
from sisec_stream.runconfig import RunConfig
from sisec_stream.zones import Zones

__all__ = ["Places", "PlacesReloader", "load_places"]

log = logging.getLogger(__name__)

FileStamp = tuple[int, int, int]


def file_stamp(path: Path) -> FileStamp | None:
    """What tells a changed file: mtime (ns), size and inode (an atomic rename)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Places(NamedTuple):
    """What :meth:`Engine.set_places` takes."""

    zones: Zones | None
    cameras: Registry | None
    devices: Registry | None

    def describe(self) -> str:
        """One line for the log."""
        parts = [
            f"{len(x)} {name}"
            for name, x in (
                ("zones", self.zones),
                ("cameras", self.cameras),
                ("devices", self.devices),
            )
            if x is not None
        ]
        return ", ".join(parts) or "no zones or registries"


def load_places(config: RunConfig) -> Places:
    """The configured zones and registries (None where not configured).

    Raises:
        ZonesError, RegistryError: a file is unreadable or invalid (file, feature
            or line, and the fix).
    """
    return Places(
        None if config.zones_file is None else Zones.from_geojson(config.zones_file),
        None if config.cameras_file is None else Registry.from_csv(config.cameras_file, "camera"),
        None if config.devices_file is None else Registry.from_csv(config.devices_file, "device"),
    )


class PlacesReloader(PeriodicCheck):
    """Reloads the zones and registries into ``engine`` when a file changes.

    Every ``interval_s`` the files' stamps (mtime, size, inode) are compared with
    those of the loaded versions; once a change has held still for one check (a
    file written in place is not read half-way), all of them are loaded aside and
    swapped in at once with :meth:`Engine.set_places` (the next batch uses them;
    fixed sensors' zones are computed there, once). A file that cannot be loaded,
    or zones that a geofence no longer finds, keep the previous places and log
    why; they are tried again when a file changes again.
    """

    name = "places-reloader"

    def __init__(
        self,
        engine: Engine,
        config: RunConfig,
        interval_s: float,
        *,
        on_reload: Callable[[bool], None] | None = None,
        stamps: list[FileStamp | None] | None = None,
    ) -> None:
        super().__init__(interval_s)
        self.engine = engine
        self.config = config
        self.files = config.places_files
        self.on_reload = on_reload
        self._loaded = stamps if stamps is not None else self._stamps()
        self._seen = self._loaded

    def _stamps(self) -> list[FileStamp | None]:
        return [file_stamp(f) for f in self.files]

    def check(self) -> bool:
        """One check; True when new places were swapped in."""
        stamps = self._stamps()
        settled = stamps == self._seen
        self._seen = stamps
        if stamps == self._loaded or not settled or None in stamps:
            return False
        self._loaded = stamps
        try:
            places = load_places(self.config)
            self.engine.set_places(
                zones=places.zones, cameras=places.cameras, devices=places.devices
            )
        except ValueError as e:  # ZonesError, RegistryError, ConfigError: say which
            if self._stamps() != stamps:  # written while read: again once it settles
                log.info("places changed while being read; reading them again")
                self._loaded = []
                return False
            log.error("zones and registries not reloaded, keeping the previous ones: %s", e)
            if self.on_reload is not None:
                self.on_reload(False)
            return False
        log.info("places reloaded: %s", places.describe())
        if self.on_reload is not None:
            self.on_reload(True)
        return True
