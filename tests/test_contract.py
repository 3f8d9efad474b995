"""The event contract v1: shipped JSON Schemas, corpora and the engine agree.

* ``tests/corpus/events_good.jsonl``: valid events, one per line.
* ``tests/corpus/events_bad.jsonl``: ``{"reason", "field", "raw"}`` per line; ``raw`` is the exact
  event text, so malformed JSON can be represented.
* A generated corpus of seeded random mutations of the good events, on which the schema and the
  engine must give the same verdict.

The schema cannot see duplicate keys (``duplicate_field``) nor the size limit (``too_large``):
those are parser rules of the engine, stricter than the schema.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, Final, NamedTuple

import pytest

import sisec_stream
from sisec_stream import Engine
from sisec_stream.contract import (
    SCHEMA_BASE_URI,
    SCHEMA_NAMES,
    event_validator,
    load_schema,
    schema_path,
)

CORPUS: Final = Path(__file__).parent / "corpus"
GOOD_PATH: Final = CORPUS / "events_good.jsonl"
BAD_PATH: Final = CORPUS / "events_bad.jsonl"
MAX_EVENT_BYTES: Final = 65536
TYPES: Final = ("plate_read", "button_press", "call")
#: The reject reason codes, in the order the contract lists them.
REASONS: Final = (
    "too_large",
    "invalid_json",
    "duplicate_field",
    "not_object",
    "missing_field",
    "bad_type",
    "unknown_type",
    "bad_value",
    "out_of_range",
    "bad_timestamp",
    "unknown_sensor",
)
GENERATED_SEED: Final = 20240514
GENERATED_N: Final = 6000


class BadCase(NamedTuple):
    reason: str
    field: str | None
    raw: bytes


# ---- corpora --------------------------------------------------------------------------------


def good_events() -> list[bytes]:
    """The good corpus as raw event bytes."""
    return [line.encode() for line in GOOD_PATH.read_text(encoding="utf-8").splitlines()]


def bad_cases() -> list[BadCase]:
    """The bad corpus: expected reason and field with the raw event bytes."""
    cases = []
    for line in BAD_PATH.read_text(encoding="utf-8").splitlines():
        c = json.loads(line)
        cases.append(BadCase(c["reason"], c["field"], c["raw"].encode()))
    return cases


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """Parse like the engine's parser would (strict UTF-8, no NaN/Infinity); raise ValueError.

    Duplicate keys are not detected (the last value wins), as in any JSON Schema tool.
    """
    return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)


@cache
def validator() -> Any:
    return event_validator()


def schema_error(raw: bytes) -> str | None:
    """None if ``raw`` is valid under event.schema.json, else a one-line explanation."""
    from jsonschema.exceptions import best_match

    try:
        obj = parse_json(raw)
    except ValueError as e:
        return f"not JSON: {e}"
    err = best_match(validator().iter_errors(obj))
    if err is None:
        return None
    where = "/".join(str(p) for p in err.absolute_path) or "<root>"
    return f"{where}: {err.message[:200]}"


# ---- generated corpus: seeded random mutations of the good events --------------------------

_ENUMS: Final[dict[str, tuple[str, ...]]] = {
    "type": TYPES,
    "device_kind": ("panic", "community_alarm", "school_link", "business_aid"),
    "action": ("press", "heartbeat", "tamper", "low_battery"),
    "line": ("123", "911", "089", "other"),
    "status": ("received", "classified", "abandoned", "closed"),
}
_IDS: Final = ("event_id", "camera_id", "device_id", "call_id")
_NUMBERS: Final[dict[str, tuple[float, float]]] = {
    "lat": (-90, 90),
    "lon": (-180, 180),
    "confidence": (0, 1),
    "heading_deg": (0, 360),  # upper bound exclusive
    "accuracy_m": (0, 100_000),
}
_TEXTS: Final[dict[str, int]] = {"image_ref": 512, "incident_type": 64, "caller_hash": 128}
_ODD_VALUES: Final[tuple[Any, ...]] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    1700000000000,
    1e3,
    "",
    "x",
    "ABC123",
    "911",
    [],
    [1, "a"],
    {},
    {"plate": "ABC123"},
)
_EXTRA_CHARS: Final = ("ñ", "é", "🚗", " ", "\t", "\n", "\x7f", "\x00", "_", "/", "\uff11")
_PLATE_CHARS: Final = "ABCXYZabcxyz0123456789" * 3 + " .-" * 3 + "_/ñ"
_MAX_MS: Final = 253402300799999


def _random_string(rng: random.Random, length: int, ascii_only: bool) -> str:
    chars = [chr(rng.randint(0x21, 0x7E)) for _ in range(length)]
    if not ascii_only and chars and rng.random() < 0.5:
        chars[rng.randrange(length)] = rng.choice(_EXTRA_CHARS)
    return "".join(chars)


def _random_ts(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.35:  # numbers around the bounds, in all JSON number shapes
        base = rng.choice([0, _MAX_MS, 1715694312000])
        x: Any = base + rng.choice([-2, -1, 0, 0, 1, 2, rng.randint(-(10**6), 10**6)])
        kind = rng.random()
        if kind < 0.2:
            x = float(x)
        elif kind < 0.35:
            x = x + rng.choice([0.5, 0.25, 0.001])
        elif kind < 0.4:
            x = rng.choice([10**20, -(10**20), 2**64, 2**63])
        return x
    # strings built from (mostly) plausible parts, so that many are valid and many are subtly not
    year = rng.choice([1969, 1970, 1999, 2000, 2023, 2024, 2100, 9999, 10000, 0])
    month = rng.choice([1, 2, 2, 2, 4, 6, 9, 11, 12, 0, 13])
    day = rng.choice([1, 15, 28, 29, 29, 30, 30, 31, 31, 0, 32])
    hh, mm, ss = rng.choice([0, 12, 23, 24]), rng.choice([0, 30, 59, 60]), rng.choice([0, 59, 60])
    frac = rng.choice(["", "", ".5", ".123", ".123456789", ".1234567890", "."])
    off = rng.choice(["Z", "z", "+00:00", "-05:00", "+23:59", "+24:00", "-00:60", "+0500", ""])
    sep = rng.choice(["T", "T", "t", " "])
    y = f"{year:04d}" if year < 10000 else str(year)
    s = f"{y}-{month:02d}-{day:02d}{sep}{hh:02d}:{mm:02d}:{ss:02d}{frac}{off}"
    if rng.random() < 0.15 and s:
        i = rng.randrange(len(s))
        s = s[:i] + rng.choice(["", "0", "9", ":", "-", "\n", " ", "\u0664"]) + s[i + 1 :]
    return s


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _container(obj: Any, path: tuple[Any, ...]) -> Any:
    for p in path[:-1]:
        obj = obj[p]
    return obj


def _random_candidate(rng: random.Random) -> Any:
    c: dict[str, Any] = {"plate": rng.choice(["ABC123", "ABC12D", "abc-123", "XYZ 987"])}
    if rng.random() < 0.5:
        c["confidence"] = round(rng.uniform(-0.1, 1.1), 3)
    if rng.random() < 0.15:
        c[rng.choice(["plate", "confidence", "x"])] = rng.choice(_ODD_VALUES)
    if rng.random() < 0.05:
        return rng.choice(_ODD_VALUES)
    return c


def _mutate(ev: dict[str, Any], rng: random.Random) -> Any:
    """Apply one random mutation in place (or return a replacement for the whole event)."""
    op = rng.randrange(14)
    if op == 0:  # drop a field (top level or nested)
        paths = list(_paths(ev))
        if paths:
            path = rng.choice(paths)
            del _container(ev, path)[path[-1]]
    elif op == 1:  # change a JSON type
        paths = list(_paths(ev))
        if paths:
            path = rng.choice(paths)
            _container(ev, path)[path[-1]] = copy.deepcopy(rng.choice(_ODD_VALUES))
    elif op == 2:  # a number at, inside or outside its bounds
        name = rng.choice(list(_NUMBERS))
        lo, hi = _NUMBERS[name]
        delta = rng.choice([1e-6, 0.001, 0.5, 1, 1000])
        value: Any = rng.choice(
            [lo - delta, hi + delta, lo, hi, hi - delta, rng.uniform(lo, hi), int(lo), int(hi)]
        )
        ev[name] = value
        other = {"lat": "lon", "lon": "lat"}.get(name)
        if other and other not in ev and rng.random() < 0.8:
            ev[other] = 0
    elif op == 3:
        ev["ts"] = _random_ts(rng)
    elif op == 4:  # enum values, right and wrong
        name = rng.choice(list(_ENUMS))
        pool = [v for values in _ENUMS.values() for v in values]
        ev[name] = rng.choice(
            [*_ENUMS[name], *_ENUMS[name], rng.choice(pool), rng.choice(_ENUMS[name]).upper(), ""]
        )
    elif op == 5:  # ids near their length bounds, sometimes with forbidden characters
        length = rng.choice([0, 1, 2, 63, 64, 64, 65, 100])
        ev[rng.choice(_IDS)] = _random_string(rng, length, ascii_only=rng.random() < 0.6)
    elif op == 6:  # plates (top level or a candidate)
        plate = "".join(rng.choice(_PLATE_CHARS) for _ in range(rng.randint(0, 18)))
        if "candidates" in ev and isinstance(ev["candidates"], list) and rng.random() < 0.3:
            ev["candidates"].append({"plate": plate})
        else:
            ev["plate"] = plate
    elif op == 7:  # free text near its length bounds, any Unicode
        name = rng.choice(list(_TEXTS))
        n = _TEXTS[name] + rng.choice([-1, 0, 1])
        ev[name] = rng.choice(["", "x" * n, "ñ" * n, "🚗" * n])
    elif op == 8:  # vehicle
        vehicle: dict[str, Any] = {}
        for key in ("class", "make", "color", "model"):
            if rng.random() < 0.5:
                n = rng.choice([0, 1, 10, 31, 32, 32, 33])
                vehicle[key] = rng.choice(["v" * n, "ñ" * n, "gris plata"[:n]])
        if rng.random() < 0.1:
            vehicle[rng.choice(["class", "make", "color"])] = rng.choice(_ODD_VALUES)
        ev["vehicle"] = vehicle if rng.random() < 0.95 else rng.choice(_ODD_VALUES)
    elif op == 9:  # candidates
        n = rng.choice([0, 1, 3, 9, 10, 10, 11, 12])
        ev["candidates"] = [_random_candidate(rng) for _ in range(n)]
    elif op == 10:  # the lat/lon pair
        choice = rng.randrange(3)
        if choice == 0:
            ev.pop("lat", None)
        elif choice == 1:
            ev.pop("lon", None)
        else:
            ev["lat"], ev["lon"] = 6.2442, -75.5812
    elif op == 11:  # unknown keys, including other types' fields with any value
        name = rng.choice(["x_extra", "site", "plate", "line", "device_kind", "status", "vehicle"])
        if name not in ev or name.startswith("x") or name == "site":
            ev[name] = copy.deepcopy(rng.choice(_ODD_VALUES))
    elif op == 12:  # another or an unknown type
        ev["type"] = rng.choice([*TYPES, "alarm", "Call", "plate-read"])
    elif rng.random() < 0.3:  # not an object at all
        return rng.choice([[ev], "plate_read", 42, None, True])
    return ev


def generated_corpus(seed: int = GENERATED_SEED, n: int = GENERATED_N) -> list[bytes]:
    """``n`` events made by 1-3 seeded random mutations of the good events."""
    rng = random.Random(seed)
    base = [json.loads(raw) for raw in good_events()]
    out = []
    for _ in range(n):
        ev: Any = copy.deepcopy(rng.choice(base))
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            if not isinstance(ev, dict):
                break
            ev = _mutate(ev, rng)
        seps = rng.choice([(",", ":"), (", ", ": ")])
        text = json.dumps(ev, ensure_ascii=rng.random() < 0.5, allow_nan=False, separators=seps)
        out.append(text.encode())
    return out


# ---- engine helpers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def check_accounting(res: Any, batch: list[bytes]) -> dict[int, Any]:
    """Batch invariants; returns the rejects by index."""
    assert res.n_in == len(batch)
    assert res.accepted + res.rejected == res.n_in
    assert len(res.rejects) == res.rejected
    assert sum(res.accepted_by_source.values()) == res.accepted
    by_index = {}
    for r in res.rejects:
        assert 0 <= r.index < len(batch)
        assert r.index not in by_index, f"two rejects for input {r.index}"
        assert r.raw == batch[r.index], f"reject {r.index}: .raw is not the input bytes"
        by_index[r.index] = r
    return by_index


def describe_reject(r: Any) -> str:
    if r is None:
        return "accepted"
    return f"{r.reason} field={r.field!r} detail={r.detail!r}"


# ---- schemas --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{SCHEMA_BASE_URI}{name}.schema.json"
    assert schema["title"]
    assert schema["description"]
    # Shipped inside the installed package, found through importlib.resources.
    path = schema_path(name)
    assert path.is_file()
    assert path.parent.parent.parent == Path(sisec_stream.__file__).parent
    assert schema_path(f"{name}.schema.json") == path
    assert json.loads(path.read_text(encoding="utf-8")) == schema


def test_unknown_schema_name() -> None:
    with pytest.raises(ValueError, match="unknown schema"):
        load_schema("alert")


def _property_maps(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            yield node["properties"]
        for v in node.values():
            yield from _property_maps(v)
    elif isinstance(node, list):
        for v in node:
            yield from _property_maps(v)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_property_is_documented(name: str) -> None:
    for props in _property_maps(load_schema(name)):
        for key, sub in props.items():
            if "const" in sub and name == "event":
                continue  # the if/then dispatch conditions of the union
            assert sub.get("description"), f"{name}: property {key!r} has no description"


def test_good_corpus_is_schema_valid() -> None:
    events = good_events()
    assert len(events) >= 40
    per_type = {t: event_validator(t) for t in TYPES}
    for raw in events:
        assert schema_error(raw) is None, (raw, schema_error(raw))
        obj = parse_json(raw)
        # the union dispatches to exactly the event's own type schema
        matching = [t for t, v in per_type.items() if v.is_valid(obj)]
        assert matching == [obj["type"]], (raw, matching)


def test_good_corpus_covers_the_optional_fields() -> None:
    seen: Counter[str] = Counter()
    for raw in good_events():
        obj = parse_json(raw)
        seen.update(f"{obj['type']}.{k}" for k in obj)
        if obj["type"] == "plate_read":
            seen.update(f"vehicle.{k}" for k in obj.get("vehicle", {}))
            seen.update(f"candidate.{k}" for c in obj.get("candidates", []) for k in c)
        seen.update(["ts:" + type(obj["ts"]).__name__])
    expected = {
        *(f"plate_read.{k}" for k in ("confidence", "lat", "lon", "heading_deg", "vehicle")),
        "plate_read.candidates",
        "plate_read.image_ref",
        "button_press.lat",
        "button_press.lon",
        *(f"call.{k}" for k in ("incident_type", "lat", "lon", "accuracy_m", "caller_hash")),
        "vehicle.class",
        "vehicle.make",
        "vehicle.color",
        "candidate.confidence",
        "ts:str",
        "ts:int",
        "ts:float",
    }
    assert expected <= set(seen), expected - set(seen)


def test_reason_codes_match_the_contract() -> None:
    assert tuple(sisec_stream.REJECT_REASONS) == REASONS
    assert tuple(sisec_stream.EVENT_TYPES) == TYPES


def test_bad_corpus_is_rejected_by_the_schema() -> None:
    cases = bad_cases()
    assert len(cases) >= 80
    # every code but too_large (tested in code: see test_too_large) and unknown_sensor (a
    # valid event from a sensor missing from the registry: tests/test_engine_zones.py)
    assert {c.reason for c in cases} == set(REASONS) - {"too_large", "unknown_sensor"}
    for c in cases:
        err = schema_error(c.raw)
        if c.reason == "duplicate_field":
            # Known difference: JSON Schema sees the parsed object (last value wins) and cannot
            # see duplicate keys; the engine's parser rejects them. These cases are otherwise
            # valid, so the schema accepts them.
            assert err is None, (c, err)
        else:
            assert err is not None, f"schema accepts {c.raw!r}, expected {c.reason}"


# ---- engine ---------------------------------------------------------------------------------


def test_good_corpus_is_accepted_by_the_engine(engine: Engine) -> None:
    batch = good_events()
    res = engine.process(batch)
    check_accounting(res, batch)
    assert res.rejected == 0, [(r.index, batch[r.index], describe_reject(r)) for r in res.rejects]
    assert res.accepted == len(batch)
    by_type = Counter(parse_json(raw)["type"] for raw in batch)
    assert {t: res.accepted_by_source.get(t, 0) for t in TYPES} == {t: by_type[t] for t in TYPES}


@pytest.mark.parametrize("case", bad_cases(), ids=lambda c: f"{c.reason}-{c.field}-{c.raw[:40]!r}")
def test_bad_case_engine_reason(engine: Engine, case: BadCase) -> None:
    res = engine.process([case.raw])
    check_accounting(res, [case.raw])
    assert res.rejected == 1, f"engine accepts {case.raw!r}; expected {case.reason}"
    (r,) = res.rejects
    assert (r.reason, r.field) == (case.reason, case.field), (case.raw, describe_reject(r))


def test_bad_corpus_as_one_batch(engine: Engine) -> None:
    cases = bad_cases()
    batch = [c.raw for c in cases]
    res = engine.process(batch)
    rejects = check_accounting(res, batch)
    assert res.accepted == 0
    got = {i: (r.reason, r.field) for i, r in rejects.items()}
    assert got == {i: (c.reason, c.field) for i, c in enumerate(cases)}


def test_generated_corpus_schema_agrees_with_engine(engine: Engine) -> None:
    batch = generated_corpus()
    assert len(batch) >= 5000
    res = engine.process(batch)
    rejects = check_accounting(res, batch)
    disagreements = []
    n_valid = 0
    for i, raw in enumerate(batch):
        err = schema_error(raw)
        n_valid += err is None
        if (err is None) != (i not in rejects):
            disagreements.append(
                f"#{i}: {raw.decode()}\n"
                f"    schema: {err or 'valid'}\n"
                f"    engine: {describe_reject(rejects.get(i))}"
            )
    assert not disagreements, f"{len(disagreements)} of {len(batch)} disagree:\n" + "\n".join(
        disagreements[:25]
    )
    # the generator must exercise both sides
    assert 0.15 * len(batch) < n_valid < 0.85 * len(batch), n_valid
    reasons = Counter(r.reason for r in res.rejects)
    for reason in ("missing_field", "bad_type", "bad_value", "out_of_range", "bad_timestamp"):
        assert reasons[reason] > 20, reasons


def test_generated_corpus_is_deterministic() -> None:
    assert generated_corpus(n=50) == generated_corpus(n=50)
    assert generated_corpus(seed=1, n=50) != generated_corpus(seed=2, n=50)


VALID: Final = (
    b'{"type":"call","event_id":"ca-1","ts":0,"call_id":"C1","line":"123","status":"received"'
)


@pytest.mark.parametrize(
    "raw",
    [
        VALID + b',"incident_type":"ri\xf1a"}',  # Latin-1, not UTF-8
        VALID + b',"x":"\xff"}',
        VALID + b',"x":"\xc0\xaf"}',  # overlong encoding of "/"
        VALID + b',"x":"\xed\xa0\x80"}',  # UTF-8-encoded surrogate
        VALID + b',"x":"\xe2\x82"}',  # truncated sequence
        b"\xef\xbb\xbf" + VALID + b"}",  # byte order mark
    ],
    ids=[
        "latin1-in-field",
        "xff-in-unknown-key",
        "overlong-in-unknown-key",
        "surrogate-in-unknown-key",
        "truncated-in-unknown-key",
        "bom",
    ],
)
def test_invalid_utf8_and_bom_are_invalid_json(engine: Engine, raw: bytes) -> None:
    res = engine.process([raw])
    check_accounting(res, [raw])
    assert [(r.reason, r.field) for r in res.rejects] == [("invalid_json", None)]


@pytest.mark.parametrize(
    "raw",
    [
        VALID + b',"x":{"a":1,"a":2}}',
        VALID + b',"x":[{"y":{"a":1,"a":2}}]}',
    ],
    ids=["unknown-object", "unknown-nested"],
)
def test_duplicate_keys_inside_unknown_keys(engine: Engine, raw: bytes) -> None:
    # "Duplicate keys in an object -> rejected": in any object, ignored or not. Which name the
    # engine gives to a key under an unknown key is not fixed by the contract.
    res = engine.process([raw])
    check_accounting(res, [raw])
    assert [r.reason for r in res.rejects] == ["duplicate_field"]
    assert schema_error(raw) is None


def _padded(size: int) -> bytes:
    head = VALID + b',"pad":"'
    raw = head + b"x" * (size - len(head) - 2) + b'"}'
    assert len(raw) == size
    return raw


def test_too_large(engine: Engine) -> None:
    at_limit, over = _padded(MAX_EVENT_BYTES), _padded(MAX_EVENT_BYTES + 1)
    garbage = b"{" * (MAX_EVENT_BYTES + 10)  # too_large is checked before invalid_json
    batch = [at_limit, over, garbage]
    res = engine.process(batch)
    rejects = check_accounting(res, batch)
    assert res.accepted == 1
    assert {i: (r.reason, r.field) for i, r in rejects.items()} == {
        1: ("too_large", None),
        2: ("too_large", None),
    }
    assert schema_error(over) is None  # the size limit is not expressible in JSON Schema


def test_mixed_batch_indices_and_raw(engine: Engine) -> None:
    rng = random.Random(7)
    items: list[tuple[bytes, tuple[str, str | None] | None]] = [
        (raw, None) for raw in good_events()
    ]
    items += [(c.raw, (c.reason, c.field)) for c in bad_cases()]
    items += [
        (_padded(MAX_EVENT_BYTES + 1), ("too_large", None)),
        (b"\xff", ("invalid_json", None)),
    ]
    rng.shuffle(items)
    batch = [raw for raw, _ in items]
    res = engine.process(batch)
    rejects = check_accounting(res, batch)
    expected = {i: want for i, (_, want) in enumerate(items) if want is not None}
    assert {i: (r.reason, r.field) for i, r in rejects.items()} == expected
    assert res.accepted == len(batch) - len(expected)


def test_empty_batch(engine: Engine) -> None:
    res = engine.process([])
    assert (res.n_in, res.accepted, res.rejected, len(res.rejects)) == (0, 0, 0, 0)
