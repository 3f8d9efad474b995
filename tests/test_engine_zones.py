"""Zones and registries in the engine (issue 4): every alert lists its zones,
boosts apply, zone list filters and per-list geofences drop hits, restricted
zones alert on plates missing from their allow list, ``active`` windows are
honoured at event time, and events are placed by the camera/device registry.

The little city: a quadrant Q1 (0..2 x 0..2), a school S1 inside it (boost +1,
06:00-18:00 Bogota time), a hospital H1 (only amber alerts), a prison P1
(restricted, allow list ``autorizados``) and a quiet yard Y1 (boost -1).
Coordinates are (lat, lon) = (y, x) near 0 so the geometry is easy to read.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from conftest import square_zone
from sisec_stream import (
    ConfigError,
    Engine,
    EngineConfig,
    Registry,
    RegistryError,
    Watchlist,
    WatchlistConfig,
    Zones,
)
from sisec_stream.watchlist import ListSettings

# 2026-11-23 12:00 UTC = 07:00 in Bogota (school open); +12 h = 19:00 (closed).
DAY_MS = 1_795_435_200_000
NIGHT_MS = DAY_MS + 12 * 3_600_000


ZONES = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            square_zone("Q1", 0, 0, 2, 2, kind="sector"),
            square_zone(
                "S1",
                0,
                0,
                0.5,
                0.5,
                kind="school",
                priority_boost=1,
                active="06:00-18:00",
                timezone="America/Bogota",
            ),
            square_zone("H1", 1, 1, 1.5, 1.5, kind="critical", lists=["amber_alert"]),
            square_zone("P1", 1.5, 0, 2, 0.5, kind="restricted", allow_list="autorizados"),
            square_zone("Y1", 0.5, 1.5, 1, 2, kind="yard", priority_boost=-1),
        ],
    }
).encode()

CAMERAS = b"""camera_id,lat,lon,heading_deg,site,municipality
C-SCHOOL,0.25,0.25,90,Colegio San Jose,Medellin
C-HOSP,1.25,1.25,,Hospital General,Medellin
C-PRISON,0.25,1.75,,Carcel,Medellin
C-PLAIN,1.75,0.25,,Avenida 80,Medellin
C-YARD,1.75,0.75,,Patio,Medellin
"""
DEVICES = b"""device_id,device_kind,lat,lon,site
D-SCHOOL,school_link,0.1,0.1,Colegio San Jose
D-PLAIN,panic,1.9,0.1,Tienda
"""
WATCHLIST = b"""entry_id,plate,list,priority
SV-1,ABC123,stolen_vehicle,
SP-1,DEF456,stolen_plate,
AA-1,GHI789,amber_alert,
AU-1,JKL012,autorizados,
"""


def _watchlist() -> Watchlist:
    config = WatchlistConfig(lists={"autorizados": ListSettings(kind="allow")})
    return Watchlist.from_csv_bytes(WATCHLIST, "w.csv", config=config)


def _engine(**config: Any) -> Engine:
    return Engine(
        EngineConfig(**config),
        _watchlist(),
        zones=Zones.from_geojson_bytes(ZONES, "zones.geojson"),
        cameras=Registry.from_csv_bytes(CAMERAS, "camera", "cameras.csv"),
        devices=Registry.from_csv_bytes(DEVICES, "device", "devices.csv"),
    )


def _read(camera: str, plate: str, ts: int = DAY_MS, **extra: Any) -> bytes:
    doc = {
        "type": "plate_read",
        "event_id": f"{camera}-{plate}-{ts}",
        "ts": ts,
        "camera_id": camera,
        "plate": plate,
        **extra,
    }
    return orjson.dumps(doc)


def _press(device: str, kind: str, ts: int = DAY_MS) -> bytes:
    doc = {
        "type": "button_press",
        "event_id": f"{device}-{ts}",
        "ts": ts,
        "device_id": device,
        "device_kind": kind,
        "action": "press",
    }
    return orjson.dumps(doc)


def _alerts(engine: Engine, *events: bytes) -> list[dict[str, Any]]:
    result = engine.process(list(events), now_ms=DAY_MS)
    assert result.accepted + result.rejected == result.n_in
    assert not result.rejects, result.rejects
    return [a.to_dict() for a in result.alerts]


def _zone_ids(alert: dict[str, Any]) -> list[str]:
    return sorted(z["zone_id"] for z in alert["zones"])


def test_reads_are_placed_by_the_camera_registry() -> None:
    [alert] = _alerts(_engine(), _read("C-PLAIN", "ABC123"))
    assert alert["location"] == {"lat": 1.75, "lon": 0.25}
    assert alert["site"] == "Avenida 80"
    assert alert["zones"] == [{"zone_id": "Q1", "name": "Zona Q1", "kind": "sector"}]
    assert alert["priority"] == 2
    # A registered camera's own coordinates do not move it: the registry is
    # authoritative for fixed sensors.
    [alert] = _alerts(_engine(), _read("C-PLAIN", "ABC123", lat=5.0, lon=5.0))
    assert alert["location"] == {"lat": 1.75, "lon": 0.25}


def test_unknown_camera_is_rejected_with_its_reason() -> None:
    engine = _engine()
    result = engine.process([_read("C-NEW", "ABC123"), _read("C-PLAIN", "XYZ999")])
    assert (result.accepted, result.rejected) == (1, 1)
    [reject] = result.rejects
    assert (reject.reason, reject.field, reject.index) == ("unknown_sensor", "camera_id", 0)
    assert reject.event_id == f"C-NEW-ABC123-{DAY_MS}" and reject.source == "plate_read"
    assert "C-NEW" in reject.detail and "registry" in reject.detail
    press = engine.process([_press("D-NEW", "panic")])
    assert [(r.reason, r.field) for r in press.rejects] == [("unknown_sensor", "device_id")]


def test_unknown_camera_accepted_by_config_is_placed_by_its_coordinates() -> None:
    engine = _engine(unknown_sensor="accept")
    [alert] = _alerts(engine, _read("MOBILE-7", "ABC123", lat=0.25, lon=0.25))
    assert _zone_ids(alert) == ["Q1", "S1"]
    assert "site" not in alert
    [alert] = _alerts(engine, _read("MOBILE-7", "ABC123"))
    assert alert["zones"] == [] and alert["location"] is None


def test_zone_boost_raises_priority_with_a_reason() -> None:
    [alert] = _alerts(_engine(), _read("C-SCHOOL", "ABC123"))
    assert _zone_ids(alert) == ["Q1", "S1"]
    assert alert["priority"] == 1, "stolen_vehicle is P2; the school raises it"
    assert any("Zona S1 (school) raises the priority: P2 -> P1" in r for r in alert["reasons"])
    [press] = _alerts(_engine(), _press("D-SCHOOL", "community_alarm"))
    assert press["priority"] == 1 and _zone_ids(press) == ["Q1", "S1"]
    # A negative boost lowers.
    [alert] = _alerts(_engine(), _read("C-YARD", "ABC123"))
    assert alert["priority"] == 3
    assert any("lowers the priority: P2 -> P3" in r for r in alert["reasons"])


def test_active_window_is_honoured_at_event_time() -> None:
    [night] = _alerts(_engine(), _read("C-SCHOOL", "ABC123", ts=NIGHT_MS))
    assert _zone_ids(night) == ["Q1"], "19:00 in Bogota: the school zone is not active"
    assert night["priority"] == 2
    # The engine's time zone applies to zones that name none: the same school
    # without its timezone, with the engine on UTC, is active at 12:00 and 00:00
    # is outside 06:00-18:00.
    doc = json.loads(ZONES)
    del doc["features"][1]["properties"]["timezone"]
    zones = Zones.from_geojson_bytes(json.dumps(doc).encode())
    cams = Registry.from_csv_bytes(CAMERAS, "camera")
    utc = Engine(EngineConfig(timezone="UTC"), _watchlist(), zones=zones, cameras=cams)
    [noon] = _alerts(utc, _read("C-SCHOOL", "ABC123", ts=DAY_MS))
    [midnight] = _alerts(utc, _read("C-SCHOOL", "ABC123", ts=DAY_MS + 12 * 3_600_000))
    assert (noon["priority"], midnight["priority"]) == (1, 2)
    mexico = Engine(
        EngineConfig(timezone="America/Mexico_City"), _watchlist(), zones=zones, cameras=cams
    )
    # 12:00 UTC is 06:00 in Mexico City: open; 11:59 UTC is 05:59: closed.
    [at_six] = _alerts(mexico, _read("C-SCHOOL", "ABC123", ts=DAY_MS))
    [before] = _alerts(mexico, _read("C-SCHOOL", "ABC123", ts=DAY_MS - 60_000))
    assert (at_six["priority"], before["priority"]) == (1, 2)


def test_zone_list_filter_drops_other_lists_there() -> None:
    engine = _engine()
    result = engine.process(
        [_read("C-HOSP", "ABC123"), _read("C-HOSP", "GHI789"), _read("C-PLAIN", "ABC123")],
        now_ms=DAY_MS,
    )
    kept = [(a.to_dict()["details"]["entry_id"], _zone_ids(a.to_dict())) for a in result.alerts]
    assert kept == [("AA-1", ["H1", "Q1"]), ("SV-1", ["Q1"])]
    assert result.dropped_hits == 1


def test_per_list_geofence() -> None:
    engine = _engine(list_zones={"stolen_plate": ["kind:school", "P1"]})
    result = engine.process(
        [
            _read("C-SCHOOL", "DEF456"),
            _read("C-PLAIN", "DEF456"),
            _read("C-PLAIN", "ABC123"),
            _read("C-SCHOOL", "DEF456", ts=NIGHT_MS),
        ],
        now_ms=DAY_MS,
    )
    details = [a.to_dict()["details"] for a in result.alerts]
    got = [(d["entry_id"], d["camera_id"]) for d in details]
    assert got == [("SP-1", "C-SCHOOL"), ("SV-1", "C-PLAIN")]
    assert result.dropped_hits == 2, "outside the geofence, and the school closed at night"
    with pytest.raises(ConfigError, match=r"list_zones\.wanted.*\"Q9\" matches no zone") as e:
        _engine(list_zones={"wanted": ["Q9"]})
    assert e.value.key == "list_zones.wanted"


def test_restricted_zone_alerts_on_plates_not_allowed() -> None:
    engine = _engine()
    alerts = _alerts(
        engine,
        _read("C-PRISON", "XYZ999"),
        _read("C-PRISON", "JKL012"),
        _read("C-PRISON", "ABC123"),
        _read("C-PLAIN", "XYZ999"),
    )
    kinds = [(a["kind"], a["details"]["read_plate"]) for a in alerts]
    assert kinds == [
        ("restricted_zone", "XYZ999"),
        ("plate_hit", "ABC123"),
        ("restricted_zone", "ABC123"),
    ]
    first = alerts[0]
    assert first["priority"] == 2
    assert first["details"]["zone_id"] == "P1"
    assert first["details"]["allow_list"] == "autorizados"
    assert first["incident_key"] == "restricted_zone:P1:XYZ999"
    assert "not on allow list autorizados of restricted zone Zona P1" in first["reasons"][0]
    # The camera's alternative reading on the allow list: no page.
    misread = _read("C-PRISON", "JKL0I2", candidates=[{"plate": "JKL012", "confidence": 0.4}])
    assert _alerts(engine, misread) == []
    urgent = _engine(priority={"kinds": {"restricted_zone": 1}})
    assert [a["priority"] for a in _alerts(urgent, _read("C-PRISON", "XYZ999"))] == [1]


def test_places_reload_live() -> None:
    engine = _engine()
    assert engine.process([_read("C-NEW", "ABC123")]).rejected == 1
    cameras = Registry.from_csv_bytes(CAMERAS + b"C-NEW,0.25,0.3,,Colegio 2,Medellin\n", "camera")
    engine.set_places(zones=engine.zones, cameras=cameras, devices=engine.devices)
    [alert] = _alerts(engine, _read("C-NEW", "ABC123"))
    assert _zone_ids(alert) == ["Q1", "S1"]
    # A reload that fails changes nothing.
    with pytest.raises(ConfigError):
        Engine(EngineConfig(list_zones={"wanted": ["Q9"]}))
    strict = _engine(list_zones={"wanted": ["S1"]})
    with pytest.raises(ConfigError):
        strict.set_places(zones=None, cameras=cameras)
    assert strict.process([_read("C-NEW", "ABC123")]).rejected == 1, "old places kept"


def test_registry_errors_name_file_line_and_fix(tmp_path: Any) -> None:
    bad = tmp_path / "cameras.csv"
    bad.write_bytes(b"camera_id,lat,lon\nC1,6.2,-75.5\nC2,-96.5,6.2\n")
    with pytest.raises(RegistryError) as e:
        Registry.from_csv(bad, "camera")
    assert (e.value.source, e.value.line) == (str(bad), 3)
    assert str(e.value).startswith(f'{bad} line 3: lat "-96.5" is not a number in -90..90')
    with pytest.raises(RegistryError, match="cannot read the device registry"):
        Registry.from_csv(tmp_path / "missing.csv", "device")
    with pytest.raises(ValueError, match="camera"):
        Engine(cameras=Registry.from_csv_bytes(DEVICES, "device"))
