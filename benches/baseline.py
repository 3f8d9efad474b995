"""Plain-Python baseline for the benchmarks: the same work as the Rust engine, done well in Python.

:class:`PythonBaseline` validates events against contract v1 (``docs/events.md``) with the same
reason codes, the same field names and the same first-problem-wins check order as
``sisec_stream.Engine``, normalises plates, looks the normalised plate up in a dict watchlist
(one alert per matching entry) and raises an alert for every button ``press``.

It is written the way a careful Python engineer would write a fast version, so that the
benchmarks compare the engine with a fair opponent: ``orjson`` for parsing, no ``jsonschema``,
precompiled regexes and ``str`` methods that run in C, ``type(x) is ...`` checks and early
returns. ``tests/test_baseline_agrees.py`` proves that it returns the same reasons as the engine.

Known differences, all of which make the baseline do *less* work than the engine:

* ``duplicate_field`` is not detected: ``orjson`` keeps the last value of a repeated key and
  cannot report duplicates (a second, duplicate-aware parse would make the baseline several
  times slower). Such events are judged on the last value.
* Alerts are light tuples, not the engine's full JSON alert documents, and the timestamp is
  validated but not converted to epoch milliseconds.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "Problem", "PythonBaseline", "RejectRow", "check_event"]

DEFAULT_MAX_EVENT_BYTES: Final = 65536

#: A problem found in an event: (reason code, field name or None).
Problem = tuple[str, str | None]
#: A rejected event: (index in the batch, reason code, field name or None).
RejectRow = tuple[int, str, str | None]

_MISSING: Final[Any] = object()

_ID_MAX: Final = 64
_MAX_EPOCH_MS: Final = 253_402_300_799_999
_ID_CHARS = re.compile(r"[!-~]*").fullmatch
_PLATE = re.compile(r"[ .-]*[A-Za-z0-9](?:[ .-]*[A-Za-z0-9]){1,9}[ .-]*").fullmatch
_TS = re.compile(
    r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]"
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
).fullmatch
_DAYS_IN_MONTH: Final = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DROP_SEPARATORS: Final = str.maketrans("", "", " .-")

_DEVICE_KINDS: Final = frozenset({"panic", "community_alarm", "school_link", "business_aid"})
_ACTIONS: Final = frozenset({"press", "heartbeat", "tamper", "low_battery"})
_LINES: Final = frozenset({"123", "911", "089", "other"})
_STATUSES: Final = frozenset({"received", "classified", "abandoned", "closed"})

_MISSING_TS: Final[Problem] = ("missing_field", "ts")
_BAD_TYPE_TS: Final[Problem] = ("bad_type", "ts")
_BAD_TS: Final[Problem] = ("bad_timestamp", "ts")


def _ident(d: dict[str, Any], key: str) -> Problem | None:
    v = d.get(key, _MISSING)
    if v is _MISSING:
        return ("missing_field", key)
    if type(v) is not str:
        return ("bad_type", key)
    if not 0 < len(v) <= _ID_MAX:
        return ("out_of_range", key)
    if _ID_CHARS(v) is None:
        return ("bad_value", key)
    return None


def _text(v: object, field: str, max_len: int) -> Problem | None:
    if type(v) is not str:
        return ("bad_type", field)
    if not 0 < len(v) <= max_len:
        return ("out_of_range", field)
    return None


def _plate(v: object, field: str) -> Problem | None:
    if type(v) is not str:
        return ("bad_type", field)
    if len(v) > 16:
        return ("out_of_range", field)
    if _PLATE(v) is None:
        return ("bad_value", field)
    return None


def _number(v: object, field: str, lo: float, hi: float) -> Problem | None:
    # bool is a subclass of int, but booleans are not numbers in the contract: test the exact type.
    if type(v) is float or type(v) is int:
        return None if lo <= v <= hi else ("out_of_range", field)
    return ("bad_type", field)


def _choice(d: dict[str, Any], key: str, allowed: frozenset[str]) -> Problem | None:
    v = d.get(key, _MISSING)
    if v is _MISSING:
        return ("missing_field", key)
    if type(v) is not str:
        return ("bad_type", key)
    if v not in allowed:
        return ("bad_value", key)
    return None


def _timestamp(v: object) -> Problem | None:
    if type(v) is str:
        m = _TS(v)
        if m is None:
            return _BAD_TS
        year = int(m[1])
        if year < 1970:
            return _BAD_TS
        day = int(m[3])
        if day > 28:
            month = int(m[2])
            max_day = _DAYS_IN_MONTH[month]
            if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
                max_day = 29
            if day > max_day:
                return _BAD_TS
        return None
    if type(v) is int:
        return None if 0 <= v <= _MAX_EPOCH_MS else _BAD_TS
    if type(v) is float:
        # A number with a zero fractional part counts as an integer (JSON Schema semantics).
        if not v.is_integer():
            return _BAD_TYPE_TS
        return None if 0 <= v <= _MAX_EPOCH_MS else _BAD_TS
    return _BAD_TYPE_TS


def _location(d: dict[str, Any]) -> Problem | None:
    lat = d.get("lat", _MISSING)
    lon = d.get("lon", _MISSING)
    if lat is _MISSING:
        if lon is _MISSING:
            return None
    elif (p := _number(lat, "lat", -90.0, 90.0)) is not None:
        return p
    if lon is not _MISSING and (p := _number(lon, "lon", -180.0, 180.0)) is not None:
        return p
    if lat is _MISSING:
        return ("missing_field", "lat")
    if lon is _MISSING:
        return ("missing_field", "lon")
    return None


def _vehicle(v: object) -> Problem | None:
    if type(v) is not dict:
        return ("bad_type", "vehicle")
    for key, field in (
        ("class", "vehicle.class"),
        ("make", "vehicle.make"),
        ("color", "vehicle.color"),
    ):
        x = v.get(key, _MISSING)
        if x is not _MISSING and (p := _text(x, field, 32)) is not None:
            return p
    return None


def _candidates(v: object) -> Problem | None:
    if type(v) is not list:
        return ("bad_type", "candidates")
    if len(v) > 10:
        return ("out_of_range", "candidates")
    for i, c in enumerate(v):
        if type(c) is not dict:
            return ("bad_type", f"candidates[{i}]")
        plate = c.get("plate", _MISSING)
        if plate is _MISSING:
            return ("missing_field", f"candidates[{i}].plate")
        if (p := _plate(plate, f"candidates[{i}].plate")) is not None:
            return p
        conf = c.get("confidence", _MISSING)
        if (
            conf is not _MISSING
            and (p := _number(conf, f"candidates[{i}].confidence", 0.0, 1.0)) is not None
        ):
            return p
    return None


def _plate_read(d: dict[str, Any]) -> Problem | None:
    if (p := _ident(d, "camera_id")) is not None:
        return p
    plate = d.get("plate", _MISSING)
    if plate is _MISSING:
        return ("missing_field", "plate")
    if (p := _plate(plate, "plate")) is not None:
        return p
    v = d.get("confidence", _MISSING)
    if v is not _MISSING and (p := _number(v, "confidence", 0.0, 1.0)) is not None:
        return p
    if (p := _location(d)) is not None:
        return p
    v = d.get("heading_deg", _MISSING)
    if v is not _MISSING:
        if type(v) is not float and type(v) is not int:
            return ("bad_type", "heading_deg")
        if not 0 <= v < 360:
            return ("out_of_range", "heading_deg")
    v = d.get("vehicle", _MISSING)
    if v is not _MISSING and (p := _vehicle(v)) is not None:
        return p
    v = d.get("candidates", _MISSING)
    if v is not _MISSING and (p := _candidates(v)) is not None:
        return p
    v = d.get("image_ref", _MISSING)
    if v is not _MISSING and (p := _text(v, "image_ref", 512)) is not None:
        return p
    return None


def _button_press(d: dict[str, Any]) -> Problem | None:
    return (
        _ident(d, "device_id")
        or _choice(d, "device_kind", _DEVICE_KINDS)
        or _choice(d, "action", _ACTIONS)
        or _location(d)
    )


def _call(d: dict[str, Any]) -> Problem | None:
    if (p := _ident(d, "call_id") or _choice(d, "line", _LINES)) is not None:
        return p
    if (p := _choice(d, "status", _STATUSES)) is not None:
        return p
    v = d.get("incident_type", _MISSING)
    if v is not _MISSING and (p := _text(v, "incident_type", 64)) is not None:
        return p
    if (p := _location(d)) is not None:
        return p
    v = d.get("accuracy_m", _MISSING)
    if v is not _MISSING and (p := _number(v, "accuracy_m", 0.0, 100_000.0)) is not None:
        return p
    v = d.get("caller_hash", _MISSING)
    if v is not _MISSING and (p := _text(v, "caller_hash", 128)) is not None:
        return p
    return None


_BY_TYPE: Final = {"plate_read": _plate_read, "button_press": _button_press, "call": _call}


def check_event(d: dict[str, Any]) -> Problem | None:
    """Return the first problem of a parsed JSON object, or None if it is a valid event."""
    t = d.get("type", _MISSING)
    if t is _MISSING:
        return ("missing_field", "type")
    if type(t) is not str:
        return ("bad_type", "type")
    check = _BY_TYPE.get(t)
    if check is None:
        return ("unknown_type", "type")
    if (p := _ident(d, "event_id")) is not None:
        return p
    ts = d.get("ts", _MISSING)
    if ts is _MISSING:
        return _MISSING_TS
    if (p := _timestamp(ts)) is not None:
        return p
    return check(d)


class PythonBaseline:
    """The engine's work in plain Python: validate, normalise plates, match, alert.

    ``watchlist`` maps a *normalised* plate (``"ABC123"``) to its entries; each entry is an
    opaque tuple (e.g. ``(list_name, entry_id, priority)``) copied into the alert.

    :meth:`process` returns ``(accepted, rejected, alerts, rejects)`` where an alert is
    ``("plate_hit", event_id, normalised_plate, entry)`` for each matching watchlist entry or
    ``("button_press", event_id, device_id, device_kind)`` for each ``press``, and a reject is
    ``(index, reason, field)``.
    """

    __slots__ = ("max_event_bytes", "watchlist")

    def __init__(
        self,
        watchlist: dict[str, list[tuple[Any, ...]]],
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self.watchlist = watchlist
        self.max_event_bytes = max_event_bytes

    def process(
        self, batch: list[bytes]
    ) -> tuple[int, int, list[tuple[Any, ...]], list[RejectRow]]:
        """Validate and match a batch of raw events; see the class docstring for the result."""
        alerts: list[tuple[Any, ...]] = []
        rejects: list[RejectRow] = []
        watchlist = self.watchlist
        max_bytes = self.max_event_bytes
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        for i, raw in enumerate(batch):
            if len(raw) > max_bytes:
                rejects.append((i, "too_large", None))
                continue
            try:
                d = loads(raw)
            except decode_error:
                rejects.append((i, "invalid_json", None))
                continue
            if type(d) is not dict:
                rejects.append((i, "not_object", None))
                continue
            problem = check_event(d)
            if problem is not None:
                rejects.append((i, problem[0], problem[1]))
                continue
            t = d["type"]
            if t == "plate_read":
                plate = d["plate"].translate(_DROP_SEPARATORS).upper()
                entries = watchlist.get(plate)
                if entries:
                    event_id = d["event_id"]
                    for entry in entries:
                        alerts.append(("plate_hit", event_id, plate, entry))
            elif t == "button_press" and d["action"] == "press":
                alerts.append(("button_press", d["event_id"], d["device_id"], d["device_kind"]))
        return len(batch) - len(rejects), len(rejects), alerts, rejects
