"""The incident stage's state (issue 5): cost per signal and bytes per tracked plate,
beside a plain-Python dict doing the same de-duplication.

Run: ``.venv/bin/python -m pytest benches/test_bench_incidents.py --benchmark-only``
(also part of ``make bench-py``). The summary prints signals/s per benchmark and the
ratio to the group's baseline; each test also prints ns per signal, and the memory
test bytes per tracked plate.

Workload: an :class:`Engine` with an exact-only watchlist of 100,000 plates
(``Watchlist.from_rows``) reads only listed plates, so every read is an alert
candidate. Each plate is read 1-3 times (200,000 reads; 2 on average) by 200 cameras
with coordinates, 30 s to 7 min apart over one hour: some sightings fall inside the
300 s suppression window (updates), others after it (the incident closed, a new
page). ``engine.process_routed`` turns each batch of 10,000 reads (in time order)
into one signal batch per shard (64); that is done once, outside the timed calls.

Groups:

* ``incidents_100k_plates``: ``test_incident_state_apply`` applies every shard batch
  to fresh :class:`IncidentState` s (the Rust state; pages and updates come back as
  :class:`Alert` s with their JSON documents). ``test_baseline_python_dict_incidents``
  does the same with a plain dict keyed by (entry id, read plate, match kind) holding
  a small slotted dataclass, a heap of expiries and the same watermark rule, and
  builds the same page/update documents with orjson; it reads the same signals,
  decoded from the same shard bytes beforehand. Both must make the same decisions:
  the same (incident_key, update) pairs, so the same pages and updates (asserted).
  ``test_floor_python_dict_decisions_only`` is the baseline without documents (the
  dict logic alone): not a competitor, the least the Python state costs.
* ``incidents_memory``: bytes per tracked plate: ``IncidentState.size()`` (bytes /
  open plate incidents) with every plate tracked at once (all reads within one
  window), one sighting each and four each at 100k plates, one each at 1M; the
  baseline's by ``tracemalloc`` (live Python allocations of its state, keys
  included) at 100k.

With ``--benchmark-disable`` (``make test``) the sizes drop (5k plates, 20k at most
in the memory test) and every check still runs.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import math
import struct
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

import orjson
import pytest

from sisec_stream import Engine, EngineConfig, Watchlist, WatchlistConfig, _core
from sisec_stream.engine import Alert
from sisec_stream.incidents import IncidentState

FULL_PLATES: Final = 100_000
SMOKE_PLATES: Final = 5_000
N_CAMERAS: Final = 200
#: Reads per engine batch (``process_routed`` call).
ENGINE_BATCH: Final = 10_000
T0_MS: Final = 1_795_435_200_000
#: ``now_ms`` of every call (``emitted_at``): fixed, so runs are repeatable.
NOW_MS: Final = T0_MS

#: The incident settings both sides use (the defaults, spelled out).
WINDOW_S: Final = 300
LATENESS_S: Final = 30
TRACK_MAX: Final = 16
SHARDS: Final = 64
CONFIG: Final = EngineConfig(
    incidents={
        "shards": SHARDS,
        "plate_window_s": WINDOW_S,
        "lateness_s": LATENESS_S,
        "track_max": TRACK_MAX,
    }
)
EXACT_ONLY: Final = WatchlistConfig(default_match="exact", max_substitutions=0, edges=False)

_LETTERS: Final = "ABCDEFGHJKLMNPRSTUVWXYZ"


def _smoke(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_disable"))


def plate(i: int) -> str:
    """The ``i``-th listed plate (``LLLDDD``, unique for i < 12,167,000)."""
    a, d = divmod(i, 1000)
    n = len(_LETTERS)
    return _LETTERS[a // (n * n) % n] + _LETTERS[a // n % n] + _LETTERS[a % n] + f"{d:03d}"


def engine_for(n_plates: int) -> Engine:
    rows = [
        {"entry_id": f"E{i:07d}", "plate": plate(i), "list": "stolen_vehicle", "priority": "2"}
        for i in range(n_plates)
    ]
    wl = Watchlist.from_rows(rows, config=EXACT_ONLY)
    assert len(wl) == n_plates
    engine = Engine(CONFIG, wl)
    assert engine.shards == SHARDS
    return engine


def read(i: int, k: int, ts_ms: int, camera: int) -> bytes:
    return orjson.dumps(
        {
            "type": "plate_read",
            "event_id": f"pr-{i:07d}-{k}",
            "ts": ts_ms,
            "camera_id": f"MDE-LPR-{camera:04d}",
            "plate": plate(i),
            "confidence": 0.93,
            "lat": 6.2 + camera * 0.001,
            "lon": -75.6 + camera * 0.0005,
            "heading_deg": float(camera % 360),
        }
    )


def _rand(i: int, k: int) -> int:
    """A deterministic 32-bit hash of (i, k): no RNG state to share between runs."""
    x = (i * 0x9E3779B1 + k * 0x85EBCA77 + 0x165667B1) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    return x


def speed_reads(n_plates: int) -> list[bytes]:
    """Plate ``i`` read ``1 + i % 3`` times, first within an hour, then 30 s to 7 min
    after the previous read, by pseudo-random cameras; sorted by time."""
    timed: list[tuple[int, bytes]] = []
    for i in range(n_plates):
        t = T0_MS + _rand(i, 0) % 3_600_000
        for k in range(1 + i % 3):
            timed.append((t, read(i, k, t, _rand(i, k + 1) % N_CAMERAS)))
            t += 30_000 + _rand(i, k + 10) % 390_000
    timed.sort(key=itemgetter(0))
    return [r for _, r in timed]


def tracked_reads(first: int, last: int, sightings: int) -> Iterator[list[bytes]]:
    """Engine batches in which plates ``first..last`` are each read ``sightings``
    times, all within 240 s (less than window - lateness): every plate stays tracked."""
    batch: list[bytes] = []
    for k in range(sightings):
        for i in range(first, last):
            t = T0_MS + k * 60_000 + i % 60_000
            batch.append(read(i, k, t, _rand(i, k + 1) % N_CAMERAS))
            if len(batch) == ENGINE_BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


# -- decoding signal batches (the baseline's input), outside the timed part -----------

_MATCH_KINDS: Final = ("exact", "lookalike", "edge", "pattern", "candidate")
_ALERT_KINDS: Final = tuple(_core.ALERT_KINDS)
_HEADER = struct.Struct("<Bqqq")
_SIGHTING_HEAD = struct.Struct("<BqB")
_SIGHTING_MID = struct.Struct("<BfBB")
_SIGHTING_PLACE = struct.Struct("<ddd")
_U32 = struct.Struct("<I")

#: ts_ms, subject (entry id), list, vehicle (read plate), match kind, score,
#: base priority, priority, camera id, lat, lon, heading (None or NaN: absent),
#: event id, alert document.
Sighting = tuple[int, str, str, str, str, float, int, int, str, float, float, float, str, bytes]
#: (newest plate-read time the batch tells, sightings)
Decoded = tuple[int, list[Sighting]]


def decode(blob: bytes) -> Decoded:
    """A plain-Python reader of ``SignalBatch`` bytes (sightings only), so the baseline
    starts from the same signals as the Rust state (layout: incidents/signal.rs)."""
    version, told, _, _ = _HEADER.unpack_from(blob, 0)
    assert version == 2, f"signal batch version {version}"
    pos = _HEADER.size
    out: list[Sighting] = []

    def text() -> bytes:
        nonlocal pos
        (n,) = _U32.unpack_from(blob, pos)
        pos += 4 + n
        return blob[pos - n : pos]

    while pos < len(blob):
        tag, ts, kind = _SIGHTING_HEAD.unpack_from(blob, pos)
        assert tag == 1 and _ALERT_KINDS[kind] == "plate_hit", "only plate hits here"
        pos += _SIGHTING_HEAD.size
        subject, lst, vehicle = text().decode(), text().decode(), text().decode()
        match, score, base_priority, priority = _SIGHTING_MID.unpack_from(blob, pos)
        pos += _SIGHTING_MID.size
        camera = sys.intern(text().decode())  # a camera's id, stored once
        lat, lon, heading = _SIGHTING_PLACE.unpack_from(blob, pos)
        pos += _SIGHTING_PLACE.size
        event_id = text().decode()
        doc = text()
        out.append(
            (
                ts,
                subject,
                lst,
                vehicle,
                _MATCH_KINDS[match],
                score,
                base_priority,
                priority,
                camera,
                lat,
                lon,
                heading,
                event_id,
                doc,
            )
        )
    return told, out


# -- the baseline: the same de-duplication, a plain dict -------------------------------

Point = tuple[int, str, float, float, float]  # ts_ms, camera, lat, lon, heading
Key = tuple[str, str, str]  # entry id, read plate, match kind


@dataclass(slots=True)
class PyIncident:
    opened_ms: int
    last: Point
    window_ms: int
    sightings: int
    updates: int
    priority: int
    score: float
    #: None until a second sighting (most incidents have one).
    track: list[Point] | None


def rfc3339(ms: int) -> str:
    s, milli = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{milli:03d}Z"


def _point_doc(p: Point) -> dict[str, Any]:
    d: dict[str, Any] = {"camera_id": p[1], "time": rfc3339(p[0])}
    if not math.isnan(p[2]):
        d["lat"] = round(p[2], 6)
        d["lon"] = round(p[3], 6)
    if not math.isnan(p[4]):
        d["heading_deg"] = p[4]
    return d


class PyShard:
    """One shard's plate incidents: page once per (entry, read plate, match kind),
    update within the list's window from the last sighting, close when a sighting
    or the watermark (newest read time - lateness) passes the window. Exact hits
    only: the workload has no weak hits to corroborate."""

    __slots__ = ("expiries", "open", "progress")

    def __init__(self) -> None:
        self.open: dict[Key, PyIncident] = {}
        self.expiries: list[tuple[int, Key]] = []
        self.progress = -(2**63)

    def apply(self, batch: Decoded, now_ms: int, documents: bool = True) -> list[Any]:
        told, sightings = batch
        out: list[Any] = []
        emitted = rfc3339(now_ms)
        open_, expiries = self.open, self.expiries
        seen = told
        for s in sightings:
            ts, subject, _, vehicle, match, score = s[:6]
            seen = max(seen, ts)
            key = (subject, vehicle, match)
            inc = open_.get(key)
            if inc is not None and ts > inc.last[0] + inc.window_ms:
                del open_[key]
                inc = None
            p: Point = (ts, s[8], s[9], s[10], s[11])
            if inc is None:
                inc = PyIncident(ts, p, WINDOW_S * 1000, 1, 0, s[7], round(score, 3), None)
                open_[key] = inc
                heapq.heappush(expiries, (ts + inc.window_ms, key))
                reason = None
            else:
                track = inc.track
                if track is None:
                    track = inc.track = [inc.last]
                if len(track) >= TRACK_MAX:
                    del track[1]
                track.append(p)
                track.sort(key=itemgetter(0))
                if ts >= inc.last[0]:
                    inc.last = p
                inc.sightings += 1
                inc.updates += 1
                inc.priority = min(inc.priority, s[7])
                heapq.heappush(expiries, (inc.last[0] + inc.window_ms, key))
                reason = (
                    f"sighting {inc.sightings} of this vehicle; the alert is updated, "
                    "not paged again"
                )
            if documents:
                out.append(_alert(s, key, inc, reason, emitted))
            else:
                out.append((key, inc.updates))
        self.progress = max(self.progress, seen)
        watermark = self.progress - LATENESS_S * 1000
        while expiries and expiries[0][0] < watermark:
            at, key = heapq.heappop(expiries)
            inc = open_.get(key)
            if inc is not None and inc.last[0] + inc.window_ms <= at:
                del open_[key]
        return out


def _alert(s: Sighting, key: Key, inc: PyIncident, reason: str | None, emitted: str) -> Alert:
    """The page or update document, as the state builds it."""
    doc = orjson.loads(s[13])
    alert_id = (
        "inc-" + hashlib.blake2b(f"{key}|{inc.opened_ms}".encode(), digest_size=8).hexdigest()
    )
    doc["alert_id"] = alert_id
    doc["update"] = inc.updates
    doc["priority"] = inc.priority
    doc["emitted_at"] = emitted
    if reason is not None:
        doc["reasons"].append(reason)
    doc["incident"] = {
        "opened_at": rfc3339(inc.opened_ms),
        "last_seen": rfc3339(inc.last[0]),
        "sightings": inc.sightings,
        "score": inc.score,
        "corroborated": False,
        "track": [_point_doc(p) for p in (inc.track or (inc.last,))],
    }
    return Alert(
        alert_id,
        doc["kind"],
        inc.priority,
        s[0],
        doc["incident_key"],
        inc.updates,
        orjson.dumps(doc),
    )


# -- fixtures -------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    n_plates: int
    n_signals: int
    #: Per engine batch: one signal batch per shard.
    batches: list[list[bytes]]
    decoded: list[list[Decoded]]


@pytest.fixture(scope="module", autouse=True)
def _unfreeze_at_end() -> Iterator[None]:
    yield
    gc.unfreeze()


@pytest.fixture(scope="module")
def workload(pytestconfig: pytest.Config) -> Workload:
    n = SMOKE_PLATES if _smoke(pytestconfig) else FULL_PLATES
    engine = engine_for(n)
    reads = speed_reads(n)
    batches: list[list[bytes]] = []
    for j in range(0, len(reads), ENGINE_BATCH):
        result, shards = engine.process_routed(reads[j : j + ENGINE_BATCH], NOW_MS)
        assert result.rejected == 0 and len(shards) == SHARDS
        batches.append(shards)
    decoded = [[decode(b) for b in shards] for shards in batches]
    n_signals = sum(len(d[1]) for shards in decoded for d in shards)
    assert n_signals == len(reads), "every read is an alert candidate"
    # The workload lives through the module: keep the cyclic GC from rescanning it
    # in every benchmark (it would land on whichever allocates most).
    gc.collect()
    gc.freeze()
    return Workload(n, n_signals, batches, decoded)


def _rust_apply(w: Workload) -> Callable[[list[IncidentState]], tuple[int, int, list[Any]]]:
    def run(states: list[IncidentState]) -> tuple[int, int, list[Any]]:
        pages = updates = 0
        decisions: list[Any] = []
        for shards in w.batches:
            for state, blob in zip(states, shards, strict=True):
                for a in state.apply([blob], NOW_MS):
                    if a.update:
                        updates += 1
                    else:
                        pages += 1
                    decisions.append((a.incident_key, a.update))
        return pages, updates, decisions

    return run


def _python_apply(
    w: Workload, documents: bool
) -> Callable[[list[PyShard]], tuple[int, int, list[Any]]]:
    def run(states: list[PyShard]) -> tuple[int, int, list[Any]]:
        pages = updates = 0
        decisions: list[Any] = []
        for shards in w.decoded:
            for state, batch in zip(states, shards, strict=True):
                for a in state.apply(batch, NOW_MS, documents):
                    key, update = (a.incident_key, a.update) if documents else a
                    if update:
                        updates += 1
                    else:
                        pages += 1
                    decisions.append((key, update))
        return pages, updates, decisions

    return run


def _report(benchmark: Any, capsys: pytest.CaptureFixture[str], n: int) -> None:
    benchmark.extra_info["events"] = n
    stats = getattr(benchmark, "stats", None)
    if stats is None or benchmark.disabled:
        return
    ns = stats.stats.median / n * 1e9
    benchmark.extra_info["ns_per_signal_median"] = round(ns, 1)
    with capsys.disabled():
        print(f"\n  {benchmark.name}: {ns:,.1f} ns/signal (median of {stats.stats.rounds})")


def _rounds(benchmark: Any) -> int:
    return 1 if benchmark.disabled else 5


GROUP = "incidents_100k_plates"


@pytest.fixture(scope="module")
def rust_decisions(workload: Workload) -> tuple[int, int, list[Any]]:
    pages, updates, decisions = _rust_apply(workload)(
        [IncidentState(CONFIG) for _ in range(SHARDS)]
    )
    decisions.sort()
    return pages, updates, decisions


@pytest.mark.benchmark(group=GROUP)
def test_incident_state_apply(
    benchmark: Any,
    events_info: Callable[[int], None],
    capsys: pytest.CaptureFixture[str],
    workload: Workload,
) -> None:
    events_info(workload.n_signals)
    pages, updates, _ = benchmark.pedantic(
        _rust_apply(workload),
        setup=lambda: (([IncidentState(CONFIG) for _ in range(SHARDS)],), {}),
        rounds=_rounds(benchmark),
    )
    assert pages + updates == workload.n_signals
    # Both kinds of decision occur: re-reads within the window update, later ones page.
    assert pages > workload.n_plates and updates > workload.n_plates // 4
    benchmark.extra_info.update(pages=pages, updates=updates)
    _report(benchmark, capsys, workload.n_signals)


@pytest.mark.benchmark(group=GROUP)
def test_baseline_python_dict_incidents(
    benchmark: Any,
    events_info: Callable[[int], None],
    capsys: pytest.CaptureFixture[str],
    workload: Workload,
    rust_decisions: tuple[int, int, list[Any]],
) -> None:
    events_info(workload.n_signals)
    pages, updates, decisions = benchmark.pedantic(
        _python_apply(workload, documents=True),
        setup=lambda: (([PyShard() for _ in range(SHARDS)],), {}),
        rounds=_rounds(benchmark),
    )
    # The same decisions as the Rust state: every (incident, update n) pair.
    assert (pages, updates) == rust_decisions[:2]
    decisions.sort()
    assert decisions == rust_decisions[2]
    benchmark.extra_info.update(pages=pages, updates=updates)
    _report(benchmark, capsys, workload.n_signals)


@pytest.mark.benchmark(group=GROUP)
def test_floor_python_dict_decisions_only(
    benchmark: Any,
    events_info: Callable[[int], None],
    capsys: pytest.CaptureFixture[str],
    workload: Workload,
    rust_decisions: tuple[int, int, list[Any]],
) -> None:
    """Not a competitor: the dict logic without building any alert document."""
    events_info(workload.n_signals)
    pages, updates, _ = benchmark.pedantic(
        _python_apply(workload, documents=False),
        setup=lambda: (([PyShard() for _ in range(SHARDS)],), {}),
        rounds=_rounds(benchmark),
    )
    assert (pages, updates) == rust_decisions[:2]
    _report(benchmark, capsys, workload.n_signals)


# -- memory ---------------------------------------------------------------------------

MEMORY = "incidents_memory"
#: (name, plates, sightings per plate, with the Python baseline)
FULL_MEMORY: Final = (
    ("100k_x1", 100_000, 1, True),
    ("100k_x4", 100_000, 4, True),
    ("1m_x1", 1_000_000, 1, False),
)
SMOKE_MEMORY: Final = (
    ("5k_x1", 5_000, 1, True),
    ("5k_x4", 5_000, 4, True),
    ("20k_x1", 20_000, 1, False),
)
TARGET_BYTES_PER_PLATE: Final = 64


def _memory(engine: Engine, n: int, sightings: int, baseline: bool) -> dict[str, Any]:
    """Track ``n`` plates at once in fresh states, Rust then Python, one engine batch at
    a time (the batches are not kept: 1M alert candidates are ~1 GB of signals)."""
    states = [IncidentState(CONFIG) for _ in range(SHARDS)]
    for batch in tracked_reads(0, n, sightings):
        _, shards = engine.process_routed(batch, NOW_MS)
        for state, blob in zip(states, shards, strict=True):
            state.apply([blob], NOW_MS)
        del shards
    sizes = [s.size() for s in states]
    plates, rust_bytes = sum(s.plates for s in sizes), sum(s.bytes for s in sizes)
    assert plates == n, "every plate tracked: nothing closed"
    out: dict[str, Any] = {
        "plates": plates,
        "sightings_per_plate": sightings,
        "rust_bytes_per_plate": round(rust_bytes / plates, 1),
    }
    del states
    if baseline:
        py = [PyShard() for _ in range(SHARDS)]
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for batch in tracked_reads(0, n, sightings):
            _, shards = engine.process_routed(batch, NOW_MS)
            for shard, blob in zip(py, shards, strict=True):
                shard.apply(decode(blob), NOW_MS, documents=False)
            del shards, batch
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert sum(len(s.open) for s in py) == n
        out["python_dict_bytes_per_plate"] = round((after - before) / n, 1)
        del py
    return out


@pytest.mark.benchmark(group=MEMORY)
def test_incident_state_memory_per_plate(
    benchmark: Any, capsys: pytest.CaptureFixture[str], pytestconfig: pytest.Config
) -> None:
    """Bytes per tracked plate: ``IncidentState.size()`` (the state's own count of its
    heap: tables at capacity, expiry heap, tracks, camera names) per open plate
    incident, and the plain-Python state's live allocations (``tracemalloc``; at
    100k plates only: 1M under tracemalloc takes minutes). Recorded against the
    issue's 64 B target, not asserted."""
    scenarios = SMOKE_MEMORY if _smoke(pytestconfig) else FULL_MEMORY
    engines: dict[int, Engine] = {}

    def measure() -> dict[str, dict[str, Any]]:
        figures: dict[str, dict[str, Any]] = {}
        for name, n, sightings, baseline in scenarios:
            if n not in engines:
                engines.clear()
                gc.collect()
                engines[n] = engine_for(n)
            figures[name] = _memory(engines[n], n, sightings, baseline)
        return figures

    # Run once: --benchmark-only runs only benchmarks. Not a speed figure.
    figures = benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info["target_bytes_per_plate"] = TARGET_BYTES_PER_PLATE
    benchmark.extra_info.update(figures)
    with capsys.disabled():
        for name, f in figures.items():
            print(f"\n  {name}: " + ", ".join(f"{k} {v:,}" for k, v in f.items()), end="")
        print()
    for f in figures.values():
        assert f["rust_bytes_per_plate"] > 0
        assert f["python_dict_bytes_per_plate"] > 0 if "python_dict_bytes_per_plate" in f else True
