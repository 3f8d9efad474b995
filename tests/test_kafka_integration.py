"""End to end against the real broker, with the commands a user runs.

``sisec-stream generate`` writes a city with ground truth; ``sisec-stream produce``
replays it (plus a corpus of malformed events covering every reason code) into
the input topics; ``sisec-stream run`` runs as 1 or 2 worker *processes*
(Bytewax ``-i/-a``) until its metrics, scraped over HTTP, have counted every
event; it is then stopped with SIGTERM. Expectations come from the generator's
truth files and the watchlist file, never from the engine: every read of a
listed plate gives an exact hit per matching entry and no other read does,
every OCR misread of a listed vehicle still hits its entry (look-alike or
edge), every press gives one button alert, every injected malformed event one
reject with its reason and field, nothing else. Zones and registries are on:
each alert lists the zones (computed here with shapely from the zones file and
the camera registry, windows in local time) its camera stands in, hits on lists
a zone does not take are dropped there, and every read at the prison gate of a
plate not on its allow list is a ``restricted_zone`` alert.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import shapely
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families
from shapely.geometry import shape

from sisec_stream.cli import main as cli_main
from sisec_stream.engine import REJECT_REASONS
from sisec_stream.incidents import NON_EMERGENCY_CALL_TYPES as NON_EMERGENCY
from sisec_stream.kafka import BrokerSettings
from sisec_stream.kafka.testing import free_port_pair
from test_kafka_flow import consume_all

CORPUS_BAD = Path(__file__).parent / "corpus" / "events_bad.jsonl"
SOURCES = ("plate_reads", "button_presses", "calls")


@dataclass(frozen=True)
class Expected:
    """What the engine must output for the produced events."""

    n_events: int
    hits: Counter[tuple[str, str]]  # exact: (event_id, entry_id)
    misread_listed: set[tuple[str, str]]  # misreads of listed vehicles: (event_id, entry_id)
    presses: Counter[tuple[str, str]]  # (event_id, press or tamper)
    calls: Counter[str]  # event_id of every emergency call's classification
    rejects: Counter[tuple[bytes, str, str]]  # (raw, reason, field or "")
    restricted: Counter[tuple[str, str]]  # (event_id, zone_id)
    zones: dict[str, set[str]]  # event_id of every plate read -> its active zone ids
    dropped_exact: int  # exact hits a zone's list filter drops
    silences: int  # gaps longer than heartbeat + grace between a device's accepted events


def _normalise(plate: str) -> str:
    return "".join(c for c in plate.upper() if c not in " -.")


def _truth_rows(folder: Path, source: str) -> list[tuple[bytes, dict[str, str]]]:
    """Each event line with its truth row (the files are in the same order)."""
    lines = (folder / f"{source}.jsonl").read_bytes().splitlines()
    with (folder / f"truth_{source}.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(lines) == len(rows)
    return list(zip(lines, rows, strict=True))


def _corpus_and_huge() -> list[tuple[bytes, str, str]]:
    """The malformed corpus, plus a too_large event: every reason code once at least."""
    out = []
    for line in CORPUS_BAD.read_bytes().splitlines():
        doc = orjson.loads(line)
        out.append((doc["raw"].encode(), doc["reason"], doc["field"] or ""))
    huge = orjson.dumps(
        {"type": "plate_read", "event_id": "huge-1", "note": "x" * 70_000, "plate": "ABC123"}
    )
    out.append((huge, "too_large", ""))
    stranger = orjson.dumps(
        {
            "type": "plate_read",
            "event_id": "stranger-1",
            "ts": 1795435200000,
            "camera_id": "NOT-IN-REGISTRY",
            "plate": "ABC123",
        }
    )
    out.append((stranger, "unknown_sensor", "camera_id"))
    assert {reason for _, reason, _ in out} == set(REJECT_REASONS)
    return out


class _CityZones:
    """The zones every camera stands in, by shapely (closed zones: ``covers``), and
    what they do: windows, list filters, allow lists."""

    def __init__(self, folder: Path) -> None:
        doc = orjson.loads((folder / "zones.geojson").read_bytes())
        self.props: list[dict[str, Any]] = [f["properties"] for f in doc["features"]]
        tree = shapely.STRtree([shape(f["geometry"]) for f in doc["features"]])
        with (folder / "cameras.csv").open(encoding="utf-8", newline="") as f:
            cams = list(csv.DictReader(f))
        points = shapely.points([float(c["lon"]) for c in cams], [float(c["lat"]) for c in cams])
        cam_i, zone_i = tree.query(points, predicate="covered_by")
        self.at: dict[str, list[int]] = {c["camera_id"]: [] for c in cams}
        for c, z in zip(cam_i.tolist(), zone_i.tolist(), strict=True):
            self.at[cams[c]["camera_id"]].append(z)
        for p in self.props:  # keeps the expectations simple: filters never sleep
            assert "active" not in p or not ({"lists", "allow_list"} & set(p)), p

    def active(self, camera: str, ts_ms: int) -> list[dict[str, Any]]:
        out = []
        for z in self.at[camera]:
            p = self.props[z]
            if "active" in p:
                local = datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(
                    ZoneInfo(p["timezone"])
                )
                minute = local.hour * 60 + local.minute
                start, end = (int(t[:2]) * 60 + int(t[3:]) for t in p["active"].split("-"))
                if not start <= minute < end:
                    continue
            out.append(p)
        return out


def _allow_lists(folder: Path) -> dict[str, set[str]]:
    allow: dict[str, set[str]] = {}
    with (folder / "allow_lists.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            allow.setdefault(row["list"], set()).add(_normalise(row["plate"]))
    return allow


def _expected(folder: Path, injected: list[tuple[bytes, str, str]]) -> Expected:
    entries: dict[str, list[tuple[str, str]]] = {}
    with (folder / "watchlist.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            entries.setdefault(_normalise(row["plate"]), []).append((row["entry_id"], row["list"]))
    list_of = {e: lst for es in entries.values() for e, lst in es}
    city_zones = _CityZones(folder)
    allow = _allow_lists(folder)
    hits: Counter[tuple[str, str]] = Counter()
    misread_listed: set[tuple[str, str]] = set()
    presses: Counter[tuple[str, str]] = Counter()
    calls: Counter[str] = Counter()
    rejects: Counter[tuple[bytes, str, str]] = Counter(injected)
    restricted: Counter[tuple[str, str]] = Counter()
    zones: dict[str, set[str]] = {}
    dropped_exact = 0
    n = len(injected)
    for source in SOURCES:
        for line, row in _truth_rows(folder, source):
            n += 1
            if row["malformed_reason"]:
                rejects[(line, row["malformed_reason"], row["malformed_field"])] += 1
            elif source == "plate_reads":
                here = city_zones.active(row["camera_id"], int(row["ts_ms"]))
                zones[row["event_id"]] = {p["zone_id"] for p in here}

                def alerts_here(entry: str, here: list[dict[str, Any]] = here) -> bool:
                    return all(list_of[entry] in p.get("lists", [list_of[entry]]) for p in here)

                for entry, _ in entries.get(row["read_plate_normalised"], []):
                    if alerts_here(entry):
                        hits[(row["event_id"], entry)] += 1
                    else:
                        dropped_exact += 1
                if (
                    row["misread"]
                    and row["listed_entry_id"]
                    and alerts_here(row["listed_entry_id"])
                ):
                    misread_listed.add((row["event_id"], row["listed_entry_id"]))
                event = orjson.loads(line)
                read = {_normalise(c["plate"]) for c in event.get("candidates", [])}
                read.add(row["read_plate_normalised"])
                for p in here:
                    if "allow_list" in p and not read & allow[p["allow_list"]]:
                        restricted[(row["event_id"], p["zone_id"])] += 1
            elif source == "button_presses" and row["action"] in ("press", "tamper"):
                presses[(row["event_id"], row["action"])] += 1
            elif (
                source == "calls"
                and row["status"] == "classified"
                and row["incident_type"] not in NON_EMERGENCY
            ):
                calls[row["event_id"]] += 1
    return Expected(
        n,
        hits,
        misread_listed,
        presses,
        calls,
        rejects,
        restricted,
        zones,
        dropped_exact,
        _silences(folder),
    )


def _silences(folder: Path, limit_ms: int = (300 + 120) * 1000) -> int:
    """Gaps after a device's first heartbeat longer than the default interval plus
    grace between its accepted events (a rejected heartbeat can open one)."""
    seen: dict[str, list[tuple[int, str]]] = {}
    for _, row in _truth_rows(folder, "button_presses"):
        if not row["malformed_reason"]:
            seen.setdefault(row["device_id"], []).append((int(row["ts_ms"]), row["action"]))
    gaps = 0
    for events in seen.values():
        events.sort()
        supervised_from = next((t for t, a in events if a == "heartbeat"), None)
        if supervised_from is None:
            continue
        times = [t for t, _ in events if t >= supervised_from]
        gaps += sum(1 for a, b in pairwise(times) if b - a > limit_ms)
    return gaps


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("city")
    code = cli_main(
        [
            "generate",
            "--out",
            str(folder),
            "--seed",
            "11",
            "--duration",
            "900",
            "--cameras",
            "60",
            "--watchlist-size",
            "3000",
            "--listed-share",
            "0.05",
            "--devices",
            "80",
            "--presses-per-device-per-day",
            "40",
            "--malformed-share",
            "0.01",
            "--no-progress",
        ]
    )
    assert code == 0
    return folder


def _write_config(path: Path, broker: BrokerSettings, tag: str, city: Path, port: int) -> None:
    """The run's config: the city's watchlist with its allow lists (lists of kind
    allow, their entries never hit), zones and registries."""
    topics = "\n".join(
        f'{name} = "{tag}.{name}"'
        for name in ("plate_reads", "button_presses", "calls", "alerts", "rejects", "watchlist")
    )
    watchlist = path.parent / "watchlist_and_allow.csv"
    allow = _allow_lists(city)
    rows = [
        f"ALLOW-{name}-{plate},{plate},{name},\n"
        for name, plates in sorted(allow.items())
        for plate in sorted(plates)
    ]
    watchlist.write_text(
        (city / "watchlist.csv").read_text(encoding="utf-8") + "".join(rows), encoding="utf-8"
    )
    kinds = "".join(f'[watchlist.lists.{name}]\nkind = "allow"\n' for name in sorted(allow))
    path.write_text(
        f"""[kafka]
brokers = "{broker.bootstrap}"
[kafka.consumer]
"client.id" = "sisec-it-{tag}"
[topics]
{topics}
[watchlist]
file = "{watchlist}"
{kinds}[places]
zones = "{city / "zones.geojson"}"
cameras = "{city / "cameras.csv"}"
devices = "{city / "devices.csv"}"
[engine]
timezone = "America/Bogota"
[engine.incidents]
lateness_s = 3600
[metrics]
port = {port}
""",
        encoding="utf-8",
    )


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _total(
    samples: list[dict[tuple[str, tuple[tuple[str, str], ...]], float]], name: str, **labels: str
) -> float:
    want = set(labels.items())
    return sum(
        v for scrape in samples for (n, lab), v in scrape.items() if n == name and want <= set(lab)
    )


def _alerts_out(samples: list[dict[tuple[str, tuple[tuple[str, str], ...]], float]]) -> float:
    """Alert messages emitted: pages and updates."""
    return _total(samples, "sisec_alerts_total") + _total(samples, "sisec_alert_updates_total")


def _python_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sisec_stream", *args]


@pytest.mark.parametrize("processes", [1, 2])
def test_generated_city_through_kafka_gives_exactly_the_truth(
    broker: BrokerSettings, city: Path, tmp_path: Path, processes: int
) -> None:
    tag = f"it{processes}-{uuid.uuid4().hex[:6]}"
    metrics_port = free_port_pair()
    config = tmp_path / "sisec.toml"
    _write_config(config, broker, tag, city, metrics_port)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(
        _python_cli("kafka", "topics", "--config", str(config)), check=True, env=env, timeout=120
    )
    subprocess.run(
        _python_cli(
            "produce",
            "--config",
            str(config),
            "--no-progress",
            *(str(city / f"{s}.jsonl") for s in SOURCES),
        ),
        check=True,
        env=env,
        timeout=300,
    )
    injected = _corpus_and_huge()
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for raw, _, _ in injected:
        producer.produce(f"{tag}.plate_reads", raw)
    assert producer.flush(30) == 0
    expected = _expected(city, injected)

    bytewax_port = free_port_pair()
    addresses = ";".join(f"127.0.0.1:{bytewax_port + i}" for i in range(processes))
    procs = []
    for i in range(processes):
        scale = ["-i", str(i), "-a", addresses] if processes > 1 else []
        procs.append(
            subprocess.Popen(
                _python_cli("run", "--config", str(config), *scale),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        samples = []
        for _ in range(600):  # bounded: at most ~2 minutes
            time.sleep(0.2)
            assert all(p.poll() is None for p in procs), "a worker process exited early"
            try:
                samples = [_scrape(metrics_port + i) for i in range(processes)]
            except OSError:
                continue  # not serving yet
            counted = _total(samples, "sisec_events_total")
            produced = _total(samples, "sisec_produced_messages_total")
            emitted = _alerts_out(samples) + _total(
                samples, "sisec_events_total", outcome="rejected"
            )
            if counted >= expected.n_events and produced >= emitted:
                break
        for p in procs:
            p.send_signal(signal.SIGTERM)
        outputs = [p.communicate(timeout=60)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out

    alerts = [orjson.loads(v) for v, _ in consume_all(broker.bootstrap, f"{tag}.alerts")]
    # Every sighting is one page or update of its incident; corroborations are
    # extra updates of the weak incident they promote.
    plate_hits = [a for a in alerts if a["kind"] == "plate_hit"]
    own = [a for a in plate_hits if "corroborated_by" not in a["incident"]]
    exact = Counter(
        (a["events"][0], a["details"]["entry_id"])
        for a in own
        if a["details"]["match"]["kind"] == "exact"
    )
    assert exact == expected.hits
    every_hit = {(a["events"][0], a["details"]["entry_id"]) for a in plate_hits}
    assert expected.misread_listed <= every_hit, "a misread listed vehicle was missed"
    presses = Counter(
        (a["events"][0], a["details"]["action"])
        for a in alerts
        if a["kind"] in ("button_press", "device_tamper")
    )
    assert presses == expected.presses
    restricted = Counter(
        (a["events"][0], a["details"]["zone_id"]) for a in alerts if a["kind"] == "restricted_zone"
    )
    assert restricted == expected.restricted
    calls = Counter(a["details"]["call_ids"][-1] for a in alerts if a["kind"] == "call_incident")
    assert calls.total() == expected.calls.total(), "one message per emergency call"
    # With lateness_s above the partitions' skew, a device is reported offline
    # only for a silence its own events show (and back when heard from again);
    # the generated dead devices never come back within the 15 minutes.
    kinds = Counter(a["kind"] for a in alerts)
    assert kinds["device_offline"] == kinds["device_restored"] == expected.silences
    supervision = 2 * expected.silences
    assert len(alerts) == (
        len(plate_hits) + presses.total() + restricted.total() + calls.total() + supervision
    ), kinds
    for a in plate_hits + [a for a in alerts if a["kind"] == "restricted_zone"]:
        if "corroborated_by" not in a["incident"]:
            assert {z["zone_id"] for z in a["zones"]} == expected.zones[a["events"][0]], a
    assert expected.hits and expected.presses and expected.misread_listed and expected.calls
    assert expected.restricted, "the prison gate camera reads unauthorised plates"
    pages = [a for a in alerts if a["update"] == 0]
    assert 0 < len(pages) < len(alerts), "repeat sightings, presses and calls are updates"

    assert len(expected.rejects) > len(REJECT_REASONS)

    rejects = Counter(
        (raw, h["reason"].decode(), h.get("field", b"").decode())
        for raw, h in consume_all(broker.bootstrap, f"{tag}.rejects")
    )
    assert rejects == expected.rejects

    # The metrics, scraped over HTTP from every process, agree with the topics.
    assert _total(samples, "sisec_events_total") == expected.n_events
    assert _total(samples, "sisec_events_total", outcome="rejected") == expected.rejects.total()
    for reason in REJECT_REASONS:
        want = sum(n for (_, r, _), n in expected.rejects.items() if r == reason)
        assert _total(samples, "sisec_rejects_total", reason=reason) == want, reason
    assert _total(samples, "sisec_alerts_total") == len(pages)
    assert _alerts_out(samples) == len(alerts)
    assert _total(samples, "sisec_produced_messages_total", topic=f"{tag}.alerts") == len(alerts)
    assert _total(samples, "sisec_produced_messages_total", topic=f"{tag}.rejects") == (
        expected.rejects.total()
    )
    assert _total(samples, "sisec_hits_dropped_by_zone_total") >= expected.dropped_exact
    assert _total(samples, "sisec_delivery_failures_total") == 0
    assert _total(samples, "sisec_consumer_lag_messages") == 0
    if processes == 2:
        per_process = [_total([s], "sisec_events_total") for s in samples]
        assert all(n > 0 for n in per_process), f"both processes must work: {per_process}"
