"""The EIDO export (``sisec_stream.eido``, ``sisec-stream eido``): one NENA EIDO per
incident, at its newest update, with the mapping of docs/eido.md; on a simulated
city's alerts of all seven kinds and on hand-built alerts of each kind."""

from __future__ import annotations

import html
import json
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from sisec_stream import ALERT_KINDS
from sisec_stream.eido import (
    CALL_PRIORITY,
    COMMON_PRIORITY,
    EidoExporter,
    EidoInputError,
    EidoOptions,
    fold_to_eido,
    to_eido,
)

AGENCY = "c4.medellin.gov.co"
NS = {
    "pidf": "urn:ietf:params:xml:ns:pidf",
    "dm": "urn:ietf:params:xml:ns:pidf:data-model",
    "gp": "urn:ietf:params:xml:ns:pidf:geopriv10",
    "gml": "http://www.opengis.net/gml",
}


def _schema_validator(path: str) -> jsonschema.Draft202012Validator:
    schema = json.loads(files("sisec_stream").joinpath(path).read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


@pytest.fixture(scope="module")
def eido_schema() -> jsonschema.Draft202012Validator:
    return _schema_validator("schemas/eido/eido-subset.schema.json")


@pytest.fixture(scope="module")
def alert_schema() -> jsonschema.Draft202012Validator:
    return _schema_validator("schemas/alerts/alert.schema.json")


@pytest.fixture(scope="module")
def alerts(city_alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return city_alerts


@pytest.fixture(scope="module")
def eidos(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    lines = [orjson.dumps(a) for a in alerts]
    docs = fold_to_eido(lines, agency=AGENCY, source="alerts.jsonl")
    return {d["incidentComponent"]["internalIncidentId"]: d for d in docs}


def _newest(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    newest: dict[str, dict[str, Any]] = {}
    for a in alerts:
        if a["alert_id"] not in newest or newest[a["alert_id"]]["update"] < a["update"]:
            newest[a["alert_id"]] = a
    return newest


def _component(eido: dict[str, Any], ref: dict[str, str]) -> dict[str, Any]:
    found = [c for c in _components(eido) if c.get("$id") == ref["$ref"]]
    assert len(found) == 1, ref
    return found[0]


def _components(eido: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield eido["incidentComponent"]
    for key, value in eido.items():
        if key.endswith("Component") and isinstance(value, list):
            yield from value


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if set(value) == {"$ref"}:
            yield value["$ref"]
        for v in value.values():
            yield from _refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from _refs(v)


def _reason_notes(eido: dict[str, Any]) -> list[str]:
    return [
        html.unescape(n["notesActionComments"])
        for n in eido["notesComponent"]
        if ":reason:" in n["$id"]
    ]


def _notes(eido: dict[str, Any], name: str) -> str:
    (note,) = [n for n in eido["notesComponent"] if n["$id"].endswith(f":{name}")]
    return html.unescape(note["notesActionComments"])


def _point(location: dict[str, Any]) -> tuple[float, float]:
    root = ET.fromstring(location["locationByValue"].encode())
    point = root.find("dm:device/gp:geopriv/gp:location-info/gml:Point", NS)
    assert point is not None
    assert point.get("srsName") == "urn:ogc:def:crs:EPSG::4326"
    pos = point.find("gml:pos", NS)
    assert pos is not None and pos.text is not None
    lat, lon = pos.text.split()
    return float(lat), float(lon)


# --- the simulated city ---------------------------------------------------------


def test_one_eido_per_incident_at_its_newest_update(
    alerts: list[dict[str, Any]], eidos: dict[str, dict[str, Any]]
) -> None:
    newest = _newest(alerts)
    assert set(eidos) == set(newest)
    assert len(newest) < len(alerts)  # updates were folded
    for alert_id, eido in eidos.items():
        doc = newest[alert_id]
        assert eido["$id"] == f"urn:emergency:uid:incidentid:{alert_id}:{AGENCY}"
        assert _reason_notes(eido) == doc["reasons"]
        incident = eido["incidentComponent"]
        assert incident["incidentCommonPriorityNumber"] == COMMON_PRIORITY[doc["priority"]]
        assert incident["incidentPriorityInternalText"] == f"P{doc['priority']}"
        assert incident["incidentTypeInternalCode"].split(":")[0] == doc["kind"]
        if incident["incidentStatusInternalText"] == ["open"]:
            assert eido["lastUpdateTimeStamp"] == doc["emitted_at"]
        assert f"update {doc['update']}" in _notes(eido, "event")
    # A stolen car seen by several cameras: one EIDO, at its last sighting.
    tracked = [
        a for a in newest.values() if a["kind"] == "plate_hit" and a["incident"]["sightings"] > 1
    ]
    assert tracked
    for doc in tracked:
        eido = eidos[doc["alert_id"]]
        (current,) = [
            c for c in eido["locationComponent"] if c["$id"].endswith(":location:current")
        ]
        assert _point(current) == (doc["location"]["lat"], doc["location"]["lon"])
        vehicle_note = _notes(eido, "vehicle")
        assert f"sightings {doc['incident']['sightings']}" in vehicle_note
        assert doc["incident"]["track"][-1]["camera_id"] in vehicle_note
        assert (
            eido["vehicleComponent"][0]["vehicleRelationshipTimeStamp"]
            == (doc["incident"]["opened_at"])
        )
    # Growing call incidents and repeated presses are one document each, too.
    assert any(a["kind"] == "call_incident" and a["update"] > 0 for a in newest.values())
    assert any(a["kind"] == "button_press" and a["update"] > 0 for a in newest.values())


def test_every_kind_matches_the_eido_schema(
    eidos: dict[str, dict[str, Any]], eido_schema: jsonschema.Draft202012Validator
) -> None:
    kinds = set()
    for eido in eidos.values():
        errors = [f"{list(e.path)}: {e.message}" for e in eido_schema.iter_errors(eido)]
        assert not errors, (errors, eido["$id"])
        kinds.add(eido["incidentComponent"]["incidentTypeInternalCode"].split(":")[0])
    assert kinds == set(ALERT_KINDS)


def test_required_fields_and_every_reference_resolves(
    eidos: dict[str, dict[str, Any]],
) -> None:
    for eido in eidos.values():
        assert eido["eidoVersion"] == "1.0"
        assert eido["issuingElementIdentification"] == "sisec-stream"
        assert eido["updatedByAgencyReference"] == {"$ref": AGENCY}
        (agency,) = eido["agencyComponent"]
        assert agency["$id"] == AGENCY
        assert isinstance(agency["agencyType"], list) and agency["agencyType"]
        incident = eido["incidentComponent"]
        assert isinstance(incident["incidentTypeCommonRegistryText"], str)
        assert isinstance(incident["incidentCommonPriorityNumber"], int)
        ids = [c["$id"] for c in _components(eido)]
        assert len(ids) == len(set(ids)), "component ids are unique"
        assert set(_refs(eido)) <= {*ids, AGENCY}, "every $ref names a component"


def test_the_schema_rejects_names_nena_does_not_define(
    eidos: dict[str, dict[str, Any]], eido_schema: jsonschema.Draft202012Validator
) -> None:
    eido = next(e for e in eidos.values() if "vehicleComponent" in e)
    incident = eido["incidentComponent"]
    vehicle = eido["vehicleComponent"][0]
    broken = [
        {**eido, "eidoMessageIdentifier": "x"},
        {**eido, "sendingSystemIdentifier": "x"},
        {**eido, "eidoVersion": "2.0"},
        {k: v for k, v in eido.items() if k != "agencyComponent"},
        {**eido, "incidentComponent": {**incident, "incidentTrackingIdentifier": "x"}},
        {**eido, "incidentComponent": {**incident, "incidentCommonPriorityNumber": 11}},
        {**eido, "vehicleComponent": [{**vehicle, "vehicleLicensePlateNumber": "ABC123"}]},
        {**eido, "vehicleComponent": [{**vehicle, "vehicleRelationshipType": []}]},
    ]
    for b in broken:
        assert not eido_schema.is_valid(b)


def test_order_and_replays_do_not_change_the_export(alerts: list[dict[str, Any]]) -> None:
    lines = [orjson.dumps(a) for a in alerts]
    expected = {d["$id"]: d for d in fold_to_eido(lines)}
    shuffled = lines * 2  # at-least-once: every message twice
    random.Random(5).shuffle(shuffled)
    assert {d["$id"]: d for d in fold_to_eido(shuffled)} == expected


# --- hand-built alerts of each kind ------------------------------------------------

ZONES = [
    {"zone_id": "MDE-MUN-0001", "name": "Medellín", "kind": "municipality"},
    {"zone_id": "MDE-CUAD-0211", "name": "Cuadrante 211", "kind": "sector"},
]


#: The alert layout the package ships (hand-built alerts follow it).
ALERT_SCHEMA = json.loads(
    files("sisec_stream").joinpath("schemas/alerts/alert.schema.json").read_text("utf-8")
)


def _alert(kind: str, details: dict[str, Any], **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema_version": ALERT_SCHEMA["properties"]["schema_version"]["const"],
        "alert_id": f"hand-{kind}",
        "update": 0,
        "kind": kind,
        "priority": 2,
        "reasons": [f"{kind} <reason> & why", 'read as "OGN20B"'],
        "event_time": "2026-11-23T12:02:53.960Z",
        "emitted_at": "2026-11-23T12:02:54.100Z",
        "location": {"lat": 6.24076, "lon": -75.585963},
        "site": "Carrera 65 sentido norte - Laureles-Estadio",
        "zones": ZONES,
        "events": ["EV-1"],
        "incident_key": f"{kind}:key",
        "details": details,
    }
    if "score" in ALERT_SCHEMA["properties"]:  # schema_version 2: how sure the engine is
        doc["score"] = 0.87
    doc.update(extra)
    return doc


PLATE_DETAILS: dict[str, Any] = {
    "entry_id": "MDE-WL-097204",
    "list": "stolen_vehicle",
    "listed_plate": "OGN208",
    "read_plate": "OGN-20B",
    "normalized_plate": "OGN20B",
    "match": {
        "kind": "lookalike",
        "score": 0.62,
        "substitutions": [{"position": 6, "read": "B", "listed": "8"}],
    },
    "camera_id": "MDE-LPR-0160",
    "confidence": 0.982,
    "vehicle": {"class": "car", "make": "Mazda", "color": "rojo"},
    "image_ref": "s3://evidence/MDE-LPR-0160/EV-1.jpg",
}
SIGHTINGS: dict[str, Any] = {
    "opened_at": "2026-11-23T12:02:20.051Z",
    "last_seen": "2026-11-23T12:02:53.960Z",
    "sightings": 2,
    "score": 0.62,
    "corroborated": False,
    "track": [
        {
            "camera_id": "MDE-LPR-0159",
            "time": "2026-11-23T12:02:20.051Z",
            "lat": 6.237927,
            "lon": -75.586029,
        },
        {
            "camera_id": "MDE-LPR-0160",
            "time": "2026-11-23T12:02:53.960Z",
            "lat": 6.24076,
            "lon": -75.58596,
        },
    ],
}


def _check(
    eido: dict[str, Any],
    doc: dict[str, Any],
    eido_schema: jsonschema.Draft202012Validator,
    alert_schema: jsonschema.Draft202012Validator,
) -> None:
    assert alert_schema.is_valid(doc), [e.message for e in alert_schema.iter_errors(doc)]
    errors = [f"{list(e.path)}: {e.message}" for e in eido_schema.iter_errors(eido)]
    assert not errors, errors
    # Reasons: verbatim (HTML5 text, so <, > and & are escaped, nothing else), in order.
    assert _reason_notes(eido) == doc["reasons"]
    notes = [n["notesActionComments"] for n in eido["notesComponent"] if ":reason:" in n["$id"]]
    assert notes[0] == f"{doc['kind']} &lt;reason&gt; &amp; why"
    assert notes[1] == 'read as "OGN20B"'


def test_plate_hit_mapping(
    eido_schema: jsonschema.Draft202012Validator, alert_schema: jsonschema.Draft202012Validator
) -> None:
    doc = _alert("plate_hit", PLATE_DETAILS, incident=SIGHTINGS)
    eido = to_eido(doc, agency=AGENCY, sending_system="sisec.c4.medellin.gov.co")
    _check(eido, doc, eido_schema, alert_schema)
    assert eido["issuingElementIdentification"] == "sisec.c4.medellin.gov.co"
    incident = eido["incidentComponent"]
    assert incident["incidentTypeCommonRegistryText"] == "VEHSTLN"
    assert incident["incidentTypeInternalCode"] == "plate_hit:stolen_vehicle"
    assert incident["incidentCommonPriorityNumber"] == 7
    assert incident["incidentPriorityInternalText"] == "P2"
    assert incident["incidentStatusInternalText"] == ["open"]
    assert incident["beatOrDispatchGroupText"] == "Cuadrante 211"
    current = _component(eido, incident["locationReference"][0])
    assert current["locationTypeDescriptionRegistryText"] == "CurrentIncident"
    assert _point(current) == (6.24076, -75.585963)
    assert current["locationDescriptionText"].startswith(doc["site"])
    assert "Cuadrante 211 [MDE-CUAD-0211, sector]" in current["locationDescriptionText"]
    (vehicle,) = eido["vehicleComponent"]
    assert incident["vehicleReference"] == [{"$ref": vehicle["$id"]}]
    nc = vehicle["ncVehicleComponent"]
    read, listed = nc["otherIdentification"]
    assert read["identificationID"] == [{"value": "OGN20B"}]
    assert read["category"] == [{"value": "license plate"}]
    assert 'read as "OGN-20B" by camera MDE-LPR-0160' in read["categoryDescription"][0]["value"]
    assert listed["identificationID"] == [{"value": "OGN208"}]
    assert nc["makeName"] == [{"value": "Mazda"}]
    assert nc["conveyanceColorPrimary"] == [{"value": "rojo"}]
    assert nc["category"] == [{"value": "car"}]
    assert vehicle["vehicleRelationshipTimeStamp"] == SIGHTINGS["opened_at"]
    initial = _component(eido, vehicle["locationReference"][1])
    assert initial["locationTypeDescriptionRegistryText"] == "Initial"
    assert _point(initial) == (6.237927, -75.586029)
    (media,) = eido["mediaComponent"]
    assert vehicle["mediaReferences"] == [{"$ref": media["$id"]}]
    assert (media["uri"], media["contentType"]) == (PLATE_DETAILS["image_ref"], "image/jpeg")
    note = _notes(eido, "vehicle")
    assert "entry MDE-WL-097204" in note and "match lookalike score 0.62" in note
    assert "MDE-LPR-0159 2026-11-23T12:02:20.051Z" in note


def test_a_wildcard_entry_is_not_a_plate(
    eido_schema: jsonschema.Draft202012Validator, alert_schema: jsonschema.Draft202012Validator
) -> None:
    details = {
        **PLATE_DETAILS,
        "listed_plate": "OG*20*",
        "match": {"kind": "pattern", "score": 0.9},
    }
    doc = _alert("plate_hit", details, incident=SIGHTINGS)
    eido = to_eido(doc)
    _check(eido, doc, eido_schema, alert_schema)
    ids = eido["vehicleComponent"][0]["ncVehicleComponent"]["otherIdentification"]
    assert [i["identificationID"] for i in ids] == [[{"value": "OGN20B"}]]
    assert "listed plate OG*20*" in _notes(eido, "vehicle")


def test_restricted_zone_mapping(
    eido_schema: jsonschema.Draft202012Validator, alert_schema: jsonschema.Draft202012Validator
) -> None:
    details = {
        "zone_id": "MDE-RES-0001",
        "allow_list": "autorizados_carcel",
        "read_plate": "MWR096",
        "normalized_plate": "MWR096",
        "camera_id": "MDE-ARC-0005",
    }
    one_sighting = {**SIGHTINGS, "sightings": 1, "track": SIGHTINGS["track"][:1]}
    doc = _alert("restricted_zone", details, incident=one_sighting)
    eido = to_eido(doc)
    _check(eido, doc, eido_schema, alert_schema)
    assert eido["incidentComponent"]["incidentTypeCommonRegistryText"] == "TRESPASS"
    (vehicle,) = eido["vehicleComponent"]
    (plate,) = vehicle["ncVehicleComponent"]["otherIdentification"]
    assert plate["identificationID"] == [{"value": "MWR096"}]
    assert "makeName" not in vehicle["ncVehicleComponent"]
    assert [r["$ref"].rsplit(":", 1)[-1] for r in vehicle["locationReference"]] == ["current"]
    assert "mediaComponent" not in eido
    assert "allow list autorizados_carcel" in _notes(eido, "vehicle")


@pytest.mark.parametrize(
    ("kind", "device_kind", "code"),
    [
        ("button_press", "panic", "ALRPANS"),
        ("button_press", "community_alarm", "ALRPANA"),
        ("button_press", "business_aid", "ALRROBS"),
        ("device_tamper", "school_link", "TROUBLE"),
    ],
)
def test_button_and_tamper_mapping(
    kind: str,
    device_kind: str,
    code: str,
    eido_schema: jsonschema.Draft202012Validator,
    alert_schema: jsonschema.Draft202012Validator,
) -> None:
    action = "press" if kind == "button_press" else "tamper"
    details = {"device_id": "MDE-PAN-0001", "device_kind": device_kind, "action": action}
    presses = {"count": 3, "first": "2026-11-23T12:01:00.000Z", "last": "2026-11-23T12:02:53.960Z"}
    doc = _alert(kind, details, priority=1, incident=presses)
    eido = to_eido(doc)
    _check(eido, doc, eido_schema, alert_schema)
    incident = eido["incidentComponent"]
    assert incident["incidentTypeCommonRegistryText"] == code
    assert incident["incidentTypeInternalCode"] == f"{kind}:{device_kind}"
    assert incident["incidentCommonPriorityNumber"] == 10
    (device,) = eido["alarmsSensorsComponent"]
    note = html.unescape(_component(eido, device["notesReference"][0])["notesActionComments"])
    assert f"device MDE-PAN-0001 ({device_kind})" in note
    assert "count 3" in note and f"action {action}" in note
    assert "vehicleComponent" not in eido and "callComponent" not in eido


def _supervision(kind: str, event_time: str, **extra: Any) -> dict[str, Any]:
    details = {
        "device_id": "MDE-ALC-0009",
        "device_kind": "community_alarm",
        "last_seen": event_time,
    }
    return _alert(
        kind,
        details,
        alert_id=f"{kind}-{event_time}",
        priority=3 if kind == "device_offline" else 4,
        event_time=event_time,
        incident_key="device:MDE-ALC-0009:supervision",
        **extra,
    )


def test_a_restore_closes_the_offline_incident(
    eido_schema: jsonschema.Draft202012Validator, alert_schema: jsonschema.Draft202012Validator
) -> None:
    offline = _supervision("device_offline", "2026-11-23T12:09:38.000Z")
    restored = _supervision(
        "device_restored", "2026-11-23T12:29:58.000Z", emitted_at="2026-11-23T12:30:00.000Z"
    )
    # On their own: the offline incident is open, the restore closed.
    assert to_eido(offline)["incidentComponent"]["incidentStatusInternalText"] == ["open"]
    assert to_eido(restored)["incidentComponent"]["incidentStatusInternalText"] == ["closed"]
    for order in ([offline, restored], [restored, offline]):
        eidos = {e["incidentComponent"]["internalIncidentId"]: e for e in fold_to_eido(order)}
        off, back = eidos[offline["alert_id"]], eidos[restored["alert_id"]]
        for eido, doc in ((off, offline), (back, restored)):
            _check(eido, doc, eido_schema, alert_schema)
            assert eido["incidentComponent"]["incidentStatusInternalText"] == ["closed"]
        assert off["lastUpdateTimeStamp"] == "2026-11-23T12:30:00.000Z"
        assert "closed: the device reported again at 2026-11-23T12:29:58.000Z" in _notes(
            off, "closed"
        )
        ((link_off,), (link_back,)) = off["linkComponent"], back["linkComponent"]
        assert link_off["incidentTrackingIdentifier"] == back["$id"]
        assert link_back["incidentTrackingIdentifier"] == off["$id"]
        assert link_off["linkDirectionCode"] == link_back["linkDirectionCode"] == "RELATED"
    # A restore from before the device went offline does not close it.
    later = _supervision("device_offline", "2026-11-23T13:00:00.000Z")
    eidos = {
        e["incidentComponent"]["internalIncidentId"]: e for e in fold_to_eido([restored, later])
    }
    assert eidos[later["alert_id"]]["incidentComponent"]["incidentStatusInternalText"] == ["open"]
    assert "linkComponent" not in eidos[later["alert_id"]]


def test_call_incident_mapping(
    eido_schema: jsonschema.Draft202012Validator, alert_schema: jsonschema.Draft202012Validator
) -> None:
    details = {
        "call_ids": ["CDMX-911-0000003", "CDMX-089-0000009", "CDMX-911-0000011"],
        "lines": ["911", "089", "911"],
        "incident_types": ["disparos", "riña"],
    }
    calls = {
        "calls": 3,
        "callers": 2,
        "unconfirmed_calls": 1,
        "opened_at": "2026-11-23T12:00:02.006Z",
        "last_call": "2026-11-23T12:02:53.960Z",
    }
    doc = _alert("call_incident", details, priority=1, location=None, incident=calls)
    del doc["site"]
    eido = to_eido(doc, agency="c5.cdmx.gob.mx")
    _check(eido, doc, eido_schema, alert_schema)
    incident = eido["incidentComponent"]
    assert incident["incidentTypeCommonRegistryText"] == "SHOOT"
    assert incident["incidentTypeInternalText"] == "emergency calls: disparos, riña"
    urns = [f"urn:emergency:uid:callid:{c}:c5.cdmx.gob.mx" for c in details["call_ids"]]
    assert [c["$id"] for c in eido["callComponent"]] == urns
    assert [c["localCallType"] for c in eido["callComponent"]] == details["lines"]
    for call in eido["callComponent"]:
        assert call["direction"] == "incoming"
        assert call["standardPrimaryCallType"] == "emergency"
        assert call["callStartTimestamp"] == calls["opened_at"]
        assert call["priorityIdentifier"] == CALL_PRIORITY[1] == "highest"
        assert set(call["relatedCallIdentifier"]) == set(urns) - {call["$id"]}
    # No position: the location is the zones, in words, without a PIDF-LO.
    (place,) = eido["locationComponent"]
    assert incident["locationReference"] == [{"$ref": place["$id"]}]
    assert "locationByValue" not in place
    assert place["locationDescriptionText"].startswith("zones: Medellín [MDE-MUN-0001")
    assert "no position" in _notes(eido, "event")
    # No position and no zones: no location at all.
    nowhere = to_eido({**doc, "zones": []})
    assert "locationComponent" not in nowhere
    assert "locationReference" not in nowhere["incidentComponent"]
    note = _notes(eido, "calls")
    assert "CDMX-089-0000009 (line 089)" in note
    assert "distinct callers 2" in note and "unconfirmed calls nearby 1" in note


def test_priority_tables_and_type_code_overrides() -> None:
    assert [COMMON_PRIORITY[p] for p in (1, 2, 3, 4)] == [10, 7, 4, 1]
    assert [CALL_PRIORITY[p] for p in (1, 2, 3, 4)] == ["highest", "high", "normal", "low"]
    doc = _alert("plate_hit", {**PLATE_DETAILS, "list": "wanted"}, incident=SIGHTINGS)
    assert to_eido(doc)["incidentComponent"]["incidentTypeCommonRegistryText"] == "ATL"
    overridden = to_eido(doc, type_codes={"plate_hit:wanted": "PERWANT"})
    assert overridden["incidentComponent"]["incidentTypeCommonRegistryText"] == "PERWANT"
    by_kind = to_eido(doc, type_codes={"plate_hit": "VEHSUSP"})
    assert by_kind["incidentComponent"]["incidentTypeCommonRegistryText"] == "VEHSUSP"


def test_a_later_camera_without_make_keeps_the_vehicle_seen_before() -> None:
    page = _alert("plate_hit", PLATE_DETAILS, incident={**SIGHTINGS, "sightings": 1})
    details = {k: v for k, v in PLATE_DETAILS.items() if k not in ("vehicle", "image_ref")}
    update = _alert("plate_hit", details, update=1, incident=SIGHTINGS)
    exporter = EidoExporter(EidoOptions())
    exporter.add(update)
    exporter.add(page)  # late: the state stays at update 1
    (eido,) = exporter.documents()
    assert "update 1" in _notes(eido, "event")
    nc = eido["vehicleComponent"][0]["ncVehicleComponent"]
    assert nc["makeName"] == [{"value": "Mazda"}]
    assert '"make":"Mazda"' in _notes(eido, "vehicle") and "update 0" in _notes(eido, "vehicle")


# --- bad input ------------------------------------------------------------------------


def test_a_broken_line_is_named(alerts: list[dict[str, Any]]) -> None:
    good = [orjson.dumps(a) for a in alerts[:3]]
    with pytest.raises(EidoInputError) as err:
        fold_to_eido([*good, b"", b'{"alert_id": "x", "upd'], source="alerts.jsonl")
    assert err.value.line == 5 and err.value.source == "alerts.jsonl"
    assert str(err.value).startswith("alerts.jsonl:5: not JSON")
    broken = {**alerts[0], "kind": "plate_hits"}
    with pytest.raises(EidoInputError, match=r"^alerts\.jsonl:2: .*unknown kind 'plate_hits'"):
        fold_to_eido([good[0], orjson.dumps(broken)], source="alerts.jsonl")
    for bad, problem in [
        ({**alerts[0], "priority": 5}, "priority must be 1..4"),
        ({**alerts[0], "event_time": "yesterday"}, "event_time must be an RFC 3339 time"),
        ({**alerts[0], "location": {"lat": 95.0, "lon": 0.0}}, "location must be null"),
        ([1, 2], "not an alert document"),
    ]:
        with pytest.raises(EidoInputError, match=problem) as err:
            fold_to_eido([good[0], good[1], orjson.dumps(bad)])
        assert err.value.line == 3


# --- the command ----------------------------------------------------------------------


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("sisec-stream")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sisec_stream"]


def test_cli_round_trip(alerts: list[dict[str, Any]], tmp_path: Path) -> None:
    src = tmp_path / "alerts.jsonl"
    src.write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in alerts))
    out = tmp_path / "eido.jsonl"
    codes = tmp_path / "codes.json"
    codes.write_text('{"plate_hit:wanted": "PERWANT"}')
    run = subprocess.run(
        [
            *_cli(),
            "eido",
            "--input",
            str(src),
            "--output",
            str(out),
            "--agency",
            AGENCY,
            "--type-codes",
            str(codes),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    expected = fold_to_eido(
        src.read_bytes().splitlines(),
        options=EidoOptions(agency=AGENCY, type_codes={"plate_hit:wanted": "PERWANT"}),
    )
    written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert written == expected
    assert f"{len(alerts):,} alert messages -> {len(expected):,} incidents" in run.stderr
    assert any(
        e["incidentComponent"]["incidentTypeCommonRegistryText"] == "PERWANT" for e in written
    )
    # stdin to stdout
    piped = subprocess.run(
        [*_cli(), "eido", "-i", "-"], input=src.read_bytes(), capture_output=True, timeout=120
    )
    assert piped.returncode == 0, piped.stderr
    assert [orjson.loads(x) for x in piped.stdout.splitlines()] == fold_to_eido(
        src.read_bytes().splitlines()
    )


def test_cli_names_the_broken_line(alerts: list[dict[str, Any]], tmp_path: Path) -> None:
    src = tmp_path / "alerts.jsonl"
    src.write_bytes(orjson.dumps(alerts[0]) + b"\n" + orjson.dumps(alerts[1])[:40] + b"\n")
    out = tmp_path / "eido.jsonl"
    run = subprocess.run(
        [*_cli(), "eido", "--input", str(src), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert f"sisec-stream eido: {src}:2: not JSON" in run.stderr
    assert not out.exists(), "nothing is written from a broken input"
