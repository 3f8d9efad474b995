"""Tests of the seeded synthetic city generator (sisec_stream.generator)."""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import math
import random
import re
import sys
import tracemalloc
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sisec_stream import Engine, Watchlist
from sisec_stream.contract import event_validator
from sisec_stream.generator import (
    EVENT_FILES,
    SOURCES,
    TRUTH_COLUMNS,
    TRUTH_FILES,
    GeneratorConfigError,
    Scenario,
    ScenarioConfig,
    add_generate_arguments,
    run_generate,
    write_scenario,
)
from sisec_stream.generator.config import CITY_PRESETS
from sisec_stream.generator.fleet import _PlateDrawer
from sisec_stream.generator.plates import LOOKALIKES

SMALL = ScenarioConfig(
    seed=11,
    cameras=60,
    duration_s=1800,
    watchlist_size=2000,
    listed_share=0.02,
    misread_rate=0.05,
    devices=80,
    presses_per_device_per_day=30.0,
    offline_device_share=0.05,
    calls_per_hour=600,
)
M_PER_DEG = 111_320.0


# ---------------------------------------------------------------- helpers


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate key in {keys}")
    return dict(pairs)


def parse(line: bytes) -> dict[str, Any]:
    """Parse one event, refusing duplicate keys (a parser rule of the contract)."""
    obj = json.loads(line, object_pairs_hook=_no_duplicates)
    assert isinstance(obj, dict)
    return obj


def read_jsonl(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data.endswith(b"\n") or not data
    return data.split(b"\n")[:-1]


def read_truth(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def file_hashes(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.name != "scenario.json"  # records the generation time
    }


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    kx = M_PER_DEG * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lon2 - lon1) * kx, (lat2 - lat1) * M_PER_DEG)


# Self-contained structural check of contract v1 (no dependency on the engine's code).
_ID = re.compile(r"[!-~]{1,64}")
_PLATE = re.compile(r"[ .-]*[A-Za-z0-9](?:[ .-]*[A-Za-z0-9]){1,9}[ .-]*")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)
_TS_MAX = 253_402_300_799_999


def ts_to_ms(ts: object) -> int:
    """Epoch milliseconds of a contract timestamp; AssertionError if it is not one."""
    if isinstance(ts, int) and not isinstance(ts, bool):
        assert 0 <= ts <= _TS_MAX
        return ts
    assert isinstance(ts, str), ts
    m = _RFC3339.fullmatch(ts)
    assert m, ts
    year, month, _, hour, minute, second = (int(g) for g in m.groups()[:6])
    assert year >= 1970 and 1 <= month <= 12 and hour <= 23 and minute <= 59 and second <= 59
    frac = (m.group(7) or "").ljust(3, "0")[:3]
    offset = m.group(8).upper().replace("Z", "+00:00")
    dt = datetime.fromisoformat(f"{ts[:19].replace('t', 'T')}{offset}")  # day/month checked
    return int(dt.timestamp()) * 1000 + int(frac)


def _style(plate: str) -> str:
    if plate != plate.upper():
        return "lower"
    if " " in plate:
        return "space"
    return "dash" if "-" in plate else "compact"


def _number(value: object, low: float, high: float) -> None:
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    assert low <= value <= high, value


def _string(value: object, low: int, high: int) -> None:
    assert isinstance(value, str) and low <= len(value) <= high, value


def _plate(value: object) -> None:
    assert isinstance(value, str) and len(value) <= 16 and _PLATE.fullmatch(value), value


def check_event(obj: dict[str, Any]) -> None:
    """Assert that ``obj`` is a valid contract v1 event."""
    assert obj["type"] in ("plate_read", "button_press", "call")
    assert isinstance(obj["event_id"], str) and _ID.fullmatch(obj["event_id"])
    ts_to_ms(obj["ts"])
    assert None not in obj.values()
    assert ("lat" in obj) == ("lon" in obj)
    if "lat" in obj:
        _number(obj["lat"], -90, 90)
        _number(obj["lon"], -180, 180)
    if obj["type"] == "plate_read":
        assert isinstance(obj["camera_id"], str) and _ID.fullmatch(obj["camera_id"])
        _plate(obj["plate"])
        if "confidence" in obj:
            _number(obj["confidence"], 0, 1)
        if "heading_deg" in obj:
            _number(obj["heading_deg"], 0, 359.999999)
        for key in ("class", "make", "color"):
            if key in obj.get("vehicle", {}):
                _string(obj["vehicle"][key], 1, 32)
        if "candidates" in obj:
            assert isinstance(obj["candidates"], list) and len(obj["candidates"]) <= 10
            for cand in obj["candidates"]:
                _plate(cand["plate"])
                if "confidence" in cand:
                    _number(cand["confidence"], 0, 1)
        if "image_ref" in obj:
            _string(obj["image_ref"], 1, 512)
    elif obj["type"] == "button_press":
        assert isinstance(obj["device_id"], str) and _ID.fullmatch(obj["device_id"])
        assert obj["device_kind"] in ("panic", "community_alarm", "school_link", "business_aid")
        assert obj["action"] in ("press", "heartbeat", "tamper", "low_battery")
    else:
        assert isinstance(obj["call_id"], str) and _ID.fullmatch(obj["call_id"])
        assert obj["line"] in ("123", "911", "089", "other")
        assert obj["status"] in ("received", "classified", "abandoned", "closed")
        if "incident_type" in obj:
            _string(obj["incident_type"], 1, 64)
        if "accuracy_m" in obj:
            _number(obj["accuracy_m"], 0, 100_000)
        if "caller_hash" in obj:
            _string(obj["caller_hash"], 1, 128)


class Written:
    """A scenario written to disk, with its files parsed."""

    def __init__(self, config: ScenarioConfig, out: Path) -> None:
        self.config = config
        self.out = out
        self.summary = write_scenario(config, out, progress=False)
        self.lines = {s: read_jsonl(out / EVENT_FILES[s]) for s in SOURCES}
        self.events = {s: [parse(line) for line in self.lines[s]] for s in SOURCES}
        self.truth = {s: read_truth(out / TRUTH_FILES[s]) for s in SOURCES}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return Written(SMALL, tmp_path_factory.mktemp("small"))


@pytest.fixture(scope="module")
def cameras(small: Written) -> dict[str, dict[str, str]]:
    return {row["camera_id"]: row for row in read_truth(small.out / "cameras.csv")}


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_byte_identical_files(small: Written, tmp_path: Path) -> None:
    # Serial this time: the forked writer must not change a byte.
    write_scenario(SMALL, tmp_path / "again", progress=False, parallel=False)
    assert file_hashes(small.out) == file_hashes(tmp_path / "again")
    assert len(file_hashes(small.out)) == 12, "events, registries, zones, allow lists, truth"


def test_different_seed_gives_different_files(small: Written, tmp_path: Path) -> None:
    write_scenario(replace(SMALL, seed=12), tmp_path / "other", progress=False)
    ours, theirs = file_hashes(small.out), file_hashes(tmp_path / "other")
    for name in (*EVENT_FILES.values(), "watchlist.csv", "cameras.csv", "devices.csv"):
        assert ours[name] != theirs[name], name


def test_events_iterator_is_repeatable_and_matches_files(small: Written) -> None:
    sc = Scenario(SMALL)
    for source in SOURCES:
        first = [line for _, line, _ in sc.events(source)]
        assert first == [line for _, line, _ in sc.events(source)]
        assert first == small.lines[source]


def test_streams_are_independent_of_each_other() -> None:
    base = Scenario(SMALL)
    more_calls = Scenario(replace(SMALL, calls_per_hour=900, presses_per_device_per_day=5.0))
    plates = list(itertools.islice(base.events("plate_reads"), 3000))
    assert plates == list(itertools.islice(more_calls.events("plate_reads"), 3000))
    calls = [e[1] for e in itertools.islice(base.events("calls"), 200)]
    assert calls != [e[1] for e in itertools.islice(more_calls.events("calls"), 200)]


def test_malformed_injection_leaves_other_events_unchanged() -> None:
    clean = list(Scenario(SMALL).events("button_presses"))
    dirty = list(Scenario(replace(SMALL, malformed_share=0.3)).events("button_presses"))
    assert len(clean) == len(dirty)
    n_broken = 0
    for (ts_a, line_a, _), (ts_b, line_b, truth) in zip(clean, dirty, strict=True):
        assert ts_a == ts_b
        if truth is not None and truth[5]:
            n_broken += 1
            assert line_a != line_b
        else:
            assert line_a == line_b
    assert 0.2 < n_broken / len(clean) < 0.4


def test_events_stream_with_bounded_memory() -> None:
    # A whole day: materialising it would take >100 MB; streaming the first 10k reads
    # must stay small.
    sc = Scenario(replace(SMALL, duration_s=86_400, cameras=40))
    tracemalloc.start()
    try:
        n = sum(1 for _ in itertools.islice(sc.events("plate_reads"), 10_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 10_000
    assert peak < 10_000_000, peak


# ---------------------------------------------------------------- contract


def test_every_event_passes_the_structural_contract_check(small: Written) -> None:
    for source in SOURCES:
        assert small.events[source], source
        for obj in small.events[source]:
            check_event(obj)
        assert len(small.lines[source]) == len(small.truth[source])


def test_events_validate_against_the_shipped_schemas(small: Written) -> None:
    validator = event_validator()
    sample = (
        small.events["plate_reads"][::3][:2500]
        + small.events["button_presses"][:400]
        + small.events["calls"][:400]
    )
    assert len(sample) > 3000
    for obj in sample:
        errors = list(validator.iter_errors(obj))
        assert not errors, (obj, [e.message for e in errors])


def test_check_event_rejects_broken_events() -> None:
    # The structural check itself must be able to fail.
    good = {
        "type": "plate_read",
        "event_id": "e1",
        "ts": "2026-11-23T07:00:00.000-05:00",
        "camera_id": "MDE-LPR-0001",
        "plate": "ABC123",
    }
    check_event(good)
    for bad in (
        {"plate": "ABC_123"},
        {"ts": "2026-02-30T07:00:00-05:00"},
        {"ts": "2026-11-23T07:00:00"},
        {"lat": 6.2},
        {"heading_deg": 360.0},
        {"camera_id": None},
        {"type": "plate-read"},
    ):
        with pytest.raises((AssertionError, KeyError, ValueError)):
            check_event({**good, **bad})


def test_ordering_ids_and_timestamps(small: Written) -> None:
    cfg = small.config
    for source in SOURCES:
        ts_truth = [int(row["ts_ms"]) for row in small.truth[source]]
        assert ts_truth == sorted(ts_truth), source
        assert cfg.start_ms <= ts_truth[0] and ts_truth[-1] < cfg.end_ms
        # The event's own ts (RFC 3339 or epoch ms) is the truth's instant.
        assert [ts_to_ms(e["ts"]) for e in small.events[source]] == ts_truth
        ids = [e["event_id"] for e in small.events[source]]
        assert len(set(ids)) == len(ids)
        assert ids == [row["event_id"] for row in small.truth[source]]
    assert len({e["event_id"] for s in SOURCES for e in small.events[s]}) == sum(
        len(small.events[s]) for s in SOURCES
    )


def test_both_timestamp_forms_and_optional_fields_appear(small: Written) -> None:
    reads = small.events["plate_reads"]
    n = len(reads)
    epoch = sum(isinstance(e["ts"], int) for e in reads)
    assert 0.05 < epoch / n < 0.5  # highway arches: integers; most cameras: RFC 3339
    rfc = [e["ts"] for e in reads if isinstance(e["ts"], str)]
    assert all(ts.endswith("-05:00") and "." in ts for ts in rfc)
    for key, low, high in (
        ("confidence", 0.7, 1.01),
        ("lat", 0.5, 0.95),
        ("heading_deg", 0.4, 0.95),
        ("vehicle", 0.3, 0.8),
        ("image_ref", 0.2, 0.8),
        ("candidates", 0.2, 0.4),
    ):
        share = sum(key in e for e in reads) / n
        assert low < share < high, (key, share)
    styles = Counter(_style(e["plate"]) for e in reads)
    assert set(styles) == {"lower", "space", "dash", "compact"}


# ---------------------------------------------------------------- plate reads


def test_volume_matches_reads_per_camera(small: Written) -> None:
    cfg = small.config
    expected = cfg.cameras * cfg.reads_per_camera_per_day * cfg.duration_s / 86_400
    assert abs(len(small.events["plate_reads"]) / expected - 1) < 0.15


def test_misreads_follow_the_rate_and_the_lookalike_table(small: Written) -> None:
    truth = small.truth["plate_reads"]
    kinds = Counter(row["misread"] for row in truth)
    share = 1 - kinds[""] / len(truth)
    assert abs(share / small.config.misread_rate - 1) < 0.2, share
    assert kinds["lookalike"] > kinds["drop_first"] > 0 and kinds["drop_last"] > 0
    conf_ok: list[float] = []
    conf_bad: list[float] = []
    for row, obj in zip(truth, small.events["plate_reads"], strict=True):
        true, read = row["true_plate"], row["read_plate_normalised"]
        assert re.sub(r"[^A-Za-z0-9]", "", obj["plate"]).upper() == read
        kind = row["misread"]
        if kind == "":
            assert read == true
        elif kind == "lookalike":
            diffs = [(a, b) for a, b in zip(true, read, strict=True) if a != b]
            assert len(diffs) == 1 and diffs[0][1] in LOOKALIKES[diffs[0][0]]
        elif kind == "drop_first":
            assert read == true[1:]
        else:
            assert kind == "drop_last" and read == true[:-1]
        if "confidence" in obj:
            (conf_bad if kind else conf_ok).append(obj["confidence"])
    assert sum(conf_bad) / len(conf_bad) < sum(conf_ok) / len(conf_ok) - 0.2
    # Candidates sometimes hold the true plate of a misread.
    recovered = sum(
        any(c["plate"] == row["true_plate"] for c in obj.get("candidates", []))
        for row, obj in zip(truth, small.events["plate_reads"], strict=True)
        if row["misread"]
    )
    assert recovered > 0


def test_every_read_of_a_listed_vehicle_is_in_the_stream(small: Written) -> None:
    sc = Scenario(small.config)
    listed = sc.listed_vehicles
    watch = {row["entry_id"]: row for row in sc.watchlist_rows()}
    truth = small.truth["plate_reads"]
    seen: set[str] = set()
    for row, obj in zip(truth, small.events["plate_reads"], strict=True):
        entry = listed.get(row["vehicle_id"], "")
        assert row["listed_entry_id"] == entry
        if entry:
            seen.add(row["vehicle_id"])
            assert watch[entry]["plate"] == row["true_plate"]
            assert obj["event_id"] == row["event_id"]
    # listed_share of the circulating vehicles are listed.
    circulating = {row["vehicle_id"] for row in truth}
    assert len(seen) >= 10
    assert 0.4 < len(seen) / len(circulating) / small.config.listed_share < 1.6
    # Serial scan of the stream: the same listed reads appear in events() as in the file.
    from_stream = [t[0] for _, _, t in sc.events("plate_reads") if t and t[5]]
    assert from_stream == [row["event_id"] for row in truth if row["listed_entry_id"]]


def test_trips_pass_cameras_in_order_at_plausible_speeds(
    small: Written, cameras: dict[str, dict[str, str]]
) -> None:
    trips: dict[str, list[tuple[dict[str, str], dict[str, Any]]]] = defaultdict(list)
    for row, obj in zip(small.truth["plate_reads"], small.events["plate_reads"], strict=True):
        trips[row["trip_id"]].append((row, obj))
    multi = [t for t in trips.values() if len(t) >= 2]
    assert len(multi) > 0.2 * len(trips)  # 60 cameras on 18 roads: few per lane
    assert max(len(t) for t in multi) >= 4
    for reads in multi:
        assert len({row["vehicle_id"] for row, _ in reads}) == 1
        roads = {cameras[row["camera_id"]]["road"] for row, _ in reads}
        assert len(roads) == 1
        for (r1, o1), (r2, _) in itertools.pairwise(reads):
            c1, c2 = cameras[r1["camera_id"]], cameras[r2["camera_id"]]
            dt_h = (int(r2["ts_ms"]) - int(r1["ts_ms"])) / 3.6e6
            d_km = distance_m(*map(float, (c1["lat"], c1["lon"], c2["lat"], c2["lon"]))) / 1000
            assert dt_h > 0 and d_km / dt_h <= 101, (d_km, dt_h)
            # Heading of travel agrees with the lane the camera watches.
            turn = abs(float(c1["heading_deg"]) - float(c2["heading_deg"])) % 360
            assert min(turn, 360 - turn) < 100
            if "heading_deg" in o1:
                assert o1["heading_deg"] == float(c1["heading_deg"])


def test_no_vehicle_is_in_two_places_at_once(
    small: Written, cameras: dict[str, dict[str, str]]
) -> None:
    # Honest data has no cloned plates: consecutive reads of one vehicle, across trips,
    # never imply an impossible speed.
    last: dict[str, dict[str, str]] = {}
    for row in small.truth["plate_reads"]:
        prev = last.get(row["vehicle_id"])
        if prev is not None and prev["trip_id"] != row["trip_id"]:
            a, b = cameras[prev["camera_id"]], cameras[row["camera_id"]]
            d_km = distance_m(*map(float, (a["lat"], a["lon"], b["lat"], b["lon"]))) / 1000
            dt_h = (int(row["ts_ms"]) - int(prev["ts_ms"])) / 3.6e6
            assert dt_h > 0 and d_km / dt_h < 101, (prev, row)
        last[row["vehicle_id"]] = row


@pytest.mark.parametrize("stage", ["traffic", "ReadFormatter.run"])
def test_a_failing_forked_stage_fails_write_scenario(
    stage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The forked children inherit the patched module: the parent must report the
    # failure (with the child's traceback), not hang or write a silent partial file.
    def boom(*_: object, **__: object) -> Any:
        raise ValueError("stage exploded")

    monkeypatch.setattr(f"sisec_stream.generator.writer.{stage}", boom)
    with pytest.raises(RuntimeError, match="stage exploded"):
        write_scenario(replace(SMALL, cameras=10), tmp_path, progress=False)


def test_small_plate_spaces_overflow_into_the_main_format() -> None:
    # Colombian cargo plates (T1234) have 10^4 values: a huge watchlist must not loop
    # forever looking for unused ones.
    drawer = _PlateDrawer(CITY_PRESETS["medellin"], random.Random(1), set())
    names = ["co_cargo"] * 6000 + ["co_car"] * 10
    plates = drawer.plates(names)
    assert len(set(plates)) == len(plates) == 6010
    assert sum(bool(re.fullmatch(r"T\d{4}", p)) for p in plates) == 5000
    assert names.count("co_car") == 1010  # the overflow is recorded as main-format rows
    for name, plate in zip(names, plates, strict=True):
        assert bool(re.fullmatch(r"T\d{4}", plate)) == (name == "co_cargo")


def test_cameras_and_devices_registries(small: Written) -> None:
    preset = small.config.preset
    cams = read_truth(small.out / "cameras.csv")
    assert len(cams) == small.config.cameras
    assert {"fixed", "arch"} == {c["kind"] for c in cams}
    for cam in cams:
        assert re.fullmatch(r"MDE-(LPR|ARC)-\d{4}", cam["camera_id"])
        assert preset.lat_min <= float(cam["lat"]) <= preset.lat_max
        assert preset.lon_min <= float(cam["lon"]) <= preset.lon_max
        assert cam["municipality"] and cam["road"] in cam["site"]
    assert {"Medellín", "Bello", "Itagüí", "Envigado"} <= {c["municipality"] for c in cams}
    devices = read_truth(small.out / "devices.csv")
    assert len(devices) == small.config.devices
    assert len({d["device_kind"] for d in devices}) == 4


# ---------------------------------------------------------------- watchlist


def test_watchlist_file(small: Written) -> None:
    with (small.out / "watchlist.csv").open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        assert reader.fieldnames == ["entry_id", "plate", "list", "priority"]
    assert len(rows) == small.config.watchlist_size
    assert len({r["entry_id"] for r in rows}) == len(rows)
    assert len({r["plate"] for r in rows}) == len(rows)
    priority = {"amber_alert": "1", "stolen_vehicle": "2", "wanted": "2", "stolen_plate": "3"}
    shares = Counter(r["list"] for r in rows)
    for row in rows:
        assert priority[row["list"]] == row["priority"]
        assert re.fullmatch(r"[A-Z0-9]{4,7}", row["plate"])
    for name, share in (("stolen_vehicle", 0.70), ("stolen_plate", 0.15), ("wanted", 0.12)):
        assert abs(shares[name] / len(rows) - share) < 0.04, name
    # About half of the stolen vehicles are motorcycles (Colombia: ABC12D).
    stolen = [r["plate"] for r in rows if r["list"] == "stolen_vehicle"]
    motos = sum(bool(re.fullmatch(r"[A-Z]{3}\d{2}[A-Z]", p)) for p in stolen) / len(stolen)
    assert 0.5 < motos < 0.85  # half by rule, plus the city's own share of motorcycles


def test_cdmx_plates_lines_and_clock(tmp_path: Path) -> None:
    cfg = replace(SMALL, city="cdmx", cameras=30, watchlist_size=1500, calls_per_hour=300)
    out = Written(cfg, tmp_path)
    assert cfg.start_datetime.isoformat() == "2026-11-23T07:00:00-06:00"
    rfc = [e["ts"] for s in SOURCES for e in out.events[s] if isinstance(e["ts"], str)]
    assert all(ts.endswith(("-06:00", "Z")) for ts in rfc)
    assert {e["line"] for e in out.events["calls"]} == {"911", "089"}
    assert all("caller_hash" not in e for e in out.events["calls"] if e["line"] == "089")
    mx = re.compile(r"[A-HJ-NPR-Z]{3}\d{3}[A-HJ-NPR-Z]|[A-HJ-NPR-Z]\d{3}[A-HJ-NPR-Z]{3}")
    mx_old = re.compile(r"[A-HJ-NPR-Z]{3}\d{4}")
    truth = out.truth["plate_reads"]
    mexican = sum(
        bool(mx.fullmatch(r["true_plate"]) or mx_old.fullmatch(r["true_plate"])) for r in truth
    )
    assert mexican / len(truth) > 0.9
    with (tmp_path / "watchlist.csv").open(encoding="utf-8") as f:
        plates = [row["plate"] for row in csv.DictReader(f)]
    assert not any("-" in p for p in plates)
    assert sum(bool(re.search(r"[IOQ]", p)) for p in plates) / len(plates) < 0.05  # US only
    dashed = [e["plate"] for e in out.events["plate_reads"] if e["plate"].count("-") == 2]
    assert dashed  # ABC-123-A as printed


# ---------------------------------------------------------------- buttons


def test_heartbeats_presses_and_offline_devices(small: Written) -> None:
    cfg = small.config
    sc = Scenario(cfg)
    by_device: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in small.truth["button_presses"]:
        by_device[row["device_id"]].append(row)
    offline = {sc.devices[i].device_id: at for i, at in sc.offline_at.items()}
    assert offline
    per_window = cfg.duration_s / cfg.heartbeat_interval_s
    for device in sc.devices:
        rows = by_device[device.device_id]
        beats = [int(r["ts_ms"]) for r in rows if r["action"] == "heartbeat"]
        if device.device_id in offline:
            assert all(int(r["ts_ms"]) < offline[device.device_id] for r in rows)
            assert len(beats) < per_window
        else:
            assert per_window - 1 <= len(beats) <= per_window + 1
            gaps = [b - a for a, b in itertools.pairwise(beats)]
            assert all(abs(g / 1000 / cfg.heartbeat_interval_s - 1) < 0.05 for g in gaps)
    presses = [r for r in small.truth["button_presses"] if r["action"] == "press"]
    activations = {r["activation_id"] for r in presses}
    expected = cfg.devices * cfg.presses_per_device_per_day * cfg.duration_s / 86_400
    assert 0.5 * expected < len(activations) < 1.6 * expected
    assert all(r["false_press"] in ("0", "1") for r in presses)


# ---------------------------------------------------------------- calls


def test_incidents_draw_clusters_of_calls(small: Written) -> None:
    events = {e["event_id"]: e for e in small.events["calls"]}
    first_calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    statuses: dict[str, list[str]] = defaultdict(list)
    for row in small.truth["calls"]:
        statuses[row["call_id"]].append(row["status"])
        if row["status"] == "classified" and row["incident_id"]:
            first_calls[row["incident_id"]].append({**events[row["event_id"]], **row})
    assert len(first_calls) >= 20
    clustered = []
    for calls in first_calls.values():
        calls.sort(key=lambda c: int(c["ts_ms"]))
        head = calls[0]
        near = [
            c
            for c in calls
            if distance_m(head["lat"], head["lon"], c["lat"], c["lon"]) <= 80
            and int(c["ts_ms"]) - int(head["ts_ms"]) <= 600_000
        ]
        clustered.append(len(near))
        assert len({c["incident_type"] for c in calls}) == 1
    assert sum(clustered) / len(clustered) >= 2.0
    for seq in statuses.values():
        assert seq[0] == "received"
        assert seq[1:] in ([], ["classified"], ["abandoned"], ["classified", "closed"],
                           ["abandoned", "closed"])  # fmt: skip


def test_invalid_call_share(small: Written) -> None:
    received = [r for r in small.truth["calls"] if r["status"] == "received"]
    invalid = sum(r["valid"] == "0" for r in received) / len(received)
    assert abs(invalid - small.config.invalid_call_share) < 0.06
    n_expected = small.config.calls_per_hour * small.config.duration_s / 3600
    assert abs(len(received) / n_expected - 1) < 0.2
    kinds = Counter(r["invalid_kind"] for r in received if r["valid"] == "0")
    assert {"broma", "llamada_silenciosa", "abandonada", "informativa"} == set(kinds)
    for e in small.events["calls"]:
        if e["status"] == "received" and "caller_hash" in e:
            assert re.fullmatch(r"[0-9a-f]{32}", e["caller_hash"])


# ---------------------------------------------------------------- malformed


def test_malformed_events_carry_their_expected_reject(tmp_path: Path) -> None:
    cfg = replace(SMALL, malformed_share=0.15, cameras=30, watchlist_size=500)
    write_scenario(cfg, tmp_path / "serial", progress=False, parallel=False)
    write_scenario(cfg, tmp_path / "par", progress=False)
    assert file_hashes(tmp_path / "par") == file_hashes(tmp_path / "serial")
    out = tmp_path / "par"
    validator = None
    try:
        from sisec_stream.contract import event_validator

        validator = event_validator()
    except ImportError:  # pragma: no cover - jsonschema is a dev dependency
        pass
    reasons: Counter[str] = Counter()
    for source in SOURCES:
        lines = read_jsonl(out / EVENT_FILES[source])
        truth = read_truth(out / TRUTH_FILES[source])
        assert len(lines) == len(truth)
        broken = 0
        for line, row in zip(lines, truth, strict=True):
            reason = row["malformed_reason"]
            if not reason:
                check_event(parse(line))
                continue
            broken += 1
            reasons[reason] += 1
            if reason == "invalid_json":
                with pytest.raises(ValueError):
                    json.loads(line)
            elif reason == "duplicate_field":
                with pytest.raises(ValueError, match="duplicate"):
                    parse(line)
            else:
                with pytest.raises((AssertionError, KeyError, ValueError)):
                    check_event(parse(line))
                if validator is not None:
                    assert list(validator.iter_errors(parse(line))), line
        assert 0.08 < broken / len(lines) < 0.25, source
    assert set(reasons) >= {
        "invalid_json",
        "missing_field",
        "bad_timestamp",
        "out_of_range",
        "unknown_type",
        "bad_type",
        "duplicate_field",
        "bad_value",
    }


def test_engine_rejects_exactly_the_malformed_events(tmp_path: Path) -> None:
    cfg = replace(SMALL, malformed_share=0.1, cameras=20, watchlist_size=300, duration_s=900)
    write_scenario(cfg, tmp_path, progress=False)
    engine = Engine()
    for source in SOURCES:
        lines = read_jsonl(tmp_path / EVENT_FILES[source])
        truth = read_truth(tmp_path / TRUTH_FILES[source])
        result = engine.process(lines)
        got = {r.index: (r.reason, r.field or "") for r in result.rejects}
        want = {
            i: (row["malformed_reason"], row["malformed_field"])
            for i, row in enumerate(truth)
            if row["malformed_reason"]
        }
        assert want and got == want, source


def test_watchlist_loads_into_the_engine_and_listed_reads_hit(small: Written) -> None:
    watchlist = Watchlist.from_csv(small.out / "watchlist.csv")
    assert len(watchlist) == small.config.watchlist_size
    engine = Engine(watchlist=watchlist)
    exact = [
        line
        for line, row in zip(small.lines["plate_reads"], small.truth["plate_reads"], strict=True)
        if row["listed_entry_id"] and not row["misread"]
    ]
    result = engine.process(exact)
    assert result.rejected == 0
    assert len(result.alerts) >= 1


# ---------------------------------------------------------------- summary and CLI


def test_summary_counts(small: Written) -> None:
    summary = small.summary
    saved = json.loads((small.out / "scenario.json").read_text(encoding="utf-8"))
    assert saved["counts"] == summary["counts"]
    assert saved["config"]["seed"] == SMALL.seed
    for source in SOURCES:
        assert summary["counts"][source]["events"] == len(small.lines[source])
    assert summary["events_per_s"] > 0 and summary["generation_seconds"] > 0
    if sys.platform == "linux":  # fork: the traffic process and two formatters
        assert summary["processes"] == 4
    assert summary["world"]["watchlist_entries"] == SMALL.watchlist_size
    assert list(TRUTH_COLUMNS["plate_reads"][:7]) == [
        "event_id",
        "vehicle_id",
        "true_plate",
        "read_plate_normalised",
        "misread",
        "listed_entry_id",
        "malformed_reason",
    ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="generate")
    add_generate_arguments(parser)
    return parser


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--cameras", "0"], "--cameras"),
        (["--misread-rate", "1.5"], "--misread-rate"),
        (["--start", "yesterday"], "--start"),
        (["--start", "2026-11-23T07:00:00"], "--start"),
        (["--duration", "-5"], "--duration"),
        (["--heartbeat-interval", "0"], "--heartbeat-interval"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_run_generate_bad_values_exit_2_naming_the_flag(
    argv: list[str], flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _parser().parse_args([*argv, "--out", str(tmp_path / "x"), "--no-progress"])
    assert run_generate(args) == 2
    err = capsys.readouterr().err
    assert flag in err and "error" in err, err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("argv", "flag"),
    [(["--duration", "soon"], "--duration"), (["--city", "bogota"], "--city")],
)
def test_unparseable_flags_exit_2(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(argv)
    assert exc.value.code == 2
    assert flag in capsys.readouterr().err


def test_out_must_be_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = _parser().parse_args(["--out", str(blocker), "--no-progress"])
    assert run_generate(args) == 2
    assert "--out" in capsys.readouterr().err


def test_run_generate_writes_and_summarises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--seed", "3", "--cameras", "20", "--duration", "600", "--devices", "10",
        "--calls-per-hour", "120", "--watchlist-size", "100", "--malformed-share", "0.01",
        "--out", str(tmp_path / "out"), "--no-progress",
    ]  # fmt: skip
    assert run_generate(_parser().parse_args(argv[:-1])) == 0  # with a progress bar
    captured = capsys.readouterr()
    assert "events/s" in captured.out and "plate_reads.jsonl" in captured.out
    assert "generating" in captured.err
    saved = json.loads((tmp_path / "out" / "scenario.json").read_text(encoding="utf-8"))
    assert saved["config"]["cameras"] == 20 and saved["config"]["malformed_share"] == 0.01
    assert len(read_truth(tmp_path / "out" / "watchlist.csv")) == 100


def test_an_empty_city_writes_headers_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--reads-per-camera-per-day", "0", "--devices", "0", "--calls-per-hour", "0"]
    argv += ["--watchlist-size", "0", "--cameras", "1", "--out", str(tmp_path), "--no-progress"]
    assert run_generate(_parser().parse_args(argv)) == 0
    assert "0 events" in capsys.readouterr().out
    for source in SOURCES:
        assert (tmp_path / EVENT_FILES[source]).read_bytes() == b""
        header = (tmp_path / TRUTH_FILES[source]).read_text(encoding="utf-8")
        assert header == ",".join(TRUTH_COLUMNS[source]) + "\n"


def test_config_validation_names_the_field() -> None:
    with pytest.raises(GeneratorConfigError) as exc:
        ScenarioConfig(city="bogota")
    assert exc.value.field == "city"
    with pytest.raises(GeneratorConfigError) as exc:
        ScenarioConfig(listed_share=-0.1)
    assert exc.value.field == "listed_share"
    with pytest.raises(GeneratorConfigError):
        ScenarioConfig(cameras=True)  # a bool is not a count
    with pytest.raises(ValueError, match="unknown source"):
        Scenario(replace(SMALL, cameras=5)).events("tweets")  # type: ignore[arg-type]
