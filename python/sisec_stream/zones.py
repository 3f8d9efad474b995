"""Zones (geofences): where each event happened.

Load a GeoJSON FeatureCollection of Polygon / MultiPolygon features (holes
included) with properties ``zone_id`` (required, unique), ``name``, ``kind``,
``priority_boost``, ``active`` (``07:00-18:00``), ``timezone`` (of ``active``; IANA
name), ``lists`` and ``allow_list``.
Lookups run in the Rust core on a grid index.

**Boundary rule:** zones are closed: a point exactly on an edge or a vertex of a
zone (or of one of its holes) is inside it. A car on the line between two
quadrants belongs to both. (shapely's ``covers``, not ``contains``.)
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from sisec_stream import _core
from sisec_stream.errors import ZonesError

__all__ = ["FloatArray", "Zone", "Zones"]

BBox = tuple[float, float, float, float]


class FloatArray(Protocol):
    """Floats for the batch calls: a numpy float64 array, ``array('d')`` or a list."""

    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Zone:
    """One zone's properties.

    Attributes:
        zone_id, name, kind: Identity (``kind``: sector, school, restricted, ...).
        priority_boost: Levels an alert inside is raised (positive) or lowered; None:
            the boost of its kind (``[engine.priority] zones``), if any.
        active: Local windows ``(start_minute, end_minute)``; empty: always.
        lists: Only hits on these watchlist lists alert here; None: all.
        allow_list: A restricted zone: plates NOT on this allow list alert.
        timezone: IANA time zone of ``active``; None: the engine's ``timezone``.
    """

    zone_id: str
    name: str
    kind: str
    priority_boost: int | None = None
    active: tuple[tuple[int, int], ...] = ()
    lists: tuple[str, ...] | None = None
    allow_list: str | None = None
    timezone: str | None = None


class Zones:
    """A set of zones with a point index."""

    __slots__ = ("_inner", "_zones")

    def __init__(self, _inner: _core.Zones) -> None:
        self._inner = _inner
        self._zones: list[Zone] = []
        for i in range(len(_inner)):
            zone_id, name, kind, boost, active, lists, allow, tz = _inner.zone(i)
            self._zones.append(
                Zone(
                    zone_id,
                    name,
                    kind,
                    boost,
                    tuple(active),
                    None if lists is None else tuple(lists),
                    allow,
                    tz,
                )
            )

    @classmethod
    def from_geojson(cls, path: str | Path, *, bbox: BBox | None = None) -> Zones:
        """Load a GeoJSON file.

        Args:
            bbox: (lon0, lat0, lon1, lat1) where the zones are expected; a
                geometry outside it but inside with lat/lon swapped is refused
                as swapped.

        Raises:
            ZonesError: the file is unreadable or a feature is invalid (the
                message names the feature index, its zone_id and what to do).
        """
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as e:
            raise ZonesError(
                f"{p}: cannot read the zones ({e.strerror}); check the path", str(p)
            ) from e
        return cls.from_geojson_bytes(data, str(p), bbox=bbox)

    @classmethod
    def from_geojson_bytes(
        cls, data: bytes, source: str = "<zones>", *, bbox: BBox | None = None
    ) -> Zones:
        """Load GeoJSON from memory; ``source`` names it in errors."""
        return cls(_core.Zones.from_geojson_bytes(data, source, bbox))

    def locate(self, lat: float, lon: float) -> list[Zone]:
        """Every zone covering the point (boundary included)."""
        return [self._zones[i] for i in self._inner.locate(lat, lon)]

    def locate_batch(self, lats: FloatArray, lons: FloatArray) -> list[list[Zone]]:
        """Zones of many points in one call (numpy float64 arrays or
        ``array('d')`` are used without copying into Python floats)."""
        points, zones = self.locate_indices(lats, lons)
        out: list[list[Zone]] = [[] for _ in range(len(lats))]
        for p, z in zip(points, zones, strict=True):
            out[p].append(self._zones[z])
        return out

    def locate_indices(self, lats: FloatArray, lons: FloatArray) -> tuple[array[int], array[int]]:
        """The raw batch result: parallel ``array('I')`` of point and zone indices
        (``numpy.frombuffer(a, numpy.uint32)`` views them without a copy)."""
        return self._inner.locate_batch(_as_buffer(lats), _as_buffer(lons))

    def zone(self, index: int) -> Zone:
        """A zone by index (as in :meth:`locate_indices`)."""
        return self._zones[index]

    def __len__(self) -> int:
        return len(self._zones)

    def __iter__(self) -> Iterator[Zone]:
        """The zones, in file order (their index order)."""
        return iter(self._zones)

    def __repr__(self) -> str:
        return f"Zones({len(self)} zones)"


def _as_buffer(values: FloatArray) -> object:
    """Buffers pass through; other sequences become ``array('d')``."""
    try:
        memoryview(cast(bytes, values))
    except TypeError:
        return array("d", cast(Sequence[float], values))
    return values
