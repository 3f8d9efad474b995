"""The plain-Python benchmark baseline does the same work as the engine.

``benches/baseline.py`` must return the same reason code and field as ``sisec_stream.Engine``
for every event of the corpora, so that benchmarks compare equal work. ``duplicate_field`` is
excluded: orjson keeps the last value of a repeated key and cannot see duplicates.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

import pytest

from sisec_stream import Engine
from test_contract import bad_cases, generated_corpus, good_events

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benches"))
from baseline import PythonBaseline

Outcome = tuple[str, str | None] | None


def engine_outcomes(batch: list[bytes]) -> list[Outcome]:
    res = Engine().process(batch)
    out: list[Outcome] = [None] * len(batch)
    for r in res.rejects:
        out[r.index] = (r.reason, r.field)
    return out


def baseline_outcomes(batch: list[bytes]) -> list[Outcome]:
    accepted, rejected, _alerts, rejects = PythonBaseline({}).process(batch)
    assert accepted + rejected == len(batch)
    out: list[Outcome] = [None] * len(batch)
    for index, reason, field in rejects:
        out[index] = (reason, field)
    return out


def assert_same(batch: list[bytes]) -> None:
    eng, base = engine_outcomes(batch), baseline_outcomes(batch)
    diffs = [
        f"{raw!r}\n    engine:   {e}\n    baseline: {b}"
        for raw, e, b in zip(batch, eng, base, strict=True)
        if e != b
    ]
    assert not diffs, f"{len(diffs)} of {len(batch)} differ:\n" + "\n".join(diffs[:25])


CORPORA: Final[dict[str, Any]] = {
    "good": good_events,
    "bad": lambda: [c.raw for c in bad_cases() if c.reason != "duplicate_field"],
    "generated": generated_corpus,
}


@pytest.mark.parametrize("name", list(CORPORA))
def test_baseline_reasons_equal_engine_reasons(name: str) -> None:
    assert_same(CORPORA[name]())


def test_baseline_size_and_encoding_rules() -> None:
    ok = b'{"type":"call","event_id":"c","ts":0,"call_id":"C","line":"123","status":"received"}'
    batch = [ok, ok[:-1] + b',"pad":"' + b"x" * 65536 + b'"}', b"\xff", b"[]"]
    assert baseline_outcomes(batch) == [
        None,
        ("too_large", None),
        ("invalid_json", None),
        ("not_object", None),
    ]
    assert_same(batch)


def test_baseline_alerts() -> None:
    entry = ("stolen", "E-1", 1)
    watchlist: dict[str, list[tuple[Any, ...]]] = {"ABC123": [entry, ("wanted", "E-2", 2)]}
    batch = [
        b'{"type":"plate_read","event_id":"p1","ts":0,"camera_id":"C","plate":"abc-123"}',
        b'{"type":"plate_read","event_id":"p2","ts":0,"camera_id":"C","plate":"XYZ987"}',
        b'{"type":"button_press","event_id":"b1","ts":0,"device_id":"D","device_kind":"panic",'
        b'"action":"press"}',
        b'{"type":"button_press","event_id":"b2","ts":0,"device_id":"D","device_kind":"panic",'
        b'"action":"heartbeat"}',
    ]
    accepted, rejected, alerts, rejects = PythonBaseline(watchlist).process(batch)
    assert (accepted, rejected, rejects) == (4, 0, [])
    assert alerts == [
        ("plate_hit", "p1", "ABC123", entry),
        ("plate_hit", "p1", "ABC123", ("wanted", "E-2", 2)),
        ("button_press", "b1", "D", "panic"),
    ]
