"""Sample zones of the demo city as GeoJSON: patrol quadrants, schools, restricted areas.

:func:`city_zones` builds an RFC 7946 FeatureCollection for a scenario: a grid of police
patrol quadrants (cuadrantes) covering the city box, the municipality (the whole box, so
zones nest), schools active in school hours, a prison perimeter with an inner courtyard
(a hole) that only allow-listed plates may enter, and a critical zone made of two
hospital campuses (a MultiPolygon) where only some watchlists alert.

Schools, the prison and the hospitals sit beside the scenario's roads; the prison and the
hospitals are drawn around an LPR camera, so reads do fall inside them. Coordinates are
``[lon, lat]`` rounded to 7 decimals (~1 cm), rings are closed, outer rings run
counter-clockwise and holes clockwise. Every draw comes from RNGs derived from the seed:
the same config gives the same bytes.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from sisec_stream.generator.city import City, build_city, nearest_zone
from sisec_stream.generator.config import ScenarioConfig, derive_rng

__all__ = [
    "ALLOW_LIST",
    "CRITICAL_LISTS",
    "GRID_SIZE",
    "SCHOOL_HOURS",
    "allow_list_names",
    "city_zones",
    "write_zones",
]

#: Quadrants per side of the patrol grid (GRID_SIZE x GRID_SIZE rectangles).
GRID_SIZE: Final = 20
#: Allow list of the restricted perimeter: plates not on it alert there.
ALLOW_LIST: Final = "autorizados_carcel"
#: Watchlists whose hits alert in the critical zone.
CRITICAL_LISTS: Final = ("amber_alert", "wanted")
#: Local time window in which school zones are active.
SCHOOL_HOURS: Final = "06:00-18:00"

_SCHOOLS: Final = 40
_SCHOOL_RADIUS_M: Final = 150.0
_SCHOOL_SPACING_M: Final = 40.0  # least gap between a school and any other drawn zone
_BOX_MARGIN_DEG: Final = 0.0003  # ~33 m: drawn zones keep off the box edge
_DIGITS: Final = 7
_TRIES: Final = 400

# Prison (local frame: u along the road, v across it), metres.
_PRISON_HALF_U: Final = 140.0
_PRISON_HALF_V: Final = 200.0
_PRISON_CHAMFER: Final = 35.0
_COURT_HALF_U: Final = 70.0
_COURT_HALF_V: Final = 45.0
# Hospital campus (an L-shaped block), metres.
_CAMPUS_HALF_U: Final = 160.0
_CAMPUS_HALF_V: Final = 110.0
_CAMPUS_MIN_APART_M: Final = 2500.0

_SCHOOL_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "CO": ("Institución Educativa", "Colegio", "Escuela"),
    "MX": ("Escuela Primaria", "Escuela Secundaria", "Jardín de Niños"),
}
_PRISON_WORD: Final[dict[str, str]] = {
    "CO": "Cárcel y Penitenciaría",
    "MX": "Reclusorio Preventivo",
}
_HOSPITALS_WORD: Final[dict[str, str]] = {
    "CO": "Hospitales de alta complejidad",
    "MX": "Hospitales de alta especialidad",
}

XY = tuple[float, float]
Position = list[float]  # [lon, lat]


class _Frame:
    """A local frame at a road point: ``u`` along the road, ``v`` across it (to its left).

    The basis is a rotation, so a ring counter-clockwise in (u, v) stays counter-clockwise
    on the map.
    """

    def __init__(self, cx: float, cy: float, heading_deg: float) -> None:
        h = math.radians(heading_deg)
        self.cx, self.cy = cx, cy
        self.ux, self.uy = math.sin(h), math.cos(h)  # heading: clockwise from north

    def xy(self, u: float, v: float) -> XY:
        """Projected metres of local point (u, v)."""
        return (self.cx + u * self.ux - v * self.uy, self.cy + u * self.uy + v * self.ux)


def _rect(half_u: float, half_v: float) -> list[XY]:
    """A rectangle centred on the origin, counter-clockwise."""
    return [(-half_u, -half_v), (half_u, -half_v), (half_u, half_v), (-half_u, half_v)]


def _chamfered_rect(half_u: float, half_v: float, c: float) -> list[XY]:
    """An octagon: a rectangle with its corners cut by ``c``, counter-clockwise."""
    return [
        (-half_u + c, -half_v),
        (half_u - c, -half_v),
        (half_u, -half_v + c),
        (half_u, half_v - c),
        (half_u - c, half_v),
        (-half_u + c, half_v),
        (-half_u, half_v - c),
        (-half_u, -half_v + c),
    ]


def _l_block(half_u: float, half_v: float, cut_u: float, cut_v: float) -> list[XY]:
    """A rectangle with its (+u, +v) corner cut out (an L), counter-clockwise."""
    return [
        (-half_u, -half_v),
        (half_u, -half_v),
        (half_u, cut_v),
        (cut_u, cut_v),
        (cut_u, half_v),
        (-half_u, half_v),
    ]


def _close(ring: list[Position]) -> list[Position]:
    """The ring with its first position repeated at the end."""
    return [*ring, list(ring[0])]


def _inside(x: float, y: float, ring: Sequence[XY]) -> bool:
    """Even-odd point-in-polygon test of (x, y) against an open ring."""
    inside = False
    n = len(ring)
    for i in range(n):
        x0, y0 = ring[i]
        x1, y1 = ring[(i + 1) % n]
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


class _Builder:
    """Draws the zones of one city; ``taken`` holds (x, y, radius) of drawn zones."""

    def __init__(self, config: ScenarioConfig, city: City) -> None:
        self.config = config
        self.preset = config.preset
        self.city = city
        self.proj = city.projection
        self.taken: list[tuple[float, float, float]] = []

    # ---------------------------------------------------------------- geometry helpers

    def ring(self, frame: _Frame, local: Sequence[XY]) -> tuple[list[XY], list[Position]]:
        """A local ring in projected metres and as closed, rounded [lon, lat] positions."""
        xy = [frame.xy(u, v) for u, v in local]
        positions: list[Position] = []
        for x, y in xy:
            lat, lon = self.proj.to_latlon(x, y)
            positions.append([round(lon, _DIGITS), round(lat, _DIGITS)])
        return xy, _close(positions)

    def in_box(self, ring: Sequence[Position]) -> bool:
        """Whether every position keeps the margin off the city box edge."""
        p, m = self.preset, _BOX_MARGIN_DEG
        return all(
            p.lon_min + m <= lon <= p.lon_max - m and p.lat_min + m <= lat <= p.lat_max - m
            for lon, lat in ring
        )

    def free(self, x: float, y: float, radius: float) -> bool:
        """Whether a zone of ``radius`` at (x, y) keeps its distance from drawn zones."""
        return all(
            math.hypot(x - tx, y - ty) >= radius + tr + _SCHOOL_SPACING_M
            for tx, ty, tr in self.taken
        )

    def road_point(self, rng: random.Random) -> tuple[float, float, float]:
        """A random point of a road (by length) and the road's heading there; a uniform
        point of the box (heading 0) if the city has no roads."""
        roads = [r for r in self.city.roads if r.length > 0]
        if not roads:
            lat, lon = self.city.box_point(rng)
            x, y = self.proj.to_xy(lat, lon)
            return x, y, 0.0
        road = rng.choices(roads, weights=[r.length for r in roads])[0]
        return road.at(rng.uniform(0.05, 0.95) * road.length)

    def camera_point(self, index: int) -> tuple[float, float, float]:
        """Projected position and heading of camera ``index``."""
        c = self.city
        return c.cam_x[index], c.cam_y[index], c.cameras[index].heading_deg

    def cameras_in(self, outer: Sequence[XY], holes: Sequence[Sequence[XY]] = ()) -> int:
        """Number of cameras inside ``outer`` and outside every hole."""
        c = self.city
        return sum(
            1
            for x, y in zip(c.cam_x, c.cam_y, strict=True)
            if _inside(x, y, outer) and not any(_inside(x, y, h) for h in holes)
        )

    def place_name(self, x: float, y: float) -> str:
        """Name of the populated zone nearest to (x, y)."""
        return nearest_zone(self.preset, self.proj, x, y).name

    # ---------------------------------------------------------------- zones

    def municipality(self) -> dict[str, Any]:
        """The whole city box as one polygon."""
        p = self.preset
        ring = [
            [p.lon_min, p.lat_min],
            [p.lon_max, p.lat_min],
            [p.lon_max, p.lat_max],
            [p.lon_min, p.lat_max],
        ]
        return _feature(
            f"{p.code}-MUN-0001",
            p.name,
            "municipality",
            {"type": "Polygon", "coordinates": [_close(ring)]},
        )

    def quadrants(self) -> list[dict[str, Any]]:
        """A GRID_SIZE x GRID_SIZE grid of rectangles covering the box, numbered from the
        north-west corner row by row; neighbours share the very same edge coordinates."""
        p = self.preset
        n = GRID_SIZE
        lons = [round(p.lon_min + (p.lon_max - p.lon_min) * i / n, _DIGITS) for i in range(n + 1)]
        lats = [round(p.lat_max - (p.lat_max - p.lat_min) * i / n, _DIGITS) for i in range(n + 1)]
        lons[0], lons[-1] = p.lon_min, p.lon_max
        lats[0], lats[-1] = p.lat_max, p.lat_min
        out: list[dict[str, Any]] = []
        for row in range(n):
            north, south = lats[row], lats[row + 1]
            for col in range(n):
                west, east = lons[col], lons[col + 1]
                k = row * n + col + 1
                ring = [[west, south], [east, south], [east, north], [west, north]]
                out.append(
                    _feature(
                        f"{p.code}-CUAD-{k:04d}",
                        f"Cuadrante {k}",
                        "sector",
                        {"type": "Polygon", "coordinates": [_close(ring)]},
                    )
                )
        return out

    def prison(self, rng: random.Random) -> dict[str, Any]:
        """A prison beside a road, its gate camera inside the perimeter, with an inner
        courtyard as a hole; only plates on :data:`ALLOW_LIST` may be read inside.

        Cameras are tried in a seeded order until the perimeter holds exactly one camera
        (else the first fitting try that holds any is kept)."""
        order = list(range(len(self.city.cameras)))
        rng.shuffle(order)
        best: tuple[int, tuple[float, float], list[list[Position]]] | None = None
        for cam in order[:_TRIES]:
            x, y, heading = self.camera_point(cam)
            side = rng.choice((-1.0, 1.0))
            d = rng.uniform(110.0, 160.0)  # camera: inside the wall, outside the courtyard
            angle = heading + rng.uniform(-12.0, 12.0)
            frame = _Frame(x, y, angle)
            centre = frame.xy(0.0, side * d)
            frame = _Frame(*centre, angle)
            outer_xy, outer = self.ring(
                frame, _chamfered_rect(_PRISON_HALF_U, _PRISON_HALF_V, _PRISON_CHAMFER)
            )
            hole_xy, hole = self.ring(frame, _rect(_COURT_HALF_U, _COURT_HALF_V)[::-1])
            if not self.in_box(outer):
                continue
            inside = self.cameras_in(outer_xy, [hole_xy])
            if (inside >= 1 and best is None) or inside == 1:
                best = (inside, centre, [outer, hole])
            if inside == 1:
                break
        if best is None:  # no camera fits: a prison in the middle of the box
            frame = _Frame(0.0, 0.0, 0.0)
            _, outer = self.ring(
                frame, _chamfered_rect(_PRISON_HALF_U, _PRISON_HALF_V, _PRISON_CHAMFER)
            )
            _, hole = self.ring(frame, _rect(_COURT_HALF_U, _COURT_HALF_V)[::-1])
            best = (0, (0.0, 0.0), [outer, hole])
        _, (cx, cy), rings = best
        self.taken.append((cx, cy, math.hypot(_PRISON_HALF_U, _PRISON_HALF_V)))
        p = self.preset
        return _feature(
            f"{p.code}-RES-0001",
            f"{_PRISON_WORD.get(p.country, 'Cárcel')} {self.place_name(cx, cy)}",
            "restricted",
            {"type": "Polygon", "coordinates": rings},
            allow_list=ALLOW_LIST,
        )

    def hospitals(self, rng: random.Random) -> dict[str, Any]:
        """Two hospital campuses, each around a camera beside its road, as one
        MultiPolygon where only hits on :data:`CRITICAL_LISTS` alert."""
        radius = math.hypot(_CAMPUS_HALF_U, _CAMPUS_HALF_V)
        polygons: list[list[list[Position]]] = []
        centres: list[XY] = []
        cams = len(self.city.cameras)
        for _ in range(_TRIES * 2):
            if len(polygons) == 2:
                break
            if cams:
                x, y, heading = self.camera_point(int(rng.random() * cams))
            else:
                x, y, heading = self.road_point(rng)
            d = rng.uniform(50.0, 90.0) * rng.choice((-1.0, 1.0))
            angle = heading + rng.uniform(-10.0, 10.0)
            centre = _Frame(x, y, angle).xy(0.0, d)
            frame = _Frame(*centre, angle)
            cut_u = rng.uniform(0.1, 0.5) * _CAMPUS_HALF_U
            cut_v = rng.uniform(-0.2, 0.4) * _CAMPUS_HALF_V
            _, ring = self.ring(frame, _l_block(_CAMPUS_HALF_U, _CAMPUS_HALF_V, cut_u, cut_v))
            far = all(math.dist(centre, c) >= _CAMPUS_MIN_APART_M for c in centres)
            if far and self.in_box(ring) and self.free(*centre, radius):
                polygons.append([ring])
                centres.append(centre)
        while len(polygons) < 2:  # no room beside the roads: east and west of the centre
            centre = ((2 * len(polygons) - 1) * 3 * _CAMPUS_HALF_U, 0.0)
            _, ring = self.ring(_Frame(*centre, 0.0), _rect(_CAMPUS_HALF_U, _CAMPUS_HALF_V))
            polygons.append([ring])
            centres.append(centre)
        self.taken.extend((cx, cy, radius) for cx, cy in centres)
        p = self.preset
        places = " y ".join(dict.fromkeys(self.place_name(cx, cy) for cx, cy in centres))
        return _feature(
            f"{p.code}-CRI-0001",
            f"{_HOSPITALS_WORD.get(p.country, 'Hospitales')} ({places})",
            "critical",
            {"type": "MultiPolygon", "coordinates": polygons},
            lists=list(CRITICAL_LISTS),
        )

    def schools(self, rng: random.Random) -> list[dict[str, Any]]:
        """About :data:`_SCHOOLS` round school zones of ~150 m radius beside the roads,
        apart from each other and from the other drawn zones."""
        p = self.preset
        words = _SCHOOL_WORDS.get(p.country, ("Escuela",))
        per_place: dict[str, int] = {}
        out: list[dict[str, Any]] = []
        for _ in range(_SCHOOLS * 100):
            if len(out) == _SCHOOLS:
                break
            x, y, heading = self.road_point(rng)
            radius = _SCHOOL_RADIUS_M * rng.uniform(0.9, 1.1)
            d = rng.uniform(40.0, 110.0) * rng.choice((-1.0, 1.0))
            cx, cy = _Frame(x, y, heading).xy(0.0, d)
            n = rng.randint(24, 36)
            phase = rng.random() * 2 * math.pi / n
            local = [
                (
                    radius * math.cos(phase + 2 * math.pi * k / n),
                    radius * math.sin(phase + 2 * math.pi * k / n),
                )
                for k in range(n)
            ]
            _, ring = self.ring(_Frame(cx, cy, 0.0), local)
            if not (self.in_box(ring) and self.free(cx, cy, radius)):
                continue
            self.taken.append((cx, cy, radius))
            place = self.place_name(cx, cy)
            per_place[place] = per_place.get(place, 0) + 1
            out.append(
                _feature(
                    f"{p.code}-ESC-{len(out) + 1:04d}",
                    f"{rng.choice(words)} {place} {per_place[place]}",
                    "school",
                    {"type": "Polygon", "coordinates": [ring]},
                    priority_boost=1,
                    active=SCHOOL_HOURS,
                    timezone=p.timezone,
                )
            )
        return out


def _feature(
    zone_id: str,
    name: str,
    kind: str,
    geometry: dict[str, Any],
    *,
    priority_boost: int | None = None,
    active: str | None = None,
    lists: list[str] | None = None,
    allow_list: str | None = None,
    timezone: str | None = None,
) -> dict[str, Any]:
    """A GeoJSON Feature with the zone properties (optional ones only when set)."""
    props: dict[str, Any] = {"zone_id": zone_id, "name": name, "kind": kind}
    if priority_boost is not None:
        props["priority_boost"] = priority_boost
    if active is not None:
        props["active"] = active
    if lists is not None:
        props["lists"] = lists
    if allow_list is not None:
        props["allow_list"] = allow_list
    if timezone is not None:
        props["timezone"] = timezone
    return {"type": "Feature", "id": zone_id, "properties": props, "geometry": geometry}


def city_zones(config: ScenarioConfig, city: City | None = None) -> dict[str, Any]:
    """The sample zones of ``config``'s city as a GeoJSON FeatureCollection.

    Features, in order: the municipality (the whole box), the GRID_SIZE² patrol quadrants
    (``sector``), about 40 schools (``school``, active :data:`SCHOOL_HOURS`, priority
    boost 1), a prison perimeter with a courtyard hole (``restricted``, allow list
    :data:`ALLOW_LIST`) and two hospital campuses as one MultiPolygon (``critical``,
    lists :data:`CRITICAL_LISTS`).

    Args:
        config: the scenario; its city preset, seed and camera count decide the zones.
        city: the scenario's city (``Scenario.city``); None builds it as
            :class:`~sisec_stream.generator.scenario.Scenario` does (same roads and
            cameras).
    """
    if city is None:
        city = build_city(config.preset, config.cameras, derive_rng(config.seed, "city"))
    b = _Builder(config, city)
    seed = config.seed
    # The large zones first, so the schools keep clear of them.
    restricted = b.prison(derive_rng(seed, "zones/restricted"))
    critical = b.hospitals(derive_rng(seed, "zones/critical"))
    schools = b.schools(derive_rng(seed, "zones/schools"))
    p = config.preset
    return {
        "type": "FeatureCollection",
        "bbox": [p.lon_min, p.lat_min, p.lon_max, p.lat_max],
        "features": [b.municipality(), *b.quadrants(), *schools, restricted, critical],
    }


def allow_list_names(zones: dict[str, Any]) -> list[str]:
    """The allow lists the zones of a FeatureCollection refer to, sorted."""
    names = {f["properties"].get("allow_list") for f in zones["features"]}
    return sorted(n for n in names if isinstance(n, str))


def write_zones(config: ScenarioConfig, path: Path, city: City | None = None) -> dict[str, Any]:
    """Write :func:`city_zones` to ``path`` as one line of UTF-8 JSON; the collection."""
    zones = city_zones(config, city)
    text = json.dumps(zones, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")
    return zones
