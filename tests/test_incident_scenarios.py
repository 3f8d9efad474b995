"""One page per incident (issue 5): golden scenarios through ``sisec-stream run``.

Each scenario is a short story of events with the alerts it must give, written
down by hand below (kind, page or update, priority), not taken from a run. The
same input runs with 1 worker, 2 workers and 2 processes (``-i/-a``) and must
give the same pages and updates. Input files are per source, as a deployment's
topics are: a shard hears each kind of event from one partition, in order.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from sisec_stream.kafka.testing import free_port_pair

T0 = 1_795_435_200_000  # 2026-11-23 12:00 UTC
MIN = 60_000
METRE = 1 / 111_000  # a metre of latitude, in degrees

WATCHLIST = b"""entry_id,plate,list,priority
SV-1,ABC123,stolen_vehicle,
SV-2,XYZ789,stolen_vehicle,
W-2,XYZ789,wanted,
SV-3,DEF456,stolen_vehicle,
SV-4,HMK123,stolen_vehicle,
"""


def _read(n: int, plate: str, camera: str, ts: int, lat: float) -> dict[str, Any]:
    return {
        "type": "plate_read",
        "event_id": f"r{n}",
        "ts": ts,
        "camera_id": camera,
        "plate": plate,
        "lat": lat,
        "lon": -75.57,
    }


def _device(n: int, device: str, kind: str, action: str, ts: int) -> dict[str, Any]:
    return {
        "type": "button_press",
        "event_id": f"b{n}",
        "ts": ts,
        "device_id": device,
        "device_kind": kind,
        "action": action,
        "lat": 6.25,
        "lon": -75.56,
    }


def _call(
    n: int, call: str, status: str, itype: str | None, ts: int, dy_m: float
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": "call",
        "event_id": f"c{n}",
        "ts": ts,
        "call_id": call,
        "line": "123",
        "status": status,
        "lat": 6.24 + dy_m * METRE,
        "lon": -75.58,
        "caller_hash": f"caller-{call}",
    }
    if itype is not None:
        doc["incident_type"] = itype
    return doc


def _plate_reads() -> list[dict[str, Any]]:
    reads: list[dict[str, Any]] = []
    # 1. One stolen car past six cameras, a minute apart.
    for i in range(6):
        reads.append(_read(len(reads), "ABC123", f"CAM-{i + 1}", T0 + i * MIN, 6.20 + 0.01 * i))
    # 2. A car on two lists, seen twice.
    for i in range(2):
        reads.append(_read(len(reads), "XYZ789", f"CAM-{i + 1}", T0 + i * MIN, 6.20))
    # 3. Window expiry: 2 min later an update; 10 min after that a new page.
    for dt in (0, 2, 12):
        reads.append(_read(len(reads), "DEF456", "CAM-7", T0 + dt * MIN, 6.30))
    # 4. A look-alike (HNK123 is itself a valid plate: weak, P4), corroborated by
    #    another camera reading the listed plate exactly 3 km away 5 min later.
    reads.append(_read(len(reads), "HNK123", "CAM-8", T0 + 20 * MIN, 6.20))
    reads.append(_read(len(reads), "HMK123", "CAM-9", T0 + 25 * MIN, 6.227))
    return sorted(reads, key=lambda r: r["ts"])


def _devices() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    # 5. Ten presses of a community alarm, 5 s apart.
    for i in range(10):
        events.append(_device(len(events), "D-ALARM", "community_alarm", "press", T0 + i * 5000))
    # 6. Tamper.
    events.append(_device(len(events), "D-TAMPER", "panic", "tamper", T0 + 2 * MIN))
    # 7. D-QUIET heartbeats, falls silent after T0 + 5 min, returns at T0 + 30 min;
    #    D-BUSY keeps reporting (the stream moves on).
    for t in range(0, 41, 5):
        events.append(_device(len(events), "D-BUSY", "panic", "heartbeat", T0 + t * MIN))
        if t <= 5 or t >= 30:
            events.append(_device(len(events), "D-QUIET", "panic", "heartbeat", T0 + t * MIN))
    return sorted(events, key=lambda e: e["ts"])


def _calls() -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    # 8. A fight: three calls within 60 m and 8 min, with noise nearby: a prank,
    #    an abandoned call, a theft 50 m away (another type) and a fight 600 m away.
    story = [
        ("A", "received", None, 0, 0),
        ("A", "classified", "riña", 1, 0),
        ("B", "classified", "riña", 3, 40),
        ("P", "classified", "broma", 4, 20),
        ("X", "abandoned", None, 4, 10),
        ("H", "classified", "hurto", 5, 50),
        ("F", "classified", "riña", 6, 600),
        ("C", "classified", "riña", 8, -20),
    ]
    for call, status, itype, minute, dy in story:
        calls.append(_call(len(calls), call, status, itype, T0 + minute * MIN, dy))
    return calls


#: What the scenarios must give, by hand: per incident (kind, what it is about),
#: the priority of each message in order (the first is the page).
EXPECTED: dict[tuple[str, str], list[int]] = {
    ("plate_hit", "ABC123 past six cameras"): [2, 2, 2, 2, 2, 2],
    ("plate_hit", "XYZ789 on stolen_vehicle"): [2, 2],
    ("plate_hit", "XYZ789 on wanted"): [2, 2],
    ("plate_hit", "DEF456 first pass"): [2, 2],
    ("plate_hit", "DEF456 after the window"): [2],
    ("plate_hit", "HNK123 look-alike, then corroborated"): [4, 2],
    ("plate_hit", "HMK123 exact"): [2],
    ("button_press", "ten presses"): [2, 2, 1, 1, 1, 1, 1, 1, 1, 1],
    ("device_tamper", "tamper"): [2],
    ("device_offline", "D-QUIET silent"): [3],
    ("device_restored", "D-QUIET back"): [4],
    ("call_incident", "the fight"): [2, 2, 1],
    ("call_incident", "the theft"): [2],
    ("call_incident", "the far fight"): [2],
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scenarios")
    (folder / "watchlist.csv").write_bytes(WATCHLIST)
    for name, events in (
        ("plate_reads.jsonl", _plate_reads()),
        ("button_presses.jsonl", _devices()),
        ("calls.jsonl", _calls()),
    ):
        (folder / name).write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    (folder / "sisec.toml").write_text(
        '[watchlist]\nfile = "watchlist.csv"\n[metrics]\nenabled = false\n', encoding="utf-8"
    )
    return folder


def _run(inputs: Path, out: Path, *scale: str, process: int | None = None) -> subprocess.Popen[str]:
    files = [str(inputs / n) for n in ("plate_reads.jsonl", "button_presses.jsonl", "calls.jsonl")]
    args = ["run", "-c", str(inputs / "sisec.toml"), "--out", str(out), *scale, "--input", *files]
    return subprocess.Popen(
        [sys.executable, "-m", "sisec_stream", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _alerts(out: Path) -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for f in sorted(out.glob("alerts*.jsonl"))
        for line in f.read_bytes().splitlines()
    ]


def _outputs(inputs: Path, tmp: Path, mode: str) -> list[dict[str, Any]]:
    out = tmp / mode
    if mode == "2 processes":
        port = free_port_pair()
        addresses = f"127.0.0.1:{port};127.0.0.1:{port + 1}"
        procs = [_run(inputs, out, "-i", str(i), "-a", addresses) for i in range(2)]
    else:
        procs = [_run(inputs, out, "-w", "1" if mode == "1 worker" else "2")]
    for p in procs:
        text = p.communicate(timeout=120)[0]
        assert p.returncode == 0, text
    return _alerts(out)


def _by_incident(alerts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in alerts:
        groups[a["alert_id"]].append(a)
    for msgs in groups.values():
        msgs.sort(key=lambda a: a["update"])
    return groups


def _name(msgs: list[dict[str, Any]]) -> tuple[str, str]:
    """Which expected incident a group of messages is, from its content."""
    first, kind = msgs[0], msgs[0]["kind"]
    d = first["details"]
    if kind == "plate_hit":
        plate, events = d["read_plate"], {m["events"][0] for m in msgs}
        if plate == "ABC123":
            return kind, "ABC123 past six cameras"
        if plate == "XYZ789":
            return kind, f"XYZ789 on {d['list']}"
        if plate == "DEF456":
            return kind, "DEF456 first pass" if "r8" in events else "DEF456 after the window"
        if plate == "HNK123":
            return kind, "HNK123 look-alike, then corroborated"
        return kind, f"{plate} exact"
    if kind == "call_incident":
        types = first["details"]["incident_types"]
        if types == ["hurto"]:
            return kind, "the theft"
        return kind, "the fight" if first["details"]["call_ids"][0] == "A" else "the far fight"
    names = {
        "button_press": "ten presses",
        "device_tamper": "tamper",
        "device_offline": "D-QUIET silent",
        "device_restored": "D-QUIET back",
    }
    return kind, names[kind]


@pytest.fixture(scope="module")
def runs(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("runs")
    return {mode: _outputs(inputs, tmp, mode) for mode in ("1 worker", "2 workers", "2 processes")}


@pytest.mark.parametrize("mode", ["1 worker", "2 workers", "2 processes"])
def test_scenarios_give_the_expected_alerts(
    runs: dict[str, list[dict[str, Any]]], mode: str
) -> None:
    groups = _by_incident(runs[mode])
    got = {_name(msgs): [m["priority"] for m in msgs] for msgs in groups.values()}
    assert got == EXPECTED
    for msgs in groups.values():
        assert [m["update"] for m in msgs] == list(range(len(msgs))), msgs
        assert len({m["incident_key"] for m in msgs}) == 1


def test_scenarios_agree_across_workers_and_processes(
    runs: dict[str, list[dict[str, Any]]],
) -> None:
    def key(a: dict[str, Any]) -> bytes:
        return orjson.dumps(
            {k: v for k, v in a.items() if k != "emitted_at"}, option=orjson.OPT_SORT_KEYS
        )

    one, *others = (Counter(key(a) for a in alerts) for alerts in runs.values())
    for other in others:
        assert other == one


def test_the_stories_are_told_right(runs: dict[str, list[dict[str, Any]]]) -> None:
    groups = {_name(m): m for m in _by_incident(runs["1 worker"]).values()}
    six = groups[("plate_hit", "ABC123 past six cameras")]
    assert [p["camera_id"] for p in six[-1]["incident"]["track"]] == [
        f"CAM-{i}" for i in range(1, 7)
    ]
    assert six[-1]["incident"]["sightings"] == 6
    weak = groups[("plate_hit", "HNK123 look-alike, then corroborated")]
    assert weak[1]["incident"]["corroborated_by"]["camera_id"] == "CAM-9"
    assert any("corroborated" in r for r in weak[1]["reasons"])
    presses = groups[("button_press", "ten presses")]
    assert presses[-1]["incident"]["count"] == 10
    offline = groups[("device_offline", "D-QUIET silent")][0]
    # Last heard at T0 + 5 min; heartbeat 300 s + grace 120 s.
    assert offline["event_time"] == "2026-11-23T12:12:00.000Z"
    fight = groups[("call_incident", "the fight")][-1]
    assert fight["details"]["call_ids"] == ["A", "B", "C"]
    assert fight["incident"]["unconfirmed_calls"] == 1, "the abandoned call nearby"
    assert fight["incident"]["callers"] == 3
