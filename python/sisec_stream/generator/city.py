"""The static city: main roads, LPR cameras along them, alarm devices, populated zones.

Roads are the preset's avenues and highways (real control points), densified and given a
little seeded meander. Cameras sit along them, each watching one direction of travel,
so a vehicle driving a road meets the cameras of its lane in order, all with the same
heading as its travel: what de-duplication, cloned-plate and corroboration logic need.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Final

from sisec_stream.generator.config import CityPreset, RoadSpec, Zone

__all__ = ["Camera", "City", "Device", "Projection", "Road", "build_city", "build_devices"]

_M_PER_DEG: Final = 111_320.0
_STEP_M: Final = 200.0  # densified polyline step
_MEANDER_M: Final = 8.0  # lateral noise of densified vertices
_ARCH_SHARE_ON_HIGHWAYS: Final = 0.6
_DEVICE_SPREAD_M: Final = 650.0


@dataclass(frozen=True, slots=True)
class Camera:
    """An LPR camera (or one lane of a highway arch) watching one direction of a road."""

    camera_id: str
    lat: float
    lon: float
    heading_deg: float  # direction of travel of the watched lane, clockwise from north
    site: str
    municipality: str
    kind: str  # "fixed" (RFC 3339 timestamps) or "arch" (highway gantry, epoch-ms)
    road: str


@dataclass(frozen=True, slots=True)
class Device:
    """An alarm device: panic button, community alarm, school link or business aid button."""

    device_id: str
    device_kind: str
    lat: float
    lon: float
    site: str
    municipality: str


@dataclass(frozen=True, slots=True)
class Projection:
    """Local equirectangular projection: metres east (x) and north (y) of the box centre."""

    lat0: float
    lon0: float

    @property
    def kx(self) -> float:
        """Metres per degree of longitude at the box centre."""
        return _M_PER_DEG * math.cos(math.radians(self.lat0))

    def to_xy(self, lat: float, lon: float) -> tuple[float, float]:
        """(lat, lon) -> metres (x east, y north)."""
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * _M_PER_DEG

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        """Metres (x east, y north) -> (lat, lon)."""
        return self.lat0 + y / _M_PER_DEG, self.lon0 + x / self.kx


@dataclass(slots=True)
class Road:
    """A densified road polyline in projected metres."""

    name: str
    kind: str
    xs: list[float]
    ys: list[float]
    cum: list[float]  # distance from the first vertex

    @property
    def length(self) -> float:
        """Length of the road in metres."""
        return self.cum[-1]

    def at(self, s: float) -> tuple[float, float, float]:
        """Point ``s`` metres along the road: (x, y, heading of the forward direction)."""
        i = min(max(bisect.bisect_right(self.cum, s) - 1, 0), len(self.cum) - 2)
        seg = self.cum[i + 1] - self.cum[i]
        f = (s - self.cum[i]) / seg if seg > 0 else 0.0
        dx = self.xs[i + 1] - self.xs[i]
        dy = self.ys[i + 1] - self.ys[i]
        heading = math.degrees(math.atan2(dx, dy)) % 360.0
        return self.xs[i] + f * dx, self.ys[i] + f * dy, heading


@dataclass(slots=True)
class City:
    """Roads, cameras and the lanes that order cameras along each direction of travel."""

    preset: CityPreset
    projection: Projection
    roads: list[Road]
    cameras: list[Camera]
    cam_x: list[float] = field(default_factory=list)
    cam_y: list[float] = field(default_factory=list)
    cam_highway: list[bool] = field(default_factory=list)
    # lanes[k]: camera indices in travel order; lane_pos[k]: travel distance of each (m).
    lanes: list[list[int]] = field(default_factory=list)
    lane_pos: list[list[float]] = field(default_factory=list)
    cam_lane: list[int] = field(default_factory=list)
    cam_lane_idx: list[int] = field(default_factory=list)

    def nearest_zone(self, x: float, y: float) -> Zone:
        """The zone whose centroid is closest to (x, y)."""
        return nearest_zone(self.preset, self.projection, x, y)

    def clamp(self, lat: float, lon: float) -> tuple[float, float]:
        """Clamp a point into the city box."""
        p = self.preset
        return min(max(lat, p.lat_min), p.lat_max), min(max(lon, p.lon_min), p.lon_max)

    def populated_point(self, rng: random.Random, spread_m: float) -> tuple[float, float]:
        """A random (lat, lon) around a zone drawn by population weight."""
        return populated_point(self.preset, self.projection, rng, spread_m)

    def box_point(self, rng: random.Random) -> tuple[float, float]:
        """A uniformly random (lat, lon) in the city box."""
        p = self.preset
        return (
            p.lat_min + rng.random() * (p.lat_max - p.lat_min),
            p.lon_min + rng.random() * (p.lon_max - p.lon_min),
        )


def projection_for(preset: CityPreset) -> Projection:
    """The projection centred on the preset's box."""
    return Projection((preset.lat_min + preset.lat_max) / 2, (preset.lon_min + preset.lon_max) / 2)


def nearest_zone(preset: CityPreset, proj: Projection, x: float, y: float) -> Zone:
    """The zone whose centroid is closest to projected point (x, y)."""
    best = preset.zones[0]
    best_d = math.inf
    for zone in preset.zones:
        zx, zy = proj.to_xy(zone.lat, zone.lon)
        d = (zx - x) ** 2 + (zy - y) ** 2
        if d < best_d:
            best, best_d = zone, d
    return best


def populated_point(
    preset: CityPreset, proj: Projection, rng: random.Random, spread_m: float
) -> tuple[float, float]:
    """A random (lat, lon) scattered around a zone chosen by population weight."""
    zone = rng.choices(preset.zones, weights=[z.weight for z in preset.zones])[0]
    zx, zy = proj.to_xy(zone.lat, zone.lon)
    lat, lon = proj.to_latlon(zx + rng.gauss(0.0, spread_m), zy + rng.gauss(0.0, spread_m))
    return (
        min(max(lat, preset.lat_min), preset.lat_max),
        min(max(lon, preset.lon_min), preset.lon_max),
    )


def _densify(spec: RoadSpec, proj: Projection, rng: random.Random) -> Road:
    pts = [proj.to_xy(lat, lon) for lat, lon in spec.points]
    xs, ys = [pts[0][0]], [pts[0][1]]
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        seg = math.hypot(x1 - x0, y1 - y0)
        n = max(1, math.ceil(seg / _STEP_M))
        nx, ny = (-(y1 - y0) / seg, (x1 - x0) / seg) if seg > 0 else (0.0, 0.0)
        for k in range(1, n + 1):
            f = k / n
            off = rng.gauss(0.0, _MEANDER_M) if k < n else 0.0  # control points stay put
            xs.append(x0 + f * (x1 - x0) + off * nx)
            ys.append(y0 + f * (y1 - y0) + off * ny)
    cum = [0.0]
    for i in range(1, len(xs)):
        cum.append(cum[-1] + math.hypot(xs[i] - xs[i - 1], ys[i] - ys[i - 1]))
    return Road(spec.name, spec.kind, xs, ys, cum)


def _allocate(total: int, weights: list[float]) -> list[int]:
    """Split ``total`` proportionally to ``weights`` (largest remainder, deterministic)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (out[i] - raw[i], i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def _direction_word(heading: float, west_word: str) -> str:
    words = ("norte", "oriente", "sur", west_word)
    return words[int(((heading + 45.0) % 360.0) // 90.0)]


def build_city(preset: CityPreset, n_cameras: int, rng: random.Random) -> City:
    """Lay out roads and ``n_cameras`` cameras; cameras are spread by road length."""
    proj = projection_for(preset)
    roads = [_densify(spec, proj, rng) for spec in preset.roads]
    per_road = _allocate(n_cameras, [r.length for r in roads])
    city = City(preset, proj, roads, [])
    lane_members: dict[tuple[int, int], list[tuple[float, int]]] = {}
    counters = {"fixed": 0, "arch": 0}
    for ri, (road, n) in enumerate(zip(roads, per_road, strict=True)):
        spacing = road.length / max(n, 1)
        for k in range(n):
            s = (k + 0.5 + rng.uniform(-0.3, 0.3)) * spacing
            forward = rng.random() < 0.5
            x, y, heading = road.at(s)
            if not forward:
                heading = (heading + 180.0) % 360.0
            heading = round(heading, 1) % 360.0
            kind = (
                "arch"
                if road.kind == "highway" and rng.random() < _ARCH_SHARE_ON_HIGHWAYS
                else "fixed"
            )
            counters[kind] += 1
            tag = "ARC" if kind == "arch" else "LPR"
            lat, lon = proj.to_latlon(x, y)
            zone = nearest_zone(preset, proj, x, y)
            site = f"{road.name} sentido {_direction_word(heading, preset.west_word)} - {zone.name}"
            idx = len(city.cameras)
            city.cameras.append(
                Camera(
                    camera_id=f"{preset.code}-{tag}-{counters[kind]:04d}",
                    lat=round(lat, 6),
                    lon=round(lon, 6),
                    heading_deg=heading,
                    site=site,
                    municipality=zone.municipality,
                    kind=kind,
                    road=road.name,
                )
            )
            city.cam_x.append(x)
            city.cam_y.append(y)
            city.cam_highway.append(road.kind == "highway")
            travel = s if forward else road.length - s
            lane_members.setdefault((ri, int(forward)), []).append((travel, idx))
    city.cam_lane = [0] * len(city.cameras)
    city.cam_lane_idx = [0] * len(city.cameras)
    for key in sorted(lane_members):
        members = sorted(lane_members[key])
        lane_no = len(city.lanes)
        city.lanes.append([idx for _, idx in members])
        city.lane_pos.append([travel for travel, _ in members])
        for j, (_, idx) in enumerate(members):
            city.cam_lane[idx] = lane_no
            city.cam_lane_idx[idx] = j
    return city


_DEVICE_TAGS: Final = {
    "panic": "PAN",
    "community_alarm": "ALC",
    "school_link": "ENL",
    "business_aid": "AUX",
}
_PANIC_PLACES: Final = ("Estación Metro", "Paradero", "Parque", "Terminal de buses", "Mercado")


def _device_site(kind: str, zone: Zone, n: int, rng: random.Random) -> str:
    if kind == "panic":
        return f"Botón de pánico - {rng.choice(_PANIC_PLACES)} {zone.name} {n}"
    if kind == "community_alarm":
        return f"Alarma comunitaria - Frente de seguridad {zone.name} {n}"
    if kind == "school_link":
        return f"Botón de enlace - Institución educativa {zone.name} {n}"
    return f"Botón de auxilio - Comercio {zone.name} {n}"


def build_devices(preset: CityPreset, n_devices: int, rng: random.Random) -> list[Device]:
    """Place ``n_devices`` alarm devices around populated zones."""
    proj = projection_for(preset)
    kinds = [k for k, _ in preset.device_kinds]
    weights = [w for _, w in preset.device_kinds]
    counters = dict.fromkeys(kinds, 0)
    devices: list[Device] = []
    for _ in range(n_devices):
        kind = rng.choices(kinds, weights=weights)[0]
        counters[kind] += 1
        lat, lon = populated_point(preset, proj, rng, _DEVICE_SPREAD_M)
        zone = nearest_zone(preset, proj, *proj.to_xy(lat, lon))
        devices.append(
            Device(
                device_id=f"{preset.code}-{_DEVICE_TAGS[kind]}-{counters[kind]:04d}",
                device_kind=kind,
                lat=round(lat, 6),
                lon=round(lon, 6),
                site=_device_site(kind, zone, counters[kind], rng),
                municipality=zone.municipality,
            )
        )
    return devices
