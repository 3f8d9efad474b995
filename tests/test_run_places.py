"""Zones and registries in ``sisec-stream run``: ``[places]`` files, the engine
placing events with them, and their live reload."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import orjson
import pytest

from sisec_stream.cli import main
from sisec_stream.metrics import EngineMetrics
from sisec_stream.places import PlacesReloader
from sisec_stream.runconfig import RunConfig
from sisec_stream.runner import build_engine
from test_engine_zones import CAMERAS, DEVICES, WATCHLIST, ZONES, _press, _read

CONFIG = """[watchlist]
file = "watchlist.csv"
[watchlist.lists.autorizados]
kind = "allow"
[places]
zones = "zones.geojson"
cameras = "cameras.csv"
devices = "devices.csv"
[engine]
timezone = "America/Bogota"
[metrics]
port = 0
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    for name, data in {
        "watchlist.csv": WATCHLIST,
        "zones.geojson": ZONES,
        "cameras.csv": CAMERAS,
        "devices.csv": DEVICES,
    }.items():
        (tmp_path / name).write_bytes(data)
    path = tmp_path / "sisec.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_replay_places_events_by_registry(config: Path, tmp_path: Path) -> None:
    events = [
        _read("C-SCHOOL", "ABC123"),
        _read("C-NEW", "ABC123"),
        _read("C-PRISON", "XYZ999"),
        _press("D-SCHOOL", "school_link"),
        _press("D-NEW", "panic"),
    ]
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(events) + b"\n")
    out = tmp_path / "out"
    code = main(
        ["run", "-c", str(config), "--out", str(out), "--input", str(tmp_path / "in.jsonl")]
    )
    assert code == 0
    alerts = [orjson.loads(x) for x in (out / "alerts.jsonl").read_bytes().splitlines()]
    rejects = [orjson.loads(x) for x in (out / "rejects.jsonl").read_bytes().splitlines()]
    got = sorted(
        (a["kind"], a["priority"], tuple(z["zone_id"] for z in a["zones"])) for a in alerts
    )
    assert got == [
        ("button_press", 1, ("Q1", "S1")),
        ("plate_hit", 1, ("Q1", "S1")),
        ("restricted_zone", 2, ("Q1", "P1")),
    ]
    assert Counter((r["reason"], r["field"]) for r in rejects) == Counter(
        {("unknown_sensor", "camera_id"): 1, ("unknown_sensor", "device_id"): 1}
    )


def test_bad_places_file_stops_the_run_with_its_line(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cameras.csv").write_bytes(b"camera_id,lat,lon\nC1,6.2,west\n")
    (tmp_path / "in.jsonl").write_bytes(b"")
    code = main(
        ["run", "-c", str(config), "--out", str(tmp_path), "--input", str(tmp_path / "in.jsonl")]
    )
    assert code == 2
    assert f'{tmp_path / "cameras.csv"} line 2: lon "west"' in capsys.readouterr().err


def test_geofence_naming_a_missing_zone_stops_the_run(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config.write_text(CONFIG + "[engine.list_zones]\nwanted = ['S9']\n", encoding="utf-8")
    (tmp_path / "in.jsonl").write_bytes(b"")
    code = main(
        ["run", "-c", str(config), "--out", str(tmp_path), "--input", str(tmp_path / "in.jsonl")]
    )
    assert code == 2
    assert '"S9" matches no zone' in capsys.readouterr().err


def _touch_later(path: Path, data: bytes) -> None:
    """Rewrite a file so that its stamp surely changes (mtime resolution)."""
    path.write_bytes(data)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_places_reload_live_once_settled(config: Path, tmp_path: Path) -> None:
    run_config = RunConfig.load(config)
    engine = build_engine(run_config)
    metrics = EngineMetrics()
    reloader = PlacesReloader(engine, run_config, 1.0, on_reload=metrics.places_reloaded)
    assert engine.process([_read("C-NEW", "ABC123")]).rejects[0].reason == "unknown_sensor"
    assert not reloader.check(), "nothing changed"

    _touch_later(tmp_path / "cameras.csv", CAMERAS + b"C-NEW,1.75,0.25,,Calle 1,Medellin\n")
    assert not reloader.check(), "changed since the last check: wait until it holds still"
    assert reloader.check()
    result = engine.process([_read("C-NEW", "ABC123")])
    assert not result.rejects and [a.to_dict()["site"] for a in result.alerts] == ["Calle 1"]

    # A broken zones file keeps the previous places, counted as a failed reload.
    _touch_later(tmp_path / "zones.geojson", b'{"type":"FeatureCollection"}')
    assert not reloader.check()
    assert not reloader.check()
    assert engine.process([_read("C-NEW", "ABC123")]).alerts
    assert metrics.value("sisec_places_reloads_total", {"outcome": "ok"}) == 1
    assert metrics.value("sisec_places_reloads_total", {"outcome": "failed"}) == 1
