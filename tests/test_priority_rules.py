"""The priority model (issue 6): scenario tests of every rule, with the shipped
Colombian and Mexican centre configurations, and the errors of bad ones.

Each scenario is a few events through the real engine and incident stage
(:func:`sisec_stream.incidents.fold`), with the priority and the reason written
down here by hand. The little city: cameras on a plain road, at a school (kind
``school``, no boost of its own, 06:00-18:00 local time), at a school whose zone
sets ``priority_boost = 0``, and at a border arch (kind ``border``); coordinates
near (0, 0) so the geometry is easy to read.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import square_zone
from sisec_stream import ConfigError, Engine, EngineConfig, Registry, Watchlist, Zones
from sisec_stream.incidents import fold
from sisec_stream.runconfig import RunConfig

# 2026-11-23 12:00 UTC: 07:00 in Bogota and 06:00 in Mexico City (schools open).
DAY_MS = 1_795_435_200_000
NIGHT_MS = DAY_MS + 12 * 3_600_000
MIN = 60_000

CONFIGS = files("sisec_stream") / "configs"


def _centre(name: str, **priority: Any) -> EngineConfig:
    """The engine section of a shipped centre config, with priority overrides."""
    config = RunConfig.load(Path(str(CONFIGS / f"centre-{name}.toml"))).engine
    merged = {**config.priority, **priority}
    return dataclasses.replace(config, priority=merged)


ZONES = json.dumps(
    {
        "type": "FeatureCollection",
        "features": [
            square_zone("S1", 0, 0, 0.1, 0.1, kind="school", active="06:00-18:00"),
            square_zone("S0", 0.2, 0, 0.3, 0.1, kind="school", priority_boost=0),
            square_zone("B1", 0.4, 0, 0.5, 0.1, kind="border"),
        ],
    }
).encode()
CAMERAS = b"""camera_id,lat,lon,heading_deg,site,municipality
C-PLAIN,0.5,0.95,,Avenida,Ciudad
C-SCHOOL,0.05,0.05,,Colegio,Ciudad
C-SCHOOL0,0.05,0.25,,Colegio nocturno,Ciudad
C-BORDER,0.05,0.45,,Arco salida norte,Ciudad
C-FAR,0.7,0.95,,Autopista,Ciudad
"""
DEVICES = b"""device_id,device_kind,lat,lon,site
D-ALARM,community_alarm,0.5,0.9,Barrio
D-PANIC,panic,0.6,0.9,Tienda
"""
WATCHLIST = b"""entry_id,plate,list,priority
HV-1,JKL345,hurto_con_violencia,
HU-1,ABC123,hurto_vehiculo,
HU-2,HMK123,hurto_vehiculo,
HU-3,PQR678,hurto_vehiculo,1
RV-1,XYZ789,robo_con_violencia,
RP-1,DEF456,repuve_robo,
"""


def _engine(config: EngineConfig) -> Engine:
    return Engine(
        config,
        Watchlist.from_csv_bytes(WATCHLIST, "w.csv"),
        zones=Zones.from_geojson_bytes(ZONES, "zones.geojson"),
        cameras=Registry.from_csv_bytes(CAMERAS, "camera", "cameras.csv"),
        devices=Registry.from_csv_bytes(DEVICES, "device", "devices.csv"),
    )


def _read(n: int, camera: str, plate: str, ts: int = DAY_MS) -> bytes:
    doc = {"type": "plate_read", "event_id": f"r{n}", "ts": ts, "camera_id": camera}
    return orjson.dumps({**doc, "plate": plate})


DEVICE_KINDS = {"D-ALARM": "community_alarm", "D-PANIC": "panic"}


def _press(n: int, device: str, ts: int, action: str = "press") -> bytes:
    doc = {"type": "button_press", "event_id": f"b{n}", "ts": ts, "device_id": device}
    return orjson.dumps(doc | {"device_kind": DEVICE_KINDS[device], "action": action})


def _call(n: int, itype: str, ts: int) -> bytes:
    return orjson.dumps(
        {
            "type": "call",
            "event_id": f"c{n}",
            "ts": ts,
            "call_id": f"call-{n}",
            "line": "123",
            "status": "classified",
            "incident_type": itype,
            "lat": 0.5 + n * 0.0001,
            "lon": 0.5,
            "caller_hash": f"caller-{n}",
        }
    )


def _run(config: EngineConfig, *events: bytes) -> list[dict[str, Any]]:
    """Pages and updates of ``events``, one batch each, in order."""
    alerts = fold(_engine(config), [[e] for e in events])
    return [json.loads(a.json) for a in alerts]


def _one(config: EngineConfig, event: bytes) -> dict[str, Any]:
    [alert] = _run(config, event)
    return alert


def _says(alert: dict[str, Any], text: str) -> bool:
    return any(text in r for r in alert["reasons"])


# --- base by kind and list -------------------------------------------------------


def test_lists_set_the_base_priority_and_say_so() -> None:
    co = _centre("colombia")
    violent = _one(co, _read(1, "C-PLAIN", "JKL345"))
    assert (violent["priority"], violent["score"]) == (1, pytest.approx(0.99, abs=0.01))
    assert _says(violent, "hits on list hurto_con_violencia page at P1")
    stolen = _one(co, _read(2, "C-PLAIN", "ABC123"))
    assert stolen["priority"] == 2
    assert _says(stolen, "hits on list hurto_vehiculo page at P2")
    # A list the config does not name falls back to kinds.plate_hit.
    unnamed = _one(co, _read(3, "C-PLAIN", "DEF456"))
    assert unnamed["priority"] == 3
    assert _says(unnamed, "hits on lists without a priority page at P3")
    assert _one(_centre("mexico"), _read(3, "C-PLAIN", "DEF456"))["priority"] == 2
    # Raising the fallback moves exactly the unnamed lists.
    raised = _centre("colombia", kinds={"plate_hit": 2})
    assert _one(raised, _read(3, "C-PLAIN", "DEF456"))["priority"] == 2
    assert _one(raised, _read(1, "C-PLAIN", "JKL345"))["priority"] == 1


def test_an_entry_s_own_priority_wins_over_its_list() -> None:
    alert = _one(_centre("colombia"), _read(1, "C-PLAIN", "PQR678"))
    assert alert["priority"] == 1
    assert _says(alert, "entry HU-3 is set to P1")


def test_mexican_lists() -> None:
    mx = _centre("mexico")
    assert _one(mx, _read(1, "C-PLAIN", "XYZ789"))["priority"] == 1
    assert _says(_one(mx, _read(1, "C-PLAIN", "XYZ789")), "robo_con_violencia page at P1")


# --- zones ------------------------------------------------------------------------


def test_school_zone_raises_while_active() -> None:
    co = _centre("colombia")
    day = _one(co, _read(1, "C-SCHOOL", "ABC123"))
    assert day["priority"] == 1
    assert _says(day, "school zones raise the priority: P2 -> P1 (zone Zona S1)")
    night = _one(co, _read(2, "C-SCHOOL", "ABC123", NIGHT_MS))
    assert night["priority"] == 2, "19:00 in Bogota: the school zone is not active"
    assert not _says(night, "raise")


def test_a_zone_s_own_boost_wins_over_its_kind() -> None:
    alert = _one(_centre("colombia"), _read(1, "C-SCHOOL0", "ABC123"))
    assert alert["priority"] == 2
    assert not _says(alert, "raise")


def test_border_arch_raises_and_kinds_can_lower() -> None:
    mx = _centre("mexico")
    arch = _one(mx, _read(1, "C-BORDER", "DEF456"))
    assert arch["priority"] == 1
    assert _says(arch, "border zones raise the priority: P2 -> P1 (zone Zona B1)")
    lowered = _centre("mexico", zones={"border": -1})
    arch = _one(lowered, _read(1, "C-BORDER", "DEF456"))
    assert arch["priority"] == 3
    assert _says(arch, "border zones lower the priority: P2 -> P3")
    # Zones raise button presses too.
    no_zone = _centre("colombia")
    assert _one(no_zone, _press(1, "D-ALARM", DAY_MS))["priority"] == 2


# --- match confidence and corroboration --------------------------------------------


def test_a_lone_look_alike_pages_lower_until_another_camera_corroborates() -> None:
    co = _centre("colombia")
    weak_read = _read(1, "C-PLAIN", "HNK123")  # itself a valid plate: weak evidence
    exact_elsewhere = _read(2, "C-FAR", "HMK123", DAY_MS + 20 * MIN)
    alerts = _run(co, weak_read, exact_elsewhere)
    [page] = [a for a in alerts if a["details"]["normalized_plate"] == "HNK123"]
    page, corroborated = [a for a in alerts if a["alert_id"] == page["alert_id"]]
    assert page["update"] == 0 and page["priority"] == 4
    assert page["score"] < 0.2
    assert _says(page, "the match alone is weak evidence")
    assert _says(page, "P2 -> P4")
    assert corroborated["update"] == 1 and corroborated["alert_id"] == page["alert_id"]
    assert corroborated["priority"] == 2, "corroborated: pages as a strong match would"
    assert corroborated["score"] > page["score"]
    assert _says(corroborated, "corroborated: camera C-FAR")
    # Without the corroboration rule the update reports it but keeps the priority.
    quiet = _centre("colombia", repetition={"corroboration": False})
    weak = [a for a in _run(quiet, weak_read, exact_elsewhere) if a["alert_id"] == page["alert_id"]]
    assert [a["priority"] for a in weak] == [4, 4]


def test_confidence_thresholds_are_configurable() -> None:
    page = _one(_centre("colombia"), _read(1, "C-PLAIN", "HNK123"))
    score = page["score"]
    trusting = _centre("colombia", confidence={"score_levels": [max(score - 0.01, 0.001)]})
    alert = _one(trusting, _read(1, "C-PLAIN", "HNK123"))
    assert alert["priority"] == 2
    assert not _says(alert, "weak evidence")
    strict = _centre("colombia", confidence={"score_levels": [1.0]})
    exact = _one(strict, _read(2, "C-PLAIN", "ABC123"))
    assert exact["priority"] == 3, "below the only threshold: one level lower"


# --- device kind and repetition ----------------------------------------------------


def test_device_kinds_and_repeated_presses() -> None:
    co = _centre("colombia")
    panic = _one(co, _press(1, "D-PANIC", DAY_MS))
    assert panic["priority"] == 1 and _says(panic, "panic buttons page at P1")
    presses = [_press(i, "D-ALARM", DAY_MS + i * 10_000) for i in range(3)]
    alarm = _run(co, *presses)
    assert [(a["update"], a["priority"]) for a in alarm] == [(0, 2), (1, 2), (2, 1)]
    assert _says(alarm[2], "3 presses raise it from P2 to P1 (a level every 3)")
    # The Mexican centre escalates on the second press.
    mx = _run(_centre("mexico"), *presses[:2])
    assert [a["priority"] for a in mx] == [2, 1]
    tamper = _one(
        _centre("colombia", kinds={"device_tamper": 1}), _press(9, "D-ALARM", DAY_MS, "tamper")
    )
    assert (tamper["kind"], tamper["priority"]) == ("device_tamper", 1)
    assert _says(tamper, "tampering pages at P1")


def test_call_types_and_repeated_calls() -> None:
    co = _centre("colombia")
    fights = _run(co, *[_call(i, "riña", DAY_MS + i * MIN) for i in range(3)])
    assert [(a["update"], a["priority"]) for a in fights] == [(0, 2), (1, 2), (2, 1)]
    assert _says(fights[0], "riña incidents page at P2")
    assert _says(fights[2], "3 calls raise it to P1 (a level every 3)")
    assert all(a["score"] == 1.0 for a in fights)
    noise = _one(co, _call(7, "ruido", DAY_MS))
    assert noise["priority"] == 4
    unnamed = _one(co, _call(8, "derrumbe", DAY_MS))
    assert unnamed["priority"] == 3, "kinds.call_incident"


# --- the shipped configs and bad ones ------------------------------------------------


@pytest.mark.parametrize("name", ["colombia", "mexico"])
def test_shipped_centre_configs_load_and_document_every_rule(name: str) -> None:
    path = Path(str(CONFIGS / f"centre-{name}.toml"))
    config = RunConfig.load(path)
    rules = tomllib.loads(path.read_text(encoding="utf-8"))["engine"]["priority"]
    assert set(rules) == {"kinds", "lists", "devices", "calls", "zones", "confidence", "repetition"}
    assert config.engine.priority == rules
    Engine(config.engine)  # the core accepts it


@pytest.mark.parametrize(
    ("text", "key", "fix"),
    [
        (
            "[engine.priority.kinds]\nplate_hits = 1\n",
            "engine.priority.kinds.plate_hits",
            "use one of plate_hit",
        ),
        ("[engine.priority.lists]\nhurto = 0\n", "engine.priority.lists.hurto", "1, 2, 3 or 4"),
        ("[engine.priority.lists]\nhurto = 'alta'\n", "engine.priority.lists.hurto", "u8"),
        (
            "[engine.priority.devices]\nsirena = 1\n",
            "engine.priority.devices.sirena",
            "panic, community_alarm",
        ),
        ("[engine.priority.zones]\nschool = 5\n", "engine.priority.zones.school", "-3..3"),
        (
            "[engine.priority.confidence]\nscore_levels = [0.2, 0.8]\n",
            "engine.priority.confidence.score_levels",
            "descending",
        ),
        (
            "[engine.priority.repetition]\npresses_per_level = 0\n",
            "engine.priority.repetition.presses_per_level",
            "at least 1",
        ),
        (
            "[engine.priority.repetition]\ncorroborate = true\n",
            "engine.priority.repetition.corroborate",
            "corroboration",
        ),
        ("[engine.priority]\nlist = {}\n", "engine.priority.list", "lists"),
        (
            "[engine]\nlist_priorities = { wanted = 1 }\n",
            "engine.list_priorities",
            "priority.lists",
        ),
        (
            "[engine]\nrestricted_zone_priority = 1\n",
            "engine.restricted_zone_priority",
            "priority.kinds.restricted_zone",
        ),
        (
            "[engine.incidents]\ncalls_per_level = 2\n",
            "engine.incidents.calls_per_level",
            "priority.repetition.calls_per_level",
        ),
        (
            "[engine.incidents.call_types.hurto]\npriority = 1\n",
            "engine.incidents.call_types.hurto.priority",
            "priority.calls",
        ),
    ],
)
def test_bad_priority_config_fails_at_load_with_key_and_fix(
    tmp_path: Path, text: str, key: str, fix: str
) -> None:
    path = tmp_path / "centre.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        RunConfig.load(path)
    assert info.value.key == key, str(info.value)
    message = str(info.value)
    assert str(path) in message and key in message and fix in message, message
