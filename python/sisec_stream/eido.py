"""Incidents as NENA EIDOs (Emergency Incident Data Objects, JSON) for CAD systems.

The alert stream says what an incident is *now* in its newest update; a CAD wants one
incident document it can replace. :func:`to_eido` turns one folded alert state into
an EIDO; :class:`EidoExporter` / :func:`fold_to_eido` fold a stream of alert
documents (pages and updates) by ``alert_id``, the newest ``update`` winning, into
one EIDO per incident. ``sisec-stream eido`` does it for a JSON-lines file.

Field names follow the NENA EIDO JSON data model (NENA-STA-021, whose conveyance is
NENA-STA-024): ``NENA911/EIDO-JSON`` ``Schema/openapi.yaml``, with NIEM ``nc`` types
from ``Schema/NIEMComponents``. Which alert fields map where, which do not, which
registry values are not verified, and the sources: ``docs/eido.md``.
"""

from __future__ import annotations

import argparse
import html
import mimetypes
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import orjson

from sisec_stream.engine import ALERT_KINDS
from sisec_stream.errors import SisecError

__all__ = [
    "CALL_PRIORITY",
    "COMMON_PRIORITY",
    "DEFAULT_TYPE_CODES",
    "EIDO_VERSION",
    "EidoExporter",
    "EidoInputError",
    "EidoOptions",
    "fold_to_eido",
    "pidf_lo_point",
    "run_eido",
    "to_eido",
]

#: ``eidoVersion``: the only value the EIDO JSON schema allows.
EIDO_VERSION = "1.0"

#: ``@context`` ``@vocab``: the only value the EIDO JSON schema allows.
JSONLD_VOCAB = "./JSON-LD_Contexts/EmergencyIncidentDataObjectType.jsonld"

#: P1..P4 -> ``incidentCommonPriorityNumber`` (0..10, 10 the most urgent).
COMMON_PRIORITY: Mapping[int, int] = {1: 10, 2: 7, 3: 4, 4: 1}

#: P1..P4 -> ``callComponent.priorityIdentifier`` (NENA-STA-023 call priority).
CALL_PRIORITY: Mapping[int, str] = {1: "highest", 2: "high", 3: "normal", 4: "low"}

#: ``incidentTypeCommonRegistryText`` by internal type code (``kind:detail``), then by
#: kind: APCO ANS 2.103.1 common incident type codes (the NIEM ``apco`` code list the
#: EIDO JSON repository ships). Best-effort choices, overridable: see docs/eido.md.
DEFAULT_TYPE_CODES: Mapping[str, str] = {
    "plate_hit:stolen_vehicle": "VEHSTLN",  # Stolen Vehicle
    "plate_hit:wanted": "ATL",  # Attempt To Locate
    "plate_hit:amber_alert": "ATL",
    "plate_hit": "VEHSUSP",  # Suspicious Vehicle
    "restricted_zone": "TRESPASS",  # Trespass
    "button_press:panic": "ALRPANS",  # Panic Alarm Silent (duress)
    "button_press:school_link": "ALRPANS",
    "button_press:community_alarm": "ALRPANA",  # Panic Alarm Audible
    "button_press:business_aid": "ALRROBS",  # Robbery Alarm Silent (hold-up)
    "button_press": "ALRU",  # Alarm Unknown
    "device_tamper": "TROUBLE",  # Unknown Type Trouble
    "device_offline": "TROUBLE",
    "device_restored": "TROUBLE",
    "call_incident:disparos": "SHOOT",  # Shooting
    "call_incident:incendio": "FUNK",  # Fire Unknown
    "call_incident:riña": "FIGHT",  # Fight
    "call_incident:hurto": "LARCENY",  # Larceny
    "call_incident:violencia_intrafamiliar": "DVA",  # Domestic Violent
    "call_incident:accidente_transito": "MVAUNK",  # Motor Vehicle Accident Unknown Injury
    "call_incident:emergencia_medica": "SICK",  # Sick Person
    "call_incident:persona_sospechosa": "PERSUSP",  # Suspicious Person
    "call_incident:ruido": "NOISE",  # Noise
    "call_incident": "TROUBLE",
}

_SUPERVISION = ("device_offline", "device_restored")
_DEVICE_KINDS = ("button_press", "device_tamper", *_SUPERVISION)
_PLATE_KINDS = ("plate_hit", "restricted_zone")


class EidoInputError(SisecError, ValueError):
    """An alert document that cannot be exported; names the line when it came from one.

    Attributes:
        source: The input's name (a file, ``<stdin>``), or "".
        line: 1-based line number, or None.
        reason: The problem without the location prefix.
    """

    def __init__(self, reason: str, source: str = "", line: int | None = None) -> None:
        where = f"{source or '<input>'}:{line}: " if line is not None else ""
        super().__init__(f"{where}{reason}")
        self.source = source
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class EidoOptions:
    """How EIDOs are labelled.

    Attributes:
        sending_system: ``issuingElementIdentification``: the functional element that
            made the EIDO (a host or domain name in NG9-1-1 practice).
        agency: The agency identifier (a domain name, e.g. ``c4.medellin.gov.co``) of
            ``agencyComponent`` and ``updatedByAgencyReference``, and the domain of the
            incident and call URNs; default: ``sending_system``.
        type_codes: Overrides of :data:`DEFAULT_TYPE_CODES` (same keys).
        vehicle_relationship: ``vehicleRelationshipType`` of plate incidents' vehicles.
        agency_roles: ``agencyRoleDescriptionRegistryText`` of the agency.
        agency_types: ``agencyType`` of the agency.
    """

    sending_system: str = "sisec-stream"
    agency: str | None = None
    type_codes: Mapping[str, str] = field(default_factory=dict)
    vehicle_relationship: str = "Suspect"
    agency_roles: tuple[str, ...] = ("CallReceiving",)
    agency_types: tuple[str, ...] = ("psap",)

    @property
    def agency_id(self) -> str:
        return self.agency or self.sending_system

    def type_code(self, internal: str, kind: str) -> str:
        for key in (internal, kind):
            if key in self.type_codes:
                return self.type_codes[key]
        return DEFAULT_TYPE_CODES.get(internal) or DEFAULT_TYPE_CODES.get(kind, "TROUBLE")


def to_eido(
    alert_doc: Mapping[str, Any],
    *,
    sending_system: str = "sisec-stream",
    agency: str | None = None,
    type_codes: Mapping[str, str] | None = None,
    vehicle_relationship: str = "Suspect",
) -> dict[str, Any]:
    """The EIDO of one folded alert state (an alert document, page or update).

    A ``device_restored`` alert is a closed incident; every other kind is open (the
    exporter also closes a ``device_offline`` incident when its device is restored).

    Raises:
        EidoInputError: The document is not an alert (names the field).
    """
    options = EidoOptions(
        sending_system=sending_system,
        agency=agency,
        type_codes=dict(type_codes or {}),
        vehicle_relationship=vehicle_relationship,
    )
    problem = _problem(alert_doc)
    if problem:
        raise EidoInputError(problem)
    return _Builder(alert_doc, options).build()


class EidoExporter:
    """Folds alert documents by ``alert_id`` (the newest ``update`` wins; a replayed or
    late older update is ignored) and exports one EIDO per incident.

    A ``device_restored`` alert closes the open ``device_offline`` incident of the same
    device (same ``incident_key``) raised at or before it; both EIDOs link each other.
    """

    def __init__(self, options: EidoOptions | None = None) -> None:
        self.options = options or EidoOptions()
        self._latest: dict[str, Mapping[str, Any]] = {}
        self._vehicles: dict[str, tuple[int, Mapping[str, Any]]] = {}
        self.messages = 0

    def add(self, doc: Any, *, source: str = "", line: int | None = None) -> bool:
        """Fold one alert document in; True when it changed its incident.

        Raises:
            EidoInputError: Not an alert document (names the source and line).
        """
        problem = _problem(doc)
        if problem:
            raise EidoInputError(problem, source, line)
        self.messages += 1
        vehicle = (doc.get("details") or {}).get("vehicle")
        if doc["kind"] in _PLATE_KINDS and isinstance(vehicle, Mapping) and vehicle:
            seen = self._vehicles.get(doc["alert_id"])
            if seen is None or seen[0] <= doc["update"]:
                self._vehicles[doc["alert_id"]] = (int(doc["update"]), vehicle)
        known = self._latest.get(doc["alert_id"])
        if known is not None and int(known["update"]) >= int(doc["update"]):
            return False
        self._latest[doc["alert_id"]] = doc
        return True

    def add_lines(self, lines: Iterable[str | bytes], *, source: str = "") -> None:
        """Fold JSON lines in (blank lines are skipped).

        Raises:
            EidoInputError: A line that is not JSON or not an alert (names the line).
        """
        for n, raw in enumerate(lines, start=1):
            if raw.strip():
                self.add(_parse(raw, source, n), source=source, line=n)

    def __len__(self) -> int:
        return len(self._latest)

    def documents(self) -> list[dict[str, Any]]:
        """One EIDO per incident, in the order incidents first appeared."""
        return list(self.iter_documents())

    def iter_documents(self) -> Iterator[dict[str, Any]]:
        closed_by, related = self._supervision()
        for alert_id, doc in self._latest.items():
            builder = _Builder(
                doc,
                self.options,
                closed_by=closed_by.get(alert_id),
                related=related[alert_id],
                vehicle_seen=self._vehicles.get(alert_id),
            )
            yield builder.build()

    def _supervision(
        self,
    ) -> tuple[dict[str, Mapping[str, Any]], dict[str, list[Mapping[str, Any]]]]:
        """Which offline incident each restore closes: the earliest restore of the
        same device at or after the offline alert's event time."""
        restores: dict[str, list[Mapping[str, Any]]] = {}
        for doc in self._latest.values():
            if doc["kind"] == "device_restored":
                restores.setdefault(_device_key(doc), []).append(doc)
        for docs in restores.values():
            docs.sort(key=lambda d: _when(d["event_time"]))
        closed_by: dict[str, Mapping[str, Any]] = {}
        related: dict[str, list[Mapping[str, Any]]] = {a: [] for a in self._latest}
        for doc in self._latest.values():
            if doc["kind"] != "device_offline":
                continue
            since = _when(doc["event_time"])
            for restore in restores.get(_device_key(doc), ()):
                if _when(restore["event_time"]) >= since:
                    closed_by[doc["alert_id"]] = restore
                    related[doc["alert_id"]].append(restore)
                    related[restore["alert_id"]].append(doc)
                    break
        return closed_by, related


def fold_to_eido(
    lines: Iterable[str | bytes | Mapping[str, Any]],
    *,
    sending_system: str = "sisec-stream",
    agency: str | None = None,
    source: str = "",
    options: EidoOptions | None = None,
) -> list[dict[str, Any]]:
    """Fold alert documents (JSON lines, or already parsed dicts) into one EIDO per
    incident, each at its newest update.

    Raises:
        EidoInputError: A line that is not JSON or not an alert (names the line).
    """
    exporter = EidoExporter(options or EidoOptions(sending_system=sending_system, agency=agency))
    for n, item in enumerate(lines, start=1):
        if isinstance(item, Mapping):
            exporter.add(item, source=source, line=n)
        elif item.strip():
            exporter.add(_parse(item, source, n), source=source, line=n)
    return exporter.documents()


def pidf_lo_point(lat: float, lon: float, *, entity: str, timestamp: str) -> str:
    """A PIDF-LO (RFC 4119) document with one WGS 84 point (RFC 5491 ``gml:Point``,
    ``urn:ogc:def:crs:EPSG::4326``, latitude then longitude): the EIDO's
    ``locationByValue``."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf"'
        ' xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"'
        ' xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"'
        ' xmlns:gml="http://www.opengis.net/gml"'
        f" entity={quoteattr(entity)}>"
        '<dm:device id="location">'
        "<gp:geopriv><gp:location-info>"
        '<gml:Point srsName="urn:ogc:def:crs:EPSG::4326">'
        f"<gml:pos>{float(lat)!r} {float(lon)!r}</gml:pos>"
        "</gml:Point>"
        "</gp:location-info><gp:usage-rules/></gp:geopriv>"
        f"<dm:timestamp>{escape(timestamp)}</dm:timestamp>"
        "</dm:device></presence>"
    )


def run_eido(args: argparse.Namespace) -> int:
    """``sisec-stream eido`` (arguments: ``cli._add_eido``); the exit status."""
    prog = "sisec-stream eido"
    type_codes: dict[str, str] = {}
    if args.type_codes is not None:
        try:
            loaded = orjson.loads(args.type_codes.read_bytes())
        except (OSError, orjson.JSONDecodeError) as e:
            print(f"{prog}: --type-codes {args.type_codes}: {e}", file=sys.stderr)
            return 2
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            print(
                f"{prog}: --type-codes {args.type_codes}: write a JSON object of strings, "
                'e.g. {"plate_hit:wanted": "PERWANT"}',
                file=sys.stderr,
            )
            return 2
        type_codes = loaded
    options = EidoOptions(
        sending_system=args.sending_system, agency=args.agency, type_codes=type_codes
    )
    exporter = EidoExporter(options)
    source = "<stdin>" if args.input == "-" else args.input
    try:
        if args.input == "-":
            exporter.add_lines(sys.stdin.buffer, source=source)
        else:
            with open(args.input, "rb") as f:
                exporter.add_lines(f, source=source)
    except OSError as e:
        print(f"{prog}: cannot read {source}: {e.strerror or e}", file=sys.stderr)
        return 2
    except EidoInputError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    try:
        out = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")  # noqa: SIM115
    except OSError as e:
        print(f"{prog}: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
        return 2
    try:
        for doc in exporter.iter_documents():
            out.write(orjson.dumps(doc) + b"\n")
        out.flush()
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    print(
        f"eido: {exporter.messages:,} alert messages -> {len(exporter):,} incidents",
        file=sys.stderr,
    )
    return 0


# --- one alert state -> one EIDO -------------------------------------------------


def _parse(raw: str | bytes, source: str, line: int) -> Any:
    try:
        return orjson.loads(raw.strip())
    except orjson.JSONDecodeError as e:
        raise EidoInputError(f"not JSON ({e})", source, line) from None


def _when(text: Any) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _problem(doc: Any) -> str:
    """What makes ``doc`` not an alert document ("" when it is one)."""
    if not isinstance(doc, Mapping):
        return f"not an alert document (a JSON {type(doc).__name__}, not an object)"
    alert_id = doc.get("alert_id")
    if not isinstance(alert_id, str) or not alert_id:
        return "not an alert document: no alert_id"
    where = f"alert {alert_id}: "
    update = doc.get("update")
    if not isinstance(update, int) or isinstance(update, bool) or update < 0:
        return f"{where}update must be an integer >= 0, got {update!r}"
    if doc.get("kind") not in ALERT_KINDS:
        return f"{where}unknown kind {doc.get('kind')!r} (one of {', '.join(ALERT_KINDS)})"
    priority = doc.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 4:
        return f"{where}priority must be 1..4, got {priority!r}"
    reasons = doc.get("reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        return f"{where}reasons must be a list of strings"
    for key in ("event_time", "emitted_at"):
        try:
            _when(doc[key])
        except (KeyError, ValueError):
            return f"{where}{key} must be an RFC 3339 time, got {doc.get(key)!r}"
    loc = doc.get("location")
    if loc is not None and not (
        isinstance(loc, Mapping)
        and all(isinstance(loc.get(k), int | float) for k in ("lat", "lon"))
        and -90 <= loc["lat"] <= 90
        and -180 <= loc["lon"] <= 180
    ):
        return f"{where}location must be null or {{lat, lon}} in range, got {loc!r}"
    if not isinstance(doc.get("details", {}), Mapping):
        return f"{where}details must be an object"
    if not isinstance(doc.get("incident", {}), Mapping):
        return f"{where}incident must be an object"
    if not isinstance(doc.get("zones", []), list):
        return f"{where}zones must be a list"
    return ""


def _ref(target: str) -> dict[str, str]:
    return {"$ref": target}


def _text(value: Any) -> list[dict[str, str]]:
    """A NIEM ``nc:TextType`` list of one."""
    return [{"value": str(value)}]


def _strs(items: Any) -> list[str]:
    return [str(x) for x in items] if isinstance(items, list) else []


class _Builder:
    """One alert state (plus, for supervision, the restore that closes it) -> EIDO."""

    def __init__(
        self,
        doc: Mapping[str, Any],
        options: EidoOptions,
        *,
        closed_by: Mapping[str, Any] | None = None,
        related: Sequence[Mapping[str, Any]] = (),
        vehicle_seen: tuple[int, Mapping[str, Any]] | None = None,
    ) -> None:
        self.doc = doc
        self.vehicle_seen = vehicle_seen
        self.options = options
        self.closed_by = closed_by
        self.related = related
        self.kind = str(doc["kind"])
        self.details: Mapping[str, Any] = doc.get("details") or {}
        self.incident: Mapping[str, Any] = doc.get("incident") or {}
        self.agency = options.agency_id
        self.urn = _incident_urn(str(doc["alert_id"]), self.agency)
        stamps = [str(doc["emitted_at"])]
        if closed_by is not None:
            stamps.append(str(closed_by["emitted_at"]))
        self.stamp = max(stamps, key=_when)
        self.notes: list[dict[str, Any]] = []
        self.locations: list[dict[str, Any]] = []

    # The common prologue of every data component.
    def _prologue(self, component_id: str) -> dict[str, Any]:
        return {
            "$id": component_id,
            "lastUpdateTimeStamp": self.stamp,
            "updatedByAgencyReference": _ref(self.agency),
        }

    def _note(self, name: str, text: str) -> dict[str, str]:
        note = self._prologue(f"{self.urn}:{name}")
        note["notesActionComments"] = html.escape(text, quote=False)
        self.notes.append(note)
        return _ref(note["$id"])

    def build(self) -> dict[str, Any]:
        doc = self.doc
        eido: dict[str, Any] = self._prologue(self.urn)
        eido["eidoVersion"] = EIDO_VERSION
        eido["issuingElementIdentification"] = self.options.sending_system

        reason_refs = [self._note(f"reason:{i}", r) for i, r in enumerate(doc["reasons"], 1)]
        incident = self._incident(reason_refs)
        eido["incidentComponent"] = incident

        if self.kind == "call_incident":
            calls = self._calls()
            if calls:
                eido["callComponent"] = calls
        if self.kind in _PLATE_KINDS:
            vehicle, media = self._vehicle()
            eido["vehicleComponent"] = [vehicle]
            incident["vehicleReference"] = [_ref(vehicle["$id"])]
            if media:
                eido["mediaComponent"] = media
        if self.kind in _DEVICE_KINDS:
            eido["alarmsSensorsComponent"] = [self._device()]
        if self.related:
            eido["linkComponent"] = [self._link(other) for other in self.related]
        if self.locations:
            eido["locationComponent"] = self.locations
        eido["notesComponent"] = self.notes
        agency = self._prologue(self.agency)
        agency["agencyRoleDescriptionRegistryText"] = list(self.options.agency_roles)
        agency["agencyType"] = list(self.options.agency_types)
        eido["agencyComponent"] = [agency]
        eido["@context"] = {"@vocab": JSONLD_VOCAB}
        return eido

    def _type(self) -> tuple[str, str]:
        """(internal type code, internal type text)."""
        d, kind = self.details, self.kind
        if kind == "plate_hit":
            plate = d.get("normalized_plate") or d.get("read_plate")
            match = (d.get("match") or {}).get("kind", "?")
            return (
                f"plate_hit:{d.get('list', '')}",
                f"plate {plate} on watchlist {d.get('list')} ({match} match)",
            )
        if kind == "restricted_zone":
            plate = d.get("normalized_plate") or d.get("read_plate")
            return (
                "restricted_zone",
                f"plate {plate} not allowed in restricted zone {d.get('zone_id')}",
            )
        if kind in _DEVICE_KINDS:
            what = {
                "button_press": "button pressed",
                "device_tamper": "tampering reported",
                "device_offline": "device offline",
                "device_restored": "device reporting again",
            }[kind]
            return (
                f"{kind}:{d.get('device_kind', '')}",
                f"{d.get('device_kind')} {d.get('device_id')}: {what}",
            )
        types = _strs(d.get("incident_types"))
        return (
            f"call_incident:{types[0] if types else ''}",
            "emergency calls: " + (", ".join(types) or "unclassified"),
        )

    def _status(self) -> str:
        if self.kind == "device_restored" or self.closed_by is not None:
            return "closed"
        return "open"

    def _incident(self, reason_refs: list[dict[str, str]]) -> dict[str, Any]:
        doc = self.doc
        internal, text = self._type()
        priority = int(doc["priority"])
        incident = self._prologue(f"{self.urn}:incident")
        incident["incidentTypeCommonRegistryText"] = self.options.type_code(internal, self.kind)
        incident["incidentTypeInternalCode"] = internal
        incident["incidentTypeInternalText"] = text
        incident["incidentStatusInternalText"] = [self._status()]
        incident["internalIncidentId"] = str(doc["alert_id"])
        incident["incidentPriorityInternalText"] = f"P{priority}"
        incident["incidentCommonPriorityNumber"] = COMMON_PRIORITY[priority]
        beat = next((z for z in doc.get("zones") or () if z.get("kind") == "sector"), None)
        if beat is not None:
            incident["beatOrDispatchGroupText"] = str(beat.get("name") or beat.get("zone_id"))
        current = self._location(
            "current",
            "CurrentIncident",
            doc.get("location"),
            str(doc["event_time"]),
            self._place_text(),
        )
        if current is not None:
            incident["locationReference"] = [current]
        refs = [*reason_refs, self._note("event", self._event_text())]
        if self.kind == "call_incident":
            refs.append(self._note("calls", self._calls_text()))
        if self.closed_by is not None:
            restore = self.closed_by
            refs.append(
                self._note(
                    "closed",
                    f"closed: the device reported again at {restore['event_time']} "
                    f"(alert {restore['alert_id']})",
                )
            )
        incident["notesReference"] = refs
        return incident

    def _location(
        self, name: str, registry: str, loc: Any, when: str, description: str
    ) -> dict[str, str] | None:
        if loc is None and not description:
            return None
        component = self._prologue(f"{self.urn}:location:{name}")
        component["locationTypeDescriptionRegistryText"] = registry
        if loc is not None:
            component["locationByValue"] = pidf_lo_point(
                float(loc["lat"]),
                float(loc["lon"]),
                entity=f"pres:{self.doc['alert_id']}@{self.agency}",
                timestamp=when,
            )
        if description:
            component["locationDescriptionText"] = description
        self.locations.append(component)
        return _ref(component["$id"])

    def _place_text(self) -> str:
        parts = []
        if self.doc.get("site"):
            parts.append(str(self.doc["site"]))
        zones = _zones_text(self.doc.get("zones") or ())
        if zones:
            parts.append(f"zones: {zones}")
        return "; ".join(parts)

    def _event_text(self) -> str:
        doc = self.doc
        parts = [
            f"sisec-stream {self.kind} alert {doc['alert_id']}, update {doc['update']}",
            f"event time {doc['event_time']}",
            f"emitted at {doc['emitted_at']}",
            f"priority P{doc['priority']}",
        ]
        if isinstance(doc.get("score"), int | float):
            parts.append(f"score {doc['score']}")
        if doc.get("incident_key"):
            parts.append(f"incident key {doc['incident_key']}")
        if doc.get("events"):
            parts.append("source events " + ", ".join(_strs(doc["events"])))
        if doc.get("site"):
            parts.append(f"site {doc['site']}")
        zones = _zones_text(doc.get("zones") or ())
        if zones:
            parts.append(f"zones {zones}")
        if doc.get("location") is None:
            parts.append("no position")
        return "; ".join(parts)

    # --- kind-specific components -----------------------------------------------

    def _calls(self) -> list[dict[str, Any]]:
        d, inc = self.details, self.incident
        call_ids = _strs(d.get("call_ids"))
        lines = _strs(d.get("lines"))
        started = str(inc.get("opened_at") or self.doc["event_time"])
        calls = []
        for i, call_id in enumerate(call_ids):
            call = self._prologue(_call_urn(call_id, self.agency))
            call["callStateRegistryText"] = "callAnswered"
            call["standardPrimaryCallType"] = "emergency"
            call["direction"] = "incoming"
            call["callStartTimestamp"] = started
            if len(lines) == len(call_ids):
                call["localCallType"] = lines[i]
            call["priorityIdentifier"] = CALL_PRIORITY[int(self.doc["priority"])]
            others = [c for c in call_ids if c != call_id]
            if others:
                call["relatedCallIdentifier"] = [_call_urn(c, self.agency) for c in others]
            calls.append(call)
        return calls

    def _calls_text(self) -> str:
        d, inc = self.details, self.incident
        call_ids, lines = _strs(d.get("call_ids")), _strs(d.get("lines"))
        if len(lines) == len(call_ids):
            listed = ", ".join(f"{c} (line {ln})" for c, ln in zip(call_ids, lines, strict=True))
        else:
            listed = ", ".join(call_ids) + (f"; lines {', '.join(lines)}" if lines else "")
        parts = [f"calls {inc.get('calls', len(call_ids))}: {listed}"]
        parts.append("types " + (", ".join(_strs(d.get("incident_types"))) or "none"))
        for key, label in (
            ("callers", "distinct callers"),
            ("unconfirmed_calls", "unconfirmed calls nearby"),
            ("opened_at", "first call"),
            ("last_call", "last call"),
        ):
            if key in inc:
                parts.append(f"{label} {inc[key]}")
        return "; ".join(parts)

    def _vehicle(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        d, inc = self.details, self.incident
        plate = str(d.get("normalized_plate") or d.get("read_plate") or "")
        seen_by = f'read as "{d.get("read_plate")}" by camera {d.get("camera_id")}'
        ids = [
            {
                "identificationID": _text(plate),
                "category": _text("license plate"),
                "categoryDescription": _text(seen_by),
            }
        ]
        listed = d.get("listed_plate")
        if self.kind == "plate_hit" and listed and listed != plate and "*" not in str(listed):
            ids.append(
                {
                    "identificationID": _text(listed),
                    "category": _text("license plate"),
                    "categoryDescription": _text(
                        f"listed plate of watchlist entry {d.get('entry_id')} "
                        f"({d.get('list')}), matched as {(d.get('match') or {}).get('kind')}"
                    ),
                }
            )
        nc: dict[str, Any] = {"otherIdentification": ids}
        seen = self._seen_vehicle()[1]
        for key, name in (
            ("make", "makeName"),
            ("model", "modelName"),
            ("color", "conveyanceColorPrimary"),
            ("class", "category"),
        ):
            if seen.get(key):
                nc[name] = _text(seen[key])
        vehicle = self._prologue(f"{self.urn}:vehicle:0")
        vehicle["ncVehicleComponent"] = nc
        vehicle["vehicleRelationshipType"] = [self.options.vehicle_relationship]
        vehicle["vehicleRelationshipTimeStamp"] = str(
            inc.get("opened_at") or self.doc["event_time"]
        )
        refs = [r for r in (self._current_ref(),) if r]
        track = [t for t in inc.get("track") or () if isinstance(t, Mapping)]
        first = track[0] if track else None
        if (
            first is not None
            and len(track) > 1
            and isinstance(first.get("lat"), int | float)
            and isinstance(first.get("lon"), int | float)
        ):
            initial = self._location(
                "initial",
                "Initial",
                {"lat": first["lat"], "lon": first["lon"]},
                str(first.get("time") or inc.get("opened_at") or ""),
                f"first sighting, camera {first.get('camera_id')} at {first.get('time')}",
            )
            if initial:
                refs.append(initial)
        if refs:
            vehicle["locationReference"] = refs
        vehicle["notesReference"] = [self._note("vehicle", self._vehicle_text(track))]
        media = []
        image = d.get("image_ref")
        content_type = mimetypes.guess_type(str(image))[0] if image else None
        if image and content_type:
            item = self._prologue(f"{self.urn}:media:0")
            item["uri"] = str(image)
            item["contentType"] = content_type
            item["label"] = f"camera {d.get('camera_id')} image of the newest sighting"
            media.append(item)
            vehicle["mediaReferences"] = [_ref(item["$id"])]
        return vehicle, media

    def _seen_vehicle(self) -> tuple[int, Mapping[str, Any]]:
        """The vehicle description (make, colour, class) of the newest update that had
        one: a later camera that did not report it does not erase it."""
        own = self.details.get("vehicle")
        if isinstance(own, Mapping) and own:
            return int(self.doc["update"]), own
        return self.vehicle_seen or (int(self.doc["update"]), {})

    def _current_ref(self) -> dict[str, str] | None:
        current = f"{self.urn}:location:current"
        return _ref(current) if any(x["$id"] == current for x in self.locations) else None

    def _vehicle_text(self, track: Sequence[Mapping[str, Any]]) -> str:
        d, inc = self.details, self.incident
        parts = []
        if self.kind == "plate_hit":
            match = d.get("match") or {}
            parts.append(
                f"watchlist {d.get('list')} entry {d.get('entry_id')} "
                f"(listed plate {d.get('listed_plate')})"
            )
            if d.get("note"):
                parts.append(f"entry note: {d['note']}")
            desc = f"match {match.get('kind')} score {match.get('score')}"
            for key in ("substitutions", "edge", "corroborated_by", "contradicted_by"):
                if match.get(key):
                    desc += f", {key} {_compact(match[key])}"
            parts.append(desc)
        else:
            parts.append(f"restricted zone {d.get('zone_id')}, allow list {d.get('allow_list')}")
        read = f'read as "{d.get("read_plate")}" by camera {d.get("camera_id")}'
        for key in ("confidence", "heading_deg"):
            if d.get(key) is not None:
                read += f", {key} {d[key]}"
        parts.append(read)
        update, seen = self._seen_vehicle()
        if seen:
            older = "" if update == self.doc["update"] else f" (as seen in update {update})"
            parts.append(f"vehicle {_compact(seen)}{older}")
        if d.get("image_ref"):
            parts.append(f"image {d['image_ref']}")
        for key in ("sightings", "score", "corroborated", "opened_at", "last_seen"):
            if key in inc:
                parts.append(f"{key} {inc[key]}")
        if inc.get("corroborated_by"):
            parts.append(f"corroborated by {_compact(inc['corroborated_by'])}")
        if track:
            steps = [
                f"{t.get('camera_id')} {t.get('time')}"
                + (f" ({t.get('lat')}, {t.get('lon')})" if t.get("lat") is not None else "")
                for t in track
            ]
            parts.append("track: " + " -> ".join(steps))
        return "; ".join(parts)

    def _device(self) -> dict[str, Any]:
        d, inc = self.details, self.incident
        device = self._prologue(f"{self.urn}:device:{d.get('device_id', '')}")
        parts = [f"device {d.get('device_id')} ({d.get('device_kind')})"]
        if d.get("action"):
            parts.append(f"action {d['action']}")
        for key in ("count", "first", "last"):
            if key in inc:
                parts.append(f"{key} {inc[key]}")
        if d.get("last_seen"):
            parts.append(f"last seen {d['last_seen']}")
        device["notesReference"] = [self._note("device", "; ".join(parts))]
        return device

    def _link(self, other: Mapping[str, Any]) -> dict[str, Any]:
        link = self._prologue(f"{self.urn}:link:{other['alert_id']}")
        link["incidentTrackingIdentifier"] = _incident_urn(str(other["alert_id"]), self.agency)
        link["linkDirectionCode"] = "RELATED"
        link["transactionReasonText"] = (
            f"{other['kind']} of the same device ({other.get('incident_key')})"
        )
        return link


def _device_key(doc: Mapping[str, Any]) -> str:
    """The supervised device an offline or restored alert is about."""
    device = (doc.get("details") or {}).get("device_id")
    return str(doc.get("incident_key") or f"device:{device}:supervision")


def _incident_urn(alert_id: str, domain: str) -> str:
    return f"urn:emergency:uid:incidentid:{alert_id}:{domain}"


def _call_urn(call_id: str, domain: str) -> str:
    return f"urn:emergency:uid:callid:{call_id}:{domain}"


def _zones_text(zones: Iterable[Any]) -> str:
    return ", ".join(
        f"{z.get('name') or z.get('zone_id')} [{z.get('zone_id')}, {z.get('kind')}]"
        for z in zones
        if isinstance(z, Mapping)
    )


def _compact(value: Any) -> str:
    return orjson.dumps(value).decode()
