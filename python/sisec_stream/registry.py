"""Camera and button-device registries: where every fixed sensor is.

A registry is a CSV file. Cameras: ``camera_id``, ``lat``, ``lon`` required;
``heading_deg``, ``site``, ``municipality``, ``region`` optional. Devices:
``device_id``, ``device_kind``, ``lat``, ``lon`` required; ``site``,
``municipality``, ``region`` optional. Other columns are ignored; ``#`` starts a
comment line. Given to an :class:`~sisec_stream.Engine`, a registry places
events that carry no coordinates, and its sensors' zones are computed once, at
load, not per event.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, NamedTuple

from sisec_stream import _core
from sisec_stream.errors import RegistryError

__all__ = ["Registry", "Sensor", "SensorKind"]

SensorKind = Literal["camera", "device"]


class Sensor(NamedTuple):
    """One registered camera or device."""

    id: str
    lat: float
    lon: float
    heading_deg: float | None
    site: str
    municipality: str
    region: str
    device_kind: str | None


class Registry:
    """Sensors of one kind (cameras or devices), by id."""

    __slots__ = ("_inner", "source")

    def __init__(self, _inner: _core.Registry, source: str) -> None:
        self._inner = _inner
        self.source = source

    @classmethod
    def from_csv(cls, path: str | Path, kind: SensorKind) -> Registry:
        """Load a registry file.

        Raises:
            RegistryError: the file is unreadable or a row is invalid (the message
                names the file, the line and what to do).
        """
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as e:
            raise RegistryError(
                f"{p}: cannot read the {kind} registry ({e.strerror}); check the path", str(p)
            ) from e
        return cls.from_csv_bytes(data, kind, str(p))

    @classmethod
    def from_csv_bytes(cls, data: bytes, kind: SensorKind, source: str = "<registry>") -> Registry:
        """Load a registry from memory; ``source`` names it in errors."""
        return cls(_core.Registry.from_csv_bytes(data, source, kind), source)

    @property
    def kind(self) -> SensorKind:
        """``camera`` or ``device``."""
        return "camera" if self._inner.kind == "camera" else "device"

    def get(self, sensor_id: str) -> Sensor | None:
        """The sensor with this id, or None."""
        found = self._inner.get(sensor_id)
        return None if found is None else Sensor(*found)

    def ids(self) -> list[str]:
        """Every sensor id, in file order."""
        return self._inner.ids()

    def __contains__(self, sensor_id: object) -> bool:
        return isinstance(sensor_id, str) and self._inner.get(sensor_id) is not None

    def __len__(self) -> int:
        return len(self._inner)

    def __repr__(self) -> str:
        return f"Registry({self.kind}, {len(self)} sensors from {self.source})"
