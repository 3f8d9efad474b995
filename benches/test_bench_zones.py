"""Point-in-zone lookups (issue 4), beside shapely.

Run: ``.venv/bin/python -m pytest benches/test_bench_zones.py --benchmark-only``.
5,000 zones over a city-sized box: a 50x50 quadrant grid (shared edges), 2,400
circular perimeters (24-48 vertices) and 100 concave municipalities-like polygons,
nested and overlapping; 200,000 random points. Every benchmark returns the same
(point, zone) pairs (asserted), with the closed-zone rule (shapely ``covered_by``).

- ``test_zones_locate_batch``: ``Zones.locate_indices`` over float64 arrays.
- ``test_baseline_shapely_strtree_vectorized``: ``STRtree.query(points,
  predicate="covered_by")``, shapely's fastest path (the group's baseline).
- ``test_shapely_rtree_prepared_per_point``: an ``rtree`` index and prepared
  geometries, one point at a time: what a Python user writes.
- ``test_zones_build_10k``: building the index for 10,000 zones (target ≤ 200 ms).
"""

from __future__ import annotations

import json
import math
import random
from typing import Any, Final

import numpy as np
import pytest
import rtree
import shapely
from shapely.geometry import shape
from shapely.prepared import prep

from sisec_stream import Zones

GROUP: Final = "zones_5k_points_200k"
BOX: Final = (-75.70, 6.15, -75.50, 6.35)


def _features(n_circles: int, grid: int, n_concave: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    (x0, y0, x1, y1) = BOX
    feats: list[dict[str, Any]] = []
    dx, dy = (x1 - x0) / grid, (y1 - y0) / grid
    for i in range(grid):
        for j in range(grid):
            a, b = x0 + i * dx, y0 + j * dy
            ring = [[a, b], [a + dx, b], [a + dx, b + dy], [a, b + dy], [a, b]]
            feats.append(_feature(f"Q{i}-{j}", [ring]))
    for k in range(n_circles):
        cx, cy, r = rng.uniform(x0, x1), rng.uniform(y0, y1), rng.uniform(0.0005, 0.004)
        n = rng.randint(24, 48)
        pts = [
            [cx + r * math.cos(2 * math.pi * t / n), cy + r * math.sin(2 * math.pi * t / n)]
            for t in range(n)
        ]
        feats.append(_feature(f"C{k}", [[*pts, pts[0]]]))
    for k in range(n_concave):
        cx, cy, r = rng.uniform(x0, x1), rng.uniform(y0, y1), rng.uniform(0.005, 0.03)
        n = 60
        pts = [
            [
                cx + r * (0.6 + 0.4 * (t % 2)) * math.cos(2 * math.pi * t / n),
                cy + r * (0.6 + 0.4 * (t % 2)) * math.sin(2 * math.pi * t / n),
            ]
            for t in range(n)
        ]
        feats.append(_feature(f"M{k}", [[*pts, pts[0]]]))
    return feats


def _feature(zone_id: str, rings: list[list[list[float]]]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"zone_id": zone_id},
        "geometry": {"type": "Polygon", "coordinates": rings},
    }


def _geojson(feats: list[dict[str, Any]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": feats}).encode()


@pytest.fixture(scope="module")
def workload(pytestconfig: pytest.Config) -> dict[str, Any]:
    smoke = bool(pytestconfig.getoption("benchmark_disable"))
    feats = _features(240 if smoke else 2400, 16 if smoke else 50, 10 if smoke else 100, seed=1)
    n = 5_000 if smoke else 200_000
    rng = np.random.default_rng(2)
    lons = rng.uniform(BOX[0], BOX[2], n)
    lats = rng.uniform(BOX[1], BOX[3], n)
    geoms = [shape(f["geometry"]) for f in feats]
    return {
        "feats": feats,
        "zones": Zones.from_geojson_bytes(_geojson(feats)),
        "geoms": geoms,
        "tree": shapely.STRtree(geoms),
        "lats": lats,
        "lons": lons,
    }


def _pairs(points: Any, zones: Any) -> set[tuple[int, int]]:
    return set(zip(list(points), list(zones), strict=True))


@pytest.mark.benchmark(group=GROUP)
def test_zones_locate_batch(benchmark: Any, workload: dict[str, Any]) -> None:
    benchmark.extra_info["events"] = len(workload["lats"])
    points, zones = benchmark(workload["zones"].locate_indices, workload["lats"], workload["lons"])
    tree_p, tree_z = workload["tree"].query(
        shapely.points(workload["lons"], workload["lats"]), predicate="covered_by"
    )
    assert _pairs(points, zones) == _pairs(tree_p.tolist(), tree_z.tolist())


@pytest.mark.benchmark(group=GROUP)
def test_baseline_shapely_strtree_vectorized(benchmark: Any, workload: dict[str, Any]) -> None:
    benchmark.extra_info["events"] = len(workload["lats"])
    tree = workload["tree"]

    def run() -> Any:
        return tree.query(
            shapely.points(workload["lons"], workload["lats"]), predicate="covered_by"
        )

    p, _ = benchmark(run)
    assert len(p) > len(workload["lats"])


@pytest.mark.benchmark(group=GROUP)
def test_shapely_rtree_prepared_per_point(benchmark: Any, workload: dict[str, Any]) -> None:
    geoms = workload["geoms"]
    index = rtree.index.Index()
    for i, g in enumerate(geoms):
        index.insert(i, g.bounds)
    prepared = [prep(g) for g in geoms]
    lats, lons = workload["lats"].tolist(), workload["lons"].tolist()
    # Per-point Python is ~100x slower: a tenth of the points keeps the run short.
    n = len(lats) // 10
    benchmark.extra_info["events"] = n

    def run() -> list[tuple[int, int]]:
        out = []
        for i in range(n):
            pt = shapely.Point(lons[i], lats[i])
            out += [
                (i, z)
                for z in index.intersection((lons[i], lats[i], lons[i], lats[i]))
                if prepared[z].covers(pt)
            ]
        return out

    got = benchmark(run)
    points, zones = workload["zones"].locate_indices(workload["lats"][:n], workload["lons"][:n])
    assert set(got) == _pairs(points, zones)


@pytest.mark.benchmark(group="zones_build_10k")
def test_zones_build_10k(benchmark: Any, pytestconfig: pytest.Config) -> None:
    smoke = bool(pytestconfig.getoption("benchmark_disable"))
    data = _geojson(
        _features(1000 if smoke else 7400, 20 if smoke else 50, 10 if smoke else 100, seed=3)
    )
    zones = benchmark(Zones.from_geojson_bytes, data)
    assert len(zones) == (1000 + 400 + 10 if smoke else 10_000)
    benchmark.extra_info["events"] = len(zones)
