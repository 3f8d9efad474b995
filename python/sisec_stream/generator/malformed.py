"""Malformed events: a valid event broken in exactly one way, with the expected reject.

Each broken event carries a single problem, so the contract's "first problem wins" order
never makes the expected reason ambiguous. Reasons and field names are the contract's
reject codes (``invalid_json``, ``missing_field``/``plate``, ...).
"""

from __future__ import annotations

import random
from typing import Any, Final

import orjson

__all__ = ["MALFORMED_KINDS", "corrupt"]

#: Kinds of breakage, drawn uniformly.
MALFORMED_KINDS: Final = (
    "truncated",
    "missing_required",
    "bad_timestamp",
    "lat_out_of_range",
    "unknown_type",
    "null_value",
    "duplicate_key",
    "bad_enum_or_pattern",
)

_ID_FIELD: Final = {"plate_read": "camera_id", "button_press": "device_id", "call": "call_id"}
_DROPPED_FIELD: Final = {"plate_read": "plate", "button_press": "action", "call": "status"}
# (field, bad value): a value of the right JSON type that the contract does not allow.
_BAD_VALUE: Final[dict[str, tuple[tuple[str, Any], ...]]] = {
    "plate_read": (("plate", "ABC_123"), ("plate", "ABC*12*")),
    "button_press": (("device_kind", "panic_button"), ("action", "pressed")),
    "call": (("status", "answered"), ("line", "112")),
}
_UNKNOWN_TYPES: Final = ("plate-read", "alarm", "llamada", "plate_read_v2", "panic")
# Every one is a bad_timestamp: impossible date, space separator, local format, missing
# offset, hour 24, leap second, negative or too large epoch milliseconds.
_BAD_TS: Final[tuple[str | int, ...]] = (
    "2026-02-30T07:00:00-05:00",
    "2026-11-23 07:00:00-05:00",
    "23/11/2026 07:00:00",
    "2026-11-23T07:00:00",
    "2026-11-23T24:00:00-05:00",
    "2026-11-23T07:00:60Z",
    -1,
    253_402_300_800_000,
)


def corrupt(line: bytes, event_type: str, rng: random.Random) -> tuple[bytes, str, str]:
    """Break valid event ``line``: ``(bad_line, expected_reason, expected_field)``.

    ``expected_field`` is empty for reasons that name no field (``invalid_json``).
    """
    kind = MALFORMED_KINDS[int(rng.random() * len(MALFORMED_KINDS))]
    if kind == "truncated":
        # Any proper prefix of a JSON object is not JSON.
        low = len(line) // 3
        return line[: low + int(rng.random() * (len(line) - 1 - low))], "invalid_json", ""
    obj: dict[str, Any] = orjson.loads(line)
    if kind == "duplicate_key":
        # orjson cannot write a duplicate key: splice it before the closing brace.
        key = _ID_FIELD[event_type]
        dup = b',"' + key.encode() + b'":' + orjson.dumps(obj[key]) + b"}"
        return line[:-1] + dup, "duplicate_field", key
    reason: str
    field: str
    if kind == "missing_required":
        field = _DROPPED_FIELD[event_type]
        del obj[field]
        reason = "missing_field"
    elif kind == "bad_timestamp":
        obj["ts"] = _BAD_TS[int(rng.random() * len(_BAD_TS))]
        reason, field = "bad_timestamp", "ts"
    elif kind == "lat_out_of_range":
        lat = 90.0 + round(rng.uniform(0.5, 10.0), 4)
        obj["lat"] = lat if rng.random() < 0.5 else -lat
        obj.setdefault("lon", -75.5)
        reason, field = "out_of_range", "lat"
    elif kind == "unknown_type":
        obj["type"] = _UNKNOWN_TYPES[int(rng.random() * len(_UNKNOWN_TYPES))]
        reason, field = "unknown_type", "type"
    elif kind == "null_value":
        field = _ID_FIELD[event_type]
        obj[field] = None
        reason = "bad_type"
    else:
        choices = _BAD_VALUE[event_type]
        field, value = choices[int(rng.random() * len(choices))]
        obj[field] = value
        reason = "bad_value"
    return orjson.dumps(obj), reason, field
