"""Zones: loading, the boundary rule, and agreement with shapely (a test-only
dependency) on a million random points plus adversarial ones."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from sisec_stream import Zones, ZonesError

Ring = list[list[float]]


def feature(zone_id: str, geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"zone_id": zone_id, **props}, "geometry": geometry}


def rect(x0: float, y0: float, x1: float, y1: float) -> Ring:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def circle(cx: float, cy: float, r: float, n: int) -> Ring:
    pts = [
        [cx + r * math.cos(2 * math.pi * k / n), cy + r * math.sin(2 * math.pi * k / n)]
        for k in range(n)
    ]
    return [*pts, pts[0]]


def collection(features: list[dict[str, Any]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def adversarial_features() -> list[dict[str, Any]]:
    """A quadrant grid (shared edges and vertices), nesting, holes, a multipolygon,
    concave shapes and random circles."""
    feats = []
    for i in range(10):
        for j in range(10):
            feats.append(
                feature(
                    f"Q{i}-{j}",
                    {
                        "type": "Polygon",
                        "coordinates": [rect(i * 0.25, j * 0.25, (i + 1) * 0.25, (j + 1) * 0.25)],
                    },
                    kind="sector",
                )
            )
    feats.append(feature("ALL", {"type": "Polygon", "coordinates": [rect(-0.5, -0.5, 3.0, 3.0)]}))
    feats.append(
        feature(
            "HOLED",
            {
                "type": "Polygon",
                "coordinates": [rect(0.5, 0.5, 2.0, 2.0), rect(0.75, 0.75, 1.25, 1.25)[::-1]],
            },
        )
    )
    feats.append(
        feature(
            "MULTI",
            {
                "type": "MultiPolygon",
                "coordinates": [[rect(2.1, 2.1, 2.4, 2.4)], [rect(2.5, 0.1, 2.9, 0.4)]],
            },
        )
    )
    # A concave "C" shape.
    c_ring = [
        [1.0, 2.2],
        [1.8, 2.2],
        [1.8, 2.3],
        [1.1, 2.3],
        [1.1, 2.7],
        [1.8, 2.7],
        [1.8, 2.8],
        [1.0, 2.8],
        [1.0, 2.2],
    ]
    feats.append(feature("C", {"type": "Polygon", "coordinates": [c_ring]}))
    rng = random.Random(5)
    for k in range(300):
        feats.append(
            feature(
                f"R{k}",
                {
                    "type": "Polygon",
                    "coordinates": [
                        circle(
                            rng.uniform(0, 2.5),
                            rng.uniform(0, 2.5),
                            rng.uniform(0.01, 0.4),
                            rng.randint(3, 40),
                        )
                    ],
                },
            )
        )
    return feats


@pytest.fixture(scope="module")
def zones_and_geoms() -> tuple[Zones, list[Any]]:
    feats = adversarial_features()
    zones = Zones.from_geojson_bytes(collection(feats), "adversarial.geojson")
    return zones, [shape(f["geometry"]) for f in feats]


def shapely_pairs(
    geoms: list[Any], lats: np.ndarray[Any, Any], lons: np.ndarray[Any, Any]
) -> set[tuple[int, int]]:
    tree = shapely.STRtree(geoms)
    points = shapely.points(lons, lats)
    p, z = tree.query(points, predicate="covered_by")
    return set(zip(p.tolist(), z.tolist(), strict=True))


def test_agrees_with_shapely_on_a_million_random_points(
    zones_and_geoms: tuple[Zones, list[Any]],
) -> None:
    zones, geoms = zones_and_geoms
    rng = np.random.default_rng(11)
    lons = rng.uniform(-0.7, 3.2, 1_000_000)
    lats = rng.uniform(-0.7, 3.2, 1_000_000)
    points, found = zones.locate_indices(lats, lons)
    ours = set(zip(points, found, strict=True))
    assert len(ours) == len(points), "a zone is reported once per point"
    assert ours == shapely_pairs(geoms, lats, lons)
    assert len(ours) > 1_000_000, "points fall in several zones"


def test_agrees_with_shapely_on_vertices_and_edges(
    zones_and_geoms: tuple[Zones, list[Any]],
) -> None:
    """Every vertex and every edge midpoint of every zone: the boundary cases."""
    zones, geoms = zones_and_geoms
    xs: list[float] = []
    ys: list[float] = []
    for g in geoms:
        for poly in getattr(g, "geoms", [g]):
            for ring in [poly.exterior, *poly.interiors]:
                coords = list(ring.coords)
                for (x0, y0), (x1, y1) in itertools.pairwise(coords):
                    xs += [x0, (x0 + x1) / 2]
                    ys += [y0, (y0 + y1) / 2]
    lons, lats = np.array(xs), np.array(ys)
    points, found = zones.locate_indices(lats, lons)
    ours = set(zip(points, found, strict=True))
    theirs = shapely_pairs(geoms, lats, lons)
    # Axis-aligned edges and shared vertices are exact in floating point; a
    # circle's edge midpoint may round to either side, where no rule is exact.
    exact = {
        i
        for i, (x, y) in enumerate(zip(xs, ys, strict=True))
        if x * 8 == int(x * 8) or y * 8 == int(y * 8)
    }
    assert {p for p in ours if p[0] in exact} == {p for p in theirs if p[0] in exact}
    assert len(exact) > 800
    # Elsewhere, only points within rounding of the boundary may differ.
    for p, z in ours ^ theirs:
        assert geoms[z].boundary.distance(shapely.Point(xs[p], ys[p])) < 1e-12, (p, z)


def test_boundary_rule_on_a_shared_edge() -> None:
    feats = [
        feature("A", {"type": "Polygon", "coordinates": [rect(0, 0, 1, 1)]}),
        feature("B", {"type": "Polygon", "coordinates": [rect(1, 0, 2, 1)]}),
    ]
    z = Zones.from_geojson_bytes(collection(feats))
    assert [x.zone_id for x in z.locate(0.5, 1.0)] == ["A", "B"]
    assert [x.zone_id for x in z.locate(1.0, 1.0)] == ["A", "B"]
    assert z.locate(0.5, 2.0000001) == []


def test_properties(tmp_path: Path) -> None:
    path = tmp_path / "z.geojson"
    path.write_bytes(
        collection(
            [
                feature(
                    "S-1",
                    {"type": "Polygon", "coordinates": [rect(0, 0, 1, 1)]},
                    name="Colegio San José",
                    kind="school",
                    priority_boost=1,
                    active="06:00-18:00",
                    lists=["wanted", "amber_alert"],
                    allow_list=None,
                )
            ]
        )
    )
    (zone,) = Zones.from_geojson(path).locate(0.5, 0.5)
    assert zone.name == "Colegio San José"
    assert (zone.kind, zone.priority_boost, zone.active) == ("school", 1, ((360, 1080),))
    assert zone.lists == ("wanted", "amber_alert") and zone.allow_list is None


@pytest.mark.parametrize(
    ("geometry", "says"),
    [
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "not closed"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "at least 4"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
            "intersects itself",
        ),
        ({"type": "Polygon", "coordinates": [[[0, 0], [0, 95], [1, 1], [0, 0]]]}, "out of range"),
        ({"type": "Polygon", "coordinates": [rect(6.2, -75.6, 6.3, -75.5)]}, "swapped"),
        ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "Polygon or MultiPolygon"),
    ],
)
def test_invalid_geometry_names_the_feature(geometry: dict[str, Any], says: str) -> None:
    feats = [
        feature("OK", {"type": "Polygon", "coordinates": [rect(-75.6, 6.2, -75.5, 6.3)]}),
        feature("Z-2", geometry),
    ]
    with pytest.raises(ZonesError) as info:
        Zones.from_geojson_bytes(collection(feats), "city.geojson", bbox=(-76.0, 6.0, -75.0, 6.5))
    assert str(info.value).startswith("city.geojson feature 1 (Z-2): "), str(info.value)
    assert says in str(info.value)
    assert (info.value.feature, info.value.zone_id) == (1, "Z-2")


def test_missing_or_repeated_zone_id() -> None:
    poly = {"type": "Polygon", "coordinates": [rect(0, 0, 1, 1)]}
    with pytest.raises(ZonesError, match="feature 0: has no zone_id"):
        Zones.from_geojson_bytes(
            collection([{"type": "Feature", "properties": {}, "geometry": poly}])
        )
    with pytest.raises(ZonesError, match="already used by feature 0"):
        Zones.from_geojson_bytes(collection([feature("A", poly), feature("A", poly)]))
    with pytest.raises(ZonesError, match="cannot read the zones"):
        Zones.from_geojson(Path("/nonexistent/zones.geojson"))


def test_agrees_with_shapely_over_the_demo_city_zones() -> None:
    """A million random points over the generator's zones for Medellín: quadrant
    grid (shared edges), schools, the prison with its courtyard hole, the
    hospitals' multipolygon, the municipality around them all."""
    from sisec_stream.generator import ScenarioConfig
    from sisec_stream.generator.zones import city_zones

    doc = city_zones(ScenarioConfig(seed=7))
    zones = Zones.from_geojson_bytes(json.dumps(doc).encode(), "medellin zones")
    geoms = [shape(f["geometry"]) for f in doc["features"]]
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    rng = np.random.default_rng(3)
    lons = rng.uniform(x0 - 0.01, x1 + 0.01, 1_000_000)
    lats = rng.uniform(y0 - 0.01, y1 + 0.01, 1_000_000)
    points, found = zones.locate_indices(lats, lons)
    assert set(zip(points, found, strict=True)) == shapely_pairs(geoms, lats, lons)
    kinds = {zones.zone(z).kind for z in set(found)}
    assert {"sector", "school", "restricted", "critical", "municipality"} <= kinds
