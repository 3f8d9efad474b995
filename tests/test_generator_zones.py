"""Tests of the sample city zones (sisec_stream.generator.zones) and their files."""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Point, Polygon, box, shape
from shapely.ops import unary_union

from sisec_stream.generator import Scenario, ScenarioConfig, write_scenario
from sisec_stream.generator.config import CITY_PRESETS, CityPreset
from sisec_stream.generator.zones import (
    ALLOW_LIST,
    CRITICAL_LISTS,
    GRID_SIZE,
    SCHOOL_HOURS,
    allow_list_names,
    city_zones,
    write_zones,
)

CITIES = sorted(CITY_PRESETS)
TINY = ScenarioConfig(
    seed=5,
    duration_s=60,
    cameras=40,
    devices=5,
    calls_per_hour=20,
    watchlist_size=200,
    listed_share=0.05,
)
M_PER_DEG = 111_320.0
_WINDOW = re.compile(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d")


# ---------------------------------------------------------------- helpers


def shoelace(ring: Sequence[Sequence[float]]) -> float:
    """Signed area of a closed ring (positive: counter-clockwise).

    Coordinates are taken relative to the first position: products of raw degrees
    (~75 x 6) would lose the digits of a small area.
    """
    x0, y0 = ring[0]
    xs = [x - x0 for x, _ in ring]
    ys = [y - y0 for _, y in ring]
    return 0.5 * sum(xs[i] * ys[i + 1] - xs[i + 1] * ys[i] for i in range(len(ring) - 1))


def polygons(geometry: dict[str, Any]) -> list[list[list[list[float]]]]:
    """The polygons (lists of rings) of a Polygon or MultiPolygon geometry."""
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    assert geometry["type"] == "MultiPolygon"
    return list(geometry["coordinates"])


def rings(geometry: dict[str, Any]) -> Iterator[tuple[bool, list[list[float]]]]:
    """(is_outer, ring) of every ring of a geometry."""
    for polygon in polygons(geometry):
        for i, ring in enumerate(polygon):
            yield i == 0, ring


def by_kind(zones: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in zones["features"] if f["properties"]["kind"] == kind]


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    kx = M_PER_DEG * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lon2 - lon1) * kx, (lat2 - lat1) * M_PER_DEG)


@pytest.fixture(scope="module", params=CITIES)
def city_case(request: pytest.FixtureRequest) -> tuple[ScenarioConfig, dict[str, Any]]:
    config = ScenarioConfig(city=request.param, seed=3)
    return config, city_zones(config)


# ---------------------------------------------------------------- structure


def test_feature_collection_structure(city_case: tuple[ScenarioConfig, dict[str, Any]]) -> None:
    config, zones = city_case
    p = config.preset
    assert zones["type"] == "FeatureCollection"
    assert zones["bbox"] == [p.lon_min, p.lat_min, p.lon_max, p.lat_max]
    features = zones["features"]
    assert isinstance(features, list) and features
    ids = [f["properties"]["zone_id"] for f in features]
    assert len(ids) == len(set(ids)), [k for k, n in Counter(ids).items() if n > 1]
    for f in features:
        assert f["type"] == "Feature"
        props = f["properties"]
        assert isinstance(props["zone_id"], str) and props["zone_id"].startswith(p.code + "-")
        assert f["id"] == props["zone_id"]
        assert isinstance(props["name"], str) and props["name"]
        assert isinstance(props["kind"], str) and props["kind"]
        assert set(props) <= {
            "zone_id",
            "name",
            "kind",
            "priority_boost",
            "active",
            "lists",
            "allow_list",
            "timezone",
        }
        assert ("timezone" in props) == ("active" in props), "windows say their clock"
        if "priority_boost" in props:
            assert isinstance(props["priority_boost"], int)
        if "active" in props:
            assert _WINDOW.fullmatch(props["active"])
        if "lists" in props:
            assert props["lists"] and all(isinstance(x, str) for x in props["lists"])
        if "allow_list" in props:
            assert isinstance(props["allow_list"], str) and props["allow_list"]
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    kinds = Counter(f["properties"]["kind"] for f in features)
    assert kinds["sector"] == GRID_SIZE * GRID_SIZE
    assert kinds["municipality"] == 1 and kinds["restricted"] == 1 and kinds["critical"] == 1
    assert 30 <= kinds["school"] <= 45


def test_rings_are_closed_in_range_and_inside_the_box(
    city_case: tuple[ScenarioConfig, dict[str, Any]],
) -> None:
    config, zones = city_case
    p = config.preset
    for f in zones["features"]:
        for _, ring in rings(f["geometry"]):
            assert len(ring) >= 4, f["id"]
            assert ring[0] == ring[-1], f["id"]
            assert len({tuple(pos) for pos in ring[:-1]}) == len(ring) - 1, f["id"]
            for pos in ring:
                assert len(pos) == 2 and all(isinstance(c, float) for c in pos), pos
                lon, lat = pos  # RFC 7946: longitude first
                assert -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0
                assert p.lon_min <= lon <= p.lon_max, (f["id"], pos)
                assert p.lat_min <= lat <= p.lat_max, (f["id"], pos)


def test_outer_rings_counter_clockwise_holes_clockwise(
    city_case: tuple[ScenarioConfig, dict[str, Any]],
) -> None:
    _, zones = city_case
    holes = 0
    for f in zones["features"]:
        for outer, ring in rings(f["geometry"]):
            area = shoelace(ring)
            if outer:
                assert area > 0, f["id"]
            else:
                holes += 1
                assert area < 0, f["id"]
    assert holes >= 1


def test_geometries_are_valid(city_case: tuple[ScenarioConfig, dict[str, Any]]) -> None:
    _, zones = city_case
    for f in zones["features"]:
        geom = shape(f["geometry"])
        assert geom.is_valid, f["id"]
        assert geom.area > 0, f["id"]


# ---------------------------------------------------------------- the zones


def test_quadrant_grid_covers_the_box_exactly(
    city_case: tuple[ScenarioConfig, dict[str, Any]],
) -> None:
    config, zones = city_case
    p = config.preset
    sectors = by_kind(zones, "sector")
    box_area = (p.lon_max - p.lon_min) * (p.lat_max - p.lat_min)
    total = sum(shoelace(f["geometry"]["coordinates"][0]) for f in sectors)
    assert math.isclose(total, box_area, rel_tol=1e-9)
    assert sectors[0]["properties"]["zone_id"] == f"{p.code}-CUAD-0001"
    assert sectors[0]["properties"]["name"] == "Cuadrante 1"
    # Neighbours share their edges exactly: every interior edge belongs to two
    # rectangles, every edge on the box boundary to one.
    edges: Counter[tuple[tuple[float, ...], ...]] = Counter()
    for f in sectors:
        ring = f["geometry"]["coordinates"][0]
        assert len(ring) == 5
        for a, b in itertools.pairwise(ring):
            edges[tuple(sorted((tuple(a), tuple(b))))] += 1
    assert Counter(edges.values()) == {1: 4 * GRID_SIZE, 2: 2 * GRID_SIZE * (GRID_SIZE - 1)}
    lons = {pos[0] for f in sectors for pos in f["geometry"]["coordinates"][0]}
    lats = {pos[1] for f in sectors for pos in f["geometry"]["coordinates"][0]}
    assert len(lons) == len(lats) == GRID_SIZE + 1
    assert min(lons) == p.lon_min and max(lons) == p.lon_max
    assert min(lats) == p.lat_min and max(lats) == p.lat_max
    union = unary_union([shape(f["geometry"]) for f in sectors])
    assert union.symmetric_difference(box(p.lon_min, p.lat_min, p.lon_max, p.lat_max)).area < (
        1e-9 * box_area
    )


def test_zones_nest_in_the_municipality(city_case: tuple[ScenarioConfig, dict[str, Any]]) -> None:
    config, zones = city_case
    p = config.preset
    [municipality] = by_kind(zones, "municipality")
    assert municipality["properties"]["name"] == p.name
    outer = municipality["geometry"]["coordinates"][0]
    assert math.isclose(
        shoelace(outer), (p.lon_max - p.lon_min) * (p.lat_max - p.lat_min), rel_tol=1e-9
    )
    area = shape(municipality["geometry"])
    for f in zones["features"]:
        assert area.covers(shape(f["geometry"])), f["id"]


def test_schools_are_round_zones_near_roads(
    city_case: tuple[ScenarioConfig, dict[str, Any]],
) -> None:
    config, zones = city_case
    city = Scenario(config).city
    road_points = [
        city.projection.to_latlon(x, y)
        for road in city.roads
        for x, y in zip(road.xs, road.ys, strict=True)
    ]
    schools = by_kind(zones, "school")
    names = [f["properties"]["name"] for f in schools]
    assert len(names) == len(set(names))
    for f in schools:
        props = f["properties"]
        assert props["active"] == SCHOOL_HOURS == "06:00-18:00"
        assert props["timezone"] == config.preset.timezone
        assert props["priority_boost"] == 1
        ring = f["geometry"]["coordinates"][0]
        assert len(f["geometry"]["coordinates"]) == 1
        assert 24 <= len(ring) - 1 <= 36
        lon0 = sum(pos[0] for pos in ring[:-1]) / (len(ring) - 1)
        lat0 = sum(pos[1] for pos in ring[:-1]) / (len(ring) - 1)
        radii = [distance_m(lon0, lat0, lon, lat) for lon, lat in ring[:-1]]
        assert min(radii) >= 120.0 and max(radii) <= 180.0, radii
        assert max(radii) - min(radii) < 2.0  # a circle
        nearest = min(distance_m(lon0, lat0, lon, lat) for lat, lon in road_points)
        assert nearest < 250.0, (f["id"], nearest)
    # Schools do not overlap each other or the other drawn zones.
    drawn = [shape(f["geometry"]) for f in (*schools, *by_kind(zones, "restricted"))]
    drawn += [shape(f["geometry"]) for f in by_kind(zones, "critical")]
    for i, a in enumerate(drawn):
        for b in drawn[i + 1 :]:
            assert not a.intersects(b)


def test_restricted_perimeter_has_a_hole_and_an_allow_list(
    city_case: tuple[ScenarioConfig, dict[str, Any]],
) -> None:
    config, zones = city_case
    [prison] = by_kind(zones, "restricted")
    assert prison["properties"]["allow_list"] == ALLOW_LIST == "autorizados_carcel"
    assert prison["geometry"]["type"] == "Polygon"
    outer, *holes = prison["geometry"]["coordinates"]
    assert len(holes) == 1
    assert shoelace(outer) > 0 > shoelace(holes[0])
    geom = shape(prison["geometry"])
    assert isinstance(geom, Polygon) and len(geom.interiors) == 1
    # The gate camera stands inside the perimeter, so reads do fall in the zone.
    cameras = Scenario(config).cameras
    assert sum(geom.contains(Point(c.lon, c.lat)) for c in cameras) == 1
    assert allow_list_names(zones) == [ALLOW_LIST]


def test_critical_zone_is_two_separate_campuses(
    city_case: tuple[ScenarioConfig, dict[str, Any]],
) -> None:
    config, zones = city_case
    [critical] = by_kind(zones, "critical")
    assert critical["properties"]["lists"] == list(CRITICAL_LISTS) == ["amber_alert", "wanted"]
    assert critical["geometry"]["type"] == "MultiPolygon"
    parts = [shape({"type": "Polygon", "coordinates": c}) for c in polygons(critical["geometry"])]
    assert len(parts) == 2
    assert parts[0].distance(parts[1]) > 0.01  # ~1 km apart at least
    cameras = Scenario(config).cameras
    for part in parts:
        assert any(part.contains(Point(c.lon, c.lat)) for c in cameras)


# ---------------------------------------------------------------- determinism and files


def test_same_seed_gives_byte_identical_zones(tmp_path: Path) -> None:
    write_zones(TINY, tmp_path / "a.geojson")
    write_zones(TINY, tmp_path / "b.geojson", Scenario(TINY).city)
    write_zones(replace(TINY, seed=6), tmp_path / "c.geojson")
    a = (tmp_path / "a.geojson").read_bytes()
    assert a == (tmp_path / "b.geojson").read_bytes()
    assert a != (tmp_path / "c.geojson").read_bytes()
    # One line of UTF-8 JSON, non-ASCII characters written as they are.
    assert a.endswith(b"}\n") and a.count(b"\n") == 1
    assert "Medellín".encode() in a and b"\\u00ed" not in a
    assert json.loads(a.decode("utf-8")) == city_zones(TINY)


def test_write_scenario_writes_zones_and_allow_lists(tmp_path: Path) -> None:
    summary = write_scenario(TINY, tmp_path / "one", progress=False)
    out = tmp_path / "one"
    zones_bytes = (out / "zones.geojson").read_bytes()
    write_zones(TINY, tmp_path / "alone.geojson")
    assert zones_bytes == (tmp_path / "alone.geojson").read_bytes()
    zones = json.loads(zones_bytes)
    assert summary["files"]["zones"] == "zones.geojson"
    assert summary["files"]["allow_lists"] == "allow_lists.csv"
    assert summary["world"]["zones"] == len(zones["features"])
    saved = json.loads((out / "scenario.json").read_text(encoding="utf-8"))
    assert saved["files"]["zones"] == "zones.geojson"
    assert saved["world"]["zones"] == summary["world"]["zones"]

    with (out / "allow_lists.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) == {"plate", "list"}
    assert summary["world"]["allow_list_entries"] == len(rows)
    assert {r["list"] for r in rows} == {ALLOW_LIST}
    sc = Scenario(TINY)
    fleet = set(sc.fleet.plates)
    listed = {plate for _, plate, _, _ in sc.watchlist}
    plates = [r["plate"] for r in rows]
    assert len(plates) == len(set(plates)) == min(36, len(fleet - listed))
    assert set(plates) <= fleet and not set(plates) & listed

    # The serial writer gives the same zone and allow-list bytes.
    write_scenario(TINY, tmp_path / "two", progress=False, parallel=False)
    for name in ("zones.geojson", "allow_lists.csv"):
        assert (out / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_a_one_camera_city_still_gets_every_zone() -> None:
    preset: CityPreset = CITY_PRESETS["cdmx"]
    zones = city_zones(replace(TINY, city="cdmx", cameras=1))
    kinds = Counter(f["properties"]["kind"] for f in zones["features"])
    assert kinds["restricted"] == kinds["critical"] == 1 and kinds["school"] >= 30
    for f in zones["features"]:
        assert shape(f["geometry"]).is_valid
        for _, ring in rings(f["geometry"]):
            for lon, lat in ring:
                assert preset.lon_min <= lon <= preset.lon_max
                assert preset.lat_min <= lat <= preset.lat_max
