"""The event archive: Parquet by source and date, written by the real flow.

A generated city crossing UTC midnight is replayed with ``sisec-stream run
--input`` and an ``[archive]``; what is read back with polars must be exactly the
accepted input events (normalised) and the alerts the run emitted.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import string
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from bytewax.testing import TestingSink, TestingSource

from sisec_stream import Engine, Watchlist
from sisec_stream.archive import SCHEMAS, SOURCES, ArchiveBatch, ArchiveSink, ArchiveWriter
from sisec_stream.archive import writer as archive_writer
from sisec_stream.archive.pseudonym import Pseudonymizer, load_key
from sisec_stream.archive.retention import NotAnArchiveError, prune
from sisec_stream.archive.writer import ArchiveWriteError, events_frame, pseudonymised_lines
from sisec_stream.cli import main
from sisec_stream.errors import ConfigError
from sisec_stream.flow import EngineStep, StepItem, build_alerts_flow, run_flow
from sisec_stream.generator import EVENT_FILES, ScenarioConfig, write_scenario
from sisec_stream.generator import SOURCES as FILE_SOURCES
from sisec_stream.kafka import BrokerSettings
from sisec_stream.runconfig import RunConfig

# 23:30 UTC to 00:30 UTC: every source crosses a UTC date.
CITY = ScenarioConfig(
    seed=3,
    start="2026-11-23T18:30:00-05:00",
    duration_s=3600,
    cameras=30,
    watchlist_size=2000,
    listed_share=0.02,
    devices=60,
    calls_per_hour=300,
    malformed_share=0.01,
)
KEY = bytes(range(32))
SOURCE_OF_FILE = {"plate_reads": "plate_read", "button_presses": "button_press", "calls": "call"}


def normalise(plate: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", plate).upper()


def token(plate: str, key: bytes = KEY) -> str:
    return hashlib.blake2b(plate.encode(), key=key, digest_size=16).hexdigest()


def ts_of(value: Any) -> datetime:
    """An event time as the archive keeps it: UTC, whole milliseconds."""
    if isinstance(value, int | float):
        ms = int(value)
    else:
        dt = datetime.fromisoformat(value)
        ms = int(dt.timestamp()) * 1000 + dt.microsecond // 1000
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


class Replay:
    """The city written to files, replayed through ``sisec-stream run`` with an archive."""

    def __init__(self, root: Path, *, key: bytes | None, workers: int) -> None:
        self.root = root
        self.city = root / "city"
        if not (self.city / "watchlist.csv").exists():
            write_scenario(CITY, self.city, progress=False, parallel=False)
        self.archive = root / "archive"
        self.out = root / "out"
        lines = ["[watchlist]", f'file = "{self.city / "watchlist.csv"}"', "[metrics]", "port = 0"]
        lines += [
            "[source]",
            "batch_size = 500",
            "[archive]",
            'path = "archive"',
            "flush_rows = 700",
        ]
        if key is not None:
            (root / "archive.key").write_bytes(key)
            lines += ['key_file = "archive.key"', 'compression = "uncompressed"']
        (root / "sisec.toml").write_text("\n".join(lines) + "\n")
        self.inputs = [self.city / EVENT_FILES[s] for s in FILE_SOURCES]
        args = ["run", "-c", str(root / "sisec.toml"), "-w", str(workers), "--out", str(self.out)]
        code = main([*args, "--input", *map(str, self.inputs)])
        assert code == 0

    def read(self, source: str) -> pl.DataFrame:
        files = sorted((self.archive / f"source={source}").glob("date=*/*.parquet"))
        assert files, source
        return pl.read_parquet(files, hive_partitioning=False)

    def files(self) -> list[Path]:
        return sorted(self.archive.rglob("*.parquet"))


@pytest.fixture(scope="module")
def clear(tmp_path_factory: pytest.TempPathFactory) -> Replay:
    return Replay(tmp_path_factory.mktemp("clear"), key=None, workers=2)


@pytest.fixture(scope="module")
def keyed(clear: Replay, tmp_path_factory: pytest.TempPathFactory) -> Replay:
    root = tmp_path_factory.mktemp("keyed")
    (root / "city").symlink_to(clear.city)
    return Replay(root, key=KEY, workers=1)


class Expected:
    """What the archive must hold, from the input files and an engine of our own."""

    def __init__(self, city: Path) -> None:
        engine = Engine(watchlist=Watchlist.from_csv(city / "watchlist.csv"))
        self.n_in = 0
        self.rejected = 0
        self.accepted: dict[str, list[dict[str, Any]]] = {s: [] for s in SOURCE_OF_FILE.values()}
        self.hits: set[str] = set()
        for name, source in SOURCE_OF_FILE.items():
            raw = [x for x in (city / f"{name}.jsonl").read_bytes().split(b"\n") if x.strip()]
            result = engine.process(raw)
            bad = {r.index for r in result.rejects}
            self.n_in += len(raw)
            self.rejected += len(bad)
            for a in result.alerts:
                if a.kind in ("plate_hit", "restricted_zone"):
                    self.hits.update(orjson.loads(a.json)["events"])
            for i, line in enumerate(raw):
                if i not in bad:
                    self.accepted[source].append(orjson.loads(line))

    def rows(self, source: str, key: bytes | None = None) -> list[dict[str, Any]]:
        return [_row(source, e, e["event_id"] in self.hits, key) for e in self.accepted[source]]


def _row(source: str, e: dict[str, Any], hit: bool, key: bytes | None) -> dict[str, Any]:
    row: dict[str, Any] = {k: e.get(k) for k in SCHEMAS[source].names()}
    row["ts"] = ts_of(e["ts"])
    for k in ("lat", "lon", "confidence", "heading_deg", "accuracy_m"):
        if row.get(k) is not None:
            row[k] = float(row[k])
    if source != "plate_read":
        return row
    hide = key is not None and not hit
    plate = normalise(e["plate"])
    vehicle = e.get("vehicle", {})
    candidates = [
        {
            "plate": None if hide else normalise(c["plate"]),
            "token": None if key is None else token(normalise(c["plate"]), key),
            "confidence": None if "confidence" not in c else float(c["confidence"]),
        }
        for c in e.get("candidates", [])
    ]
    row.update(
        plate=None if hide else plate,
        plate_token=None if key is None else token(plate, key),
        plate_raw=None if hide else e["plate"],
        vehicle_class=vehicle.get("class"),
        vehicle_make=vehicle.get("make"),
        vehicle_color=vehicle.get("color"),
        candidates=candidates or None,
        hit=hit,
    )
    return row


@pytest.fixture(scope="module")
def expected(clear: Replay) -> Expected:
    return Expected(clear.city)


def _by_id(rows: list[dict[str, Any]], key: str = "event_id") -> dict[str, dict[str, Any]]:
    out = {r[key]: r for r in rows}
    assert len(out) == len(rows), "ids are unique"
    return out


@pytest.mark.parametrize("source", ["plate_read", "button_press", "call"])
def test_round_trip_gives_exactly_the_accepted_events(
    clear: Replay, expected: Expected, source: str
) -> None:
    got = clear.read(source)
    assert got.schema == SCHEMAS[source], "exact column names and types"
    rows = got.to_dicts()
    assert len(rows) == len(expected.accepted[source]), "every accepted event once"
    want = _by_id(expected.rows(source))
    have = _by_id(rows)
    assert have.keys() == want.keys()
    diff = [(i, have[i], want[i]) for i in want if have[i] != want[i]]
    assert not diff, diff[:3]
    if source == "plate_read":
        assert 20 < sum(r["hit"] for r in rows) < len(rows) / 2, "some hits, mostly not"


def test_nothing_rejected_is_archived_and_in_is_accepted_plus_rejected(
    clear: Replay, expected: Expected
) -> None:
    archived = sum(clear.read(s).height for s in SOURCE_OF_FILE.values())
    rejects = (clear.out / "rejects.jsonl").read_bytes().splitlines()
    assert expected.rejected > 10 and len(rejects) == expected.rejected
    assert archived + len(rejects) == expected.n_in
    rejected_ids = {orjson.loads(r)["event_id"] for r in rejects} - {None}
    for source in SOURCE_OF_FILE.values():
        assert not rejected_ids & set(clear.read(source)["event_id"])


def test_partitions_by_source_and_utc_date(clear: Replay) -> None:
    names = re.compile(r"^part-\d+-\d{13}-\d+\.parquet$")
    dates: dict[str, set[str]] = {}
    for f in clear.files():
        source_dir, date_dir = f.parent.parent.name, f.parent.name
        assert f.parent.parent.parent == clear.archive
        assert names.match(f.name), f.name
        source = source_dir.removeprefix("source=")
        day = date_dir.removeprefix("date=")
        col = "event_time" if source == "alert" else "ts"
        days = pl.read_parquet(f).get_column(col).dt.date().unique().to_list()
        assert days == [date.fromisoformat(day)], f
        dates.setdefault(source, set()).add(day)
    assert set(dates) == set(SOURCES)
    for source in ("plate_read", "button_press", "call"):
        assert dates[source] == {"2026-11-23", "2026-11-24"}, source
    assert not list(clear.archive.rglob(".*")), "no temporary files left"
    assert len(list(clear.archive.glob("source=plate_read/*/*.parquet"))) > 4, "several flushes"


def test_scan_with_hive_partitioning_reads_the_layout(clear: Replay) -> None:
    scanned = pl.scan_parquet(
        clear.archive / "source=plate_read" / "**" / "*.parquet", hive_partitioning=True
    ).collect()
    assert scanned.height == clear.read("plate_read").height
    assert scanned.schema["date"] == pl.Date, "the date folders read as a Date column"
    by_day = dict(scanned.group_by("date").len().iter_rows())
    assert set(by_day) == {date(2026, 11, 23), date(2026, 11, 24)}
    one_day = pl.scan_parquet(
        clear.archive / "source=plate_read" / "**" / "*.parquet", hive_partitioning=True
    ).filter(pl.col("date") == pl.date(2026, 11, 24))
    assert one_day.select(pl.len()).collect().item() == by_day[date(2026, 11, 24)]


def test_alert_partition_is_the_alerts_the_run_emitted(clear: Replay) -> None:
    sent = (clear.out / "alerts.jsonl").read_bytes().splitlines()
    got = clear.read("alert")
    assert got.schema == SCHEMAS["alert"]
    assert Counter(got["document"]) == Counter(s.decode() for s in sent), "documents as sent"
    for row in got.iter_rows(named=True):
        doc = orjson.loads(row["document"])
        assert row["alert_id"] == doc["alert_id"] and row["update"] == doc["update"]
        assert row["kind"] == doc["kind"] and row["priority"] == doc["priority"]
        assert row["schema_version"] == doc["schema_version"] == 2
        assert row["event_time"] == ts_of(doc["event_time"])
        assert row["plate"] == doc.get("details", {}).get("normalized_plate")
    assert got["plate"].null_count() < got.height, "plate alerts carry their plate"


# ---------------------------------------------------------------- pseudonymisation


def test_keyed_archive_has_tokens_and_hides_non_hit_plates(
    keyed: Replay, expected: Expected
) -> None:
    got = keyed.read("plate_read")
    assert got.schema == SCHEMAS["plate_read"]
    want = _by_id(expected.rows("plate_read", KEY))
    have = _by_id(got.to_dicts())
    assert have.keys() == want.keys()
    diff = [(i, have[i], want[i]) for i in want if have[i] != want[i]]
    assert not diff, diff[:3]
    hits = got.filter(pl.col("hit"))
    assert hits["plate"].null_count() == 0 and hits["plate_raw"].null_count() == 0
    misses = got.filter(~pl.col("hit"))
    assert misses["plate"].null_count() == misses["plate_raw"].null_count() == misses.height
    # Same plate, same token; one token per plate.
    plates = pl.Series([normalise(e["plate"]) for e in expected.accepted["plate_read"]])
    pairs = pl.DataFrame(
        {"plate": plates, "event_id": [e["event_id"] for e in expected.accepted["plate_read"]]}
    ).join(got.select("event_id", "plate_token"), on="event_id")
    per_plate = pairs.group_by("plate").agg(pl.col("plate_token").n_unique())
    assert per_plate["plate_token"].max() == 1
    assert pairs["plate_token"].n_unique() == pairs["plate"].n_unique()
    assert per_plate.height < len(plates), "plates seen more than once"


def test_a_different_key_gives_different_tokens(expected: Expected) -> None:
    engine = Engine()
    lines = [
        orjson.dumps({"type": "plate_read", **e}) for e in expected.accepted["plate_read"][:200]
    ]
    _, _, archived = engine.process_routed(lines, archive=True)
    one = events_frame("plate_read", archived["plate_read"], Pseudonymizer(KEY))
    other = events_frame("plate_read", archived["plate_read"], Pseudonymizer(b"another key 0123"))
    again = events_frame("plate_read", archived["plate_read"], Pseudonymizer(KEY))
    assert one["plate_token"].to_list() == again["plate_token"].to_list()
    assert not set(one["plate_token"]) & set(other["plate_token"])


def _many_reads(n: int, seed: int = 11) -> tuple[list[bytes], list[str]]:
    """``n`` plate reads of random plates (2 to 10 characters, as sent with
    separators and lower case), some with candidates; and every normalised plate."""
    rng = random.Random(seed)
    alphabet = string.ascii_uppercase + string.digits

    def plate() -> str:
        return "".join(rng.choices(alphabet, k=rng.randint(2, 10)))

    def sent(p: str) -> str:
        cut = rng.randint(0, len(p))
        return (p[:cut] + rng.choice(["", "-", " ", "."]) + p[cut:]).lower()

    reads, plates = [], []
    for i in range(n):
        p = plate()
        event: dict[str, Any] = {
            "type": "plate_read",
            "event_id": f"r{i}",
            "ts": 1_763_900_000_000 + i,
            "camera_id": "C",
            "plate": sent(p),
        }
        plates.append(p)
        if i % 3 == 0:
            cands = [plate() for _ in range(rng.randint(1, 3))]
            event["candidates"] = [{"plate": sent(c), "confidence": 0.5} for c in cands]
            plates += cands
        reads.append(orjson.dumps(event))
    return reads, plates


@pytest.mark.parametrize("key", [KEY, b"0123456789abcdef", bytes(range(64))], ids=len)
def test_engine_and_python_tokens_agree_on_many_plates(key: bytes) -> None:
    """The engine's pseudonymised lines (``archive_key``) hold hashlib's keyed
    blake2b of every plate, and read as the lines the Python path makes from the
    engine's clear ones (hits and the rest)."""
    reads, plates = _many_reads(20_000)
    listed = [
        {"entry_id": f"W{i}", "plate": p, "list": "stolen_vehicle"}
        for i, p in enumerate(sorted(set(plates[::7])))
    ]
    engine = Engine(watchlist=Watchlist.from_rows(listed))
    keyed_out: list[bytes] = []
    clear_out: list[bytes] = []
    for i in range(0, len(reads), 5000):
        batch = reads[i : i + 5000]
        result, _, keyed = engine.process_routed(batch, archive=True, archive_key=key)
        _, _, clear = engine.process_routed(batch, archive=True)
        assert result.accepted == len(batch) and not result.rejects
        keyed_out.append(keyed["plate_read"])
        clear_out.append(clear["plate_read"])
    rust = [orjson.loads(x) for b in keyed_out for x in b.splitlines()]
    python = pseudonymised_lines(b"".join(clear_out), Pseudonymizer(key)).splitlines()
    assert rust == [orjson.loads(x) for x in python]
    hits = sum(e["hit"] for e in rust)
    assert 0 < hits < len(rust)
    tokens = {e["plate_token"] for e in rust} | {
        c["token"] for e in rust for c in e.get("candidates", [])
    }
    assert tokens == {token(p, key) for p in plates}
    assert len(tokens) > 25_000


def test_archive_key_must_be_16_to_64_bytes_and_needs_archive() -> None:
    engine = Engine()
    for bad in (b"", bytes(15), bytes(65)):
        with pytest.raises(ValueError, match=f"16 to 64 bytes, not {len(bad)}"):
            engine.process_routed([], archive=True, archive_key=bad)
    with pytest.raises(ValueError, match="without archive=True"):
        engine._inner.process_routed([], None, False, KEY)
    with pytest.raises(ValueError, match="without archive=True"):
        EngineStep(engine, archive_key=KEY)


def test_a_keyed_flow_has_the_engine_pseudonymise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an ArchiveSink that has a key, the flow hands the key to the engine
    step: the writer never rewrites a line (its Python path is not called)."""
    reads, plates = _many_reads(300)

    def refuse(*_: Any, **__: Any) -> bytes:
        raise AssertionError("the writer rewrote lines the engine pseudonymised")

    monkeypatch.setattr(archive_writer, "pseudonymised_lines", refuse)
    sink = ArchiveSink(tmp_path / "archive", pseudonymizer=Pseudonymizer(KEY))
    flow = build_alerts_flow(
        TestingSource(reads, batch_size=50),
        Engine(
            watchlist=Watchlist.from_rows(
                [{"entry_id": "W", "plate": plates[0], "list": "stolen_vehicle"}]
            )
        ),
        TestingSink([]),
        TestingSink([]),
        archive_sink=sink,
    )
    run_flow(flow)
    sink.close()
    got = pl.read_parquet(sorted((tmp_path / "archive").glob("source=plate_read/*/*.parquet")))
    assert got.height == len(reads)
    assert got["plate_token"].null_count() == 0
    assert got.filter(pl.col("hit")).height == 1
    assert got.filter(~pl.col("hit"))["plate"].null_count() == len(reads) - 1
    assert set(got["plate_token"]) <= {token(p) for p in plates}
    # A batch that says it is pseudonymised and is not stops at the writer.
    writer = ArchiveWriter(tmp_path / "other", pseudonymizer=Pseudonymizer(KEY))
    _, _, clear = Engine().process_routed(reads[:5], archive=True)
    with pytest.raises(ValueError, match="without plate_token"):
        writer.add(ArchiveBatch("plate_read", clear["plate_read"], 5, pseudonymised=True))
    writer.release()
    assert not list((tmp_path / "other").rglob("*.ndjson"))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _non_hit_plates(expected: Expected) -> set[str]:
    """Plates (normalised and as sent) of reads that are not hits, and of their
    candidates, that no hit read shows in clear."""
    hidden: set[str] = set()
    shown: set[str] = set()
    for e in expected.accepted["plate_read"]:
        forms = {e["plate"], normalise(e["plate"])}
        for c in e.get("candidates", []):
            forms |= {c["plate"], normalise(c["plate"])}
        (shown if e["event_id"] in expected.hits else hidden).update(forms)
    return {p for p in hidden - shown if len(normalise(p)) >= 4 and re.search("[A-Za-z]", p)}


def _plate_like_runs(data: bytes) -> set[str]:
    return {m.decode() for m in re.findall(rb"[A-Za-z0-9][A-Za-z0-9 .\-]*[A-Za-z0-9]", data)}


def test_no_clear_plate_of_a_non_hit_read_anywhere_on_disk(
    keyed: Replay, clear: Replay, expected: Expected
) -> None:
    secret = _non_hit_plates(expected)
    assert len(secret) > 1000
    files = keyed.files()
    assert {f.parent.parent.name for f in files} == {f"source={s}" for s in SOURCES}
    others = [f for f in keyed.archive.rglob("*") if f.is_file() and f.suffix != ".parquet"]
    assert not others, f"only Parquet files are left (the spool is gone): {others}"
    for f in files:
        values = set()
        for row in pl.read_parquet(f).iter_rows():
            values.update(_strings(list(row)))
        leaked = values & secret
        assert not leaked, (f, sorted(leaked)[:5])
        # The bytes too (written uncompressed, so strings are visible).
        leaked = _plate_like_runs(f.read_bytes()) & secret
        assert not leaked, (f, sorted(leaked)[:5])
    # The same scan finds them in an archive without a key: the check can fail.
    found = set()
    for f in clear.archive.glob("source=plate_read/*/*.parquet"):
        found |= _plate_like_runs(pl.read_parquet(f).write_ipc(None).getvalue()) & secret
    assert len(found) > len(secret) / 2


def test_the_spool_holds_no_clear_plate_of_a_non_hit_read(
    clear: Replay, expected: Expected, tmp_path: Path
) -> None:
    """With a key, reads are pseudonymised before they are spooled: what waits on
    disk for its flush (up to ``flush_interval_s``) shows no plate of a read that
    is not a hit either. Without a key the same scan finds them."""
    secret = _non_hit_plates(expected)
    engine = Engine(watchlist=Watchlist.from_csv(clear.city / "watchlist.csv"))
    lines = (clear.city / "plate_reads.jsonl").read_bytes().splitlines()
    spooled: dict[str, bytes] = {}
    # keyed: the writer pseudonymises the engine's clear lines (Python); engine:
    # the engine writes them pseudonymised (archive_key), the writer spools them.
    for name, key, in_engine in (
        ("keyed", KEY, False),
        ("engine", KEY, True),
        ("clear", None, False),
    ):
        root = tmp_path / name
        writer = ArchiveWriter(root, pseudonymizer=None if key is None else Pseudonymizer(key))
        for i in range(0, len(lines), 500):
            result, _, archived = engine.process_routed(
                lines[i : i + 500], archive=True, archive_key=key if in_engine else None
            )
            writer.add(
                ArchiveBatch("plate_read", archived["plate_read"], result.accepted, in_engine)
            )
        writer.release()  # as a killed process would: the spool stays, unflushed
        assert not list(root.rglob("*.parquet"))
        spooled[name] = b"".join(f.read_bytes() for f in root.rglob("*.ndjson"))
    for name in ("keyed", "engine"):
        assert spooled[name].count(b"\n") == len(expected.accepted["plate_read"])
        assert not _plate_like_runs(spooled[name]) & secret, name
    assert [orjson.loads(x) for x in spooled["engine"].splitlines()] == [
        orjson.loads(x) for x in spooled["keyed"].splitlines()
    ]
    assert len(_plate_like_runs(spooled["clear"]) & secret) > len(secret) / 2, "the scan can fail"
    # What a restart archives from the keyed spool is what a flush would have written;
    # a spool written in clear gets its tokens when a key is configured by then.
    assert main(["archive", "recover", "--path", str(tmp_path / "keyed")]) == 0
    assert main(["archive", "recover", "--path", str(tmp_path / "engine")]) == 0
    (tmp_path / "archive.key").write_bytes(KEY)
    config = tmp_path / "sisec.toml"
    config.write_text('[archive]\npath = "clear"\nkey_file = "archive.key"\n')
    assert main(["archive", "recover", "-c", str(config)]) == 0
    want = _by_id(expected.rows("plate_read", KEY))
    for name in ("keyed", "engine", "clear"):
        got = pl.read_parquet(sorted((tmp_path / name).glob("source=plate_read/*/*.parquet")))
        assert got.schema == SCHEMAS["plate_read"]
        assert _by_id(got.to_dicts()) == want, name
        assert not (tmp_path / name / "_spool").exists()


# ---------------------------------------------------------------- retention


def _archive(root: Path, today: date, ages: list[int]) -> None:
    for source in SOURCES:
        for age in ages:
            d = root / f"source={source}" / f"date={(today - timedelta(days=age)).isoformat()}"
            d.mkdir(parents=True)
            (d / "part-0-1-0.parquet").write_bytes(b"PAR1")


def test_prune_deletes_old_partitions_and_nothing_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    today = datetime.now(UTC).date()
    root = tmp_path / "archive"
    _archive(root, today, [0, 1, 29, 30, 31, 400])
    (root / "README.txt").write_text("mine")
    (root / "source=plate_read" / "date=not-a-date").mkdir()
    (root / "source=plate_read" / "notes.txt").write_text("mine too")
    old_bad = root / "source=call" / "date=2026-02-30"  # not a real date: not ours
    old_bad.mkdir()
    spool = root / "_spool" / "worker-0" / "seg-00000000"
    spool.mkdir(parents=True)
    (spool / "call.ndjson").write_bytes(b"{}\n")

    def days_left() -> dict[str, list[int]]:
        return {
            s: sorted(
                (today - date.fromisoformat(p.name[5:])).days
                for p in (root / f"source={s}").glob("date=????-??-??")
                if p.name != "date=2026-02-30"
            )
            for s in SOURCES
        }

    assert main(["archive", "prune", "--path", str(root), "--days", "30", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert sum(line.startswith("would delete ") for line in out.splitlines()) == 2 * len(SOURCES)
    assert "8 partition(s) to delete (dry run: nothing deleted)" in out
    assert days_left() == {s: [0, 1, 29, 30, 31, 400] for s in SOURCES}, "dry run deletes nothing"

    assert main(["archive", "prune", "--path", str(root), "--days", "30"]) == 0
    out = capsys.readouterr().out
    assert sum(line.startswith("deleted ") for line in out.splitlines()) == 2 * len(SOURCES)
    assert f"date={(today - timedelta(days=31)).isoformat()}" in out
    assert "8 partition(s) deleted: dates before" in out
    assert days_left() == {s: [0, 1, 29, 30] for s in SOURCES}
    assert (root / "README.txt").exists() and old_bad.exists()
    assert (root / "source=plate_read" / "date=not-a-date").exists()
    assert (root / "source=plate_read" / "notes.txt").exists()
    assert (spool / "call.ndjson").exists(), "the spool is not a partition"


def test_prune_takes_its_defaults_from_the_config(tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    _archive(tmp_path / "arch", today, [2, 9])
    config = tmp_path / "sisec.toml"
    config.write_text('[archive]\npath = "arch"\nretention_days = 5\n')
    assert main(["archive", "prune", "-c", str(config)]) == 0
    left = sorted(p.name for p in (tmp_path / "arch" / "source=call").iterdir())
    assert left == [f"date={(today - timedelta(days=2)).isoformat()}"]


def test_prune_refuses_what_is_not_an_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "date=2000-01-01").mkdir()
    (tmp_path / "keep.txt").write_text("x")
    assert main(["archive", "prune", "--path", str(tmp_path), "--days", "1"]) == 2
    assert "not an archive (no source=... folders" in capsys.readouterr().err
    assert (tmp_path / "date=2000-01-01").exists() and (tmp_path / "keep.txt").exists()
    assert main(["archive", "prune", "--path", str(tmp_path / "nope"), "--days", "1"]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["archive", "prune", "--path", str(tmp_path)]) == 2
    assert "--days" in capsys.readouterr().err
    with pytest.raises(NotAnArchiveError):
        prune(tmp_path, 1)


# ---------------------------------------------------------------- configuration and failures


def test_key_file_missing_or_short_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "archive.key"
    with pytest.raises(
        ConfigError, match=r"archive\.key_file: the key file .*archive\.key does not exist"
    ):
        load_key(key)
    key.write_bytes(b"short")
    with pytest.raises(ConfigError, match=r"archive\.key\S* holds 5 bytes, fewer than 16; write"):
        load_key(key)
    config = tmp_path / "sisec.toml"
    config.write_text('[archive]\npath = "a"\nkey_file = "archive.key"\n[metrics]\nport = 0\n')
    (tmp_path / "e.jsonl").write_bytes(b"{}\n")
    code = main(
        ["run", "-c", str(config), "--input", str(tmp_path / "e.jsonl"), "--out", str(tmp_path)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "sisec.toml" in err and str(key) in err and "fewer than 16" in err
    key.write_bytes(os.urandom(16))
    assert RunConfig.load(config).archive is not None


@pytest.mark.parametrize(
    ("table", "key", "fix"),
    [
        ('path = "a"\nflush_row = 5', "archive.flush_row", "unknown key; known keys of [archive]"),
        ('path = "a"\nflush_rows = 0', "archive.flush_rows", "whole number 1..100000000"),
        ('path = "a"\nflush_interval_s = 0', "archive.flush_interval_s", "above 0"),
        ('path = "a"\nflush_interval_s = "1m"', "archive.flush_interval_s", "number of seconds"),
        ('path = "a"\nretention_days = 0', "archive.retention_days", "whole number 1..36500"),
        ('path = "a"\ncompression = "brotli"', "archive.compression", "one of zstd"),
        ('path = "a"\nfsync_interval_s = -1', "archive.fsync_interval_s", "from 0 (sync after"),
        ('path = "a"\nfsync_interval_s = true', "archive.fsync_interval_s", "to 3600, got True"),
        ("flush_rows = 10", "archive.path", 'missing: the archive folder, e.g. path = "archive"'),
        ('path = ""', "archive.path", "non-empty string"),
    ],
)
def test_bad_archive_settings_fail_at_load(tmp_path: Path, table: str, key: str, fix: str) -> None:
    config = tmp_path / "sisec.toml"
    config.write_text(f"[archive]\n{table}\n")
    with pytest.raises(ConfigError) as info:
        RunConfig.load(config)
    assert info.value.key == key
    assert str(info.value).startswith(f"{config}: {key}: ")
    assert fix in str(info.value)


def test_archive_settings_and_defaults(tmp_path: Path) -> None:
    config = tmp_path / "sisec.toml"
    config.write_text('[archive]\npath = "arch"\n')
    a = RunConfig.load(config).archive
    assert a is not None and a.path == tmp_path / "arch"
    assert (a.flush_rows, a.flush_interval_s, a.key_file, a.retention_days) == (
        100_000,
        60.0,
        None,
        None,
    )
    assert a.fsync_interval_s == 1.0
    config.write_text('[archive]\npath = "arch"\nfsync_interval_s = 0\n')
    assert RunConfig.load(config).archive.fsync_interval_s == 0.0  # type: ignore[union-attr]
    config.write_text('[archive]\npath = "arch"\n')
    assert RunConfig.load(tmp_path / "sisec.toml").archive == a
    config.write_text("")
    assert RunConfig.load(config).archive is None


def _batch_lines(n: int, prefix: str = "c-", day: str = "2026-11-23") -> list[bytes]:
    return [
        orjson.dumps(
            {
                "type": "call",
                "event_id": f"{prefix}{i}",
                "ts": f"{day}T12:00:00Z",
                "call_id": "K",
                "line": "123",
                "status": "received",
            }
        )
        for i in range(n)
    ]


def _batch(n: int, day: str = "2026-11-23") -> ArchiveBatch:
    engine = Engine()
    lines = _batch_lines(n, day=day)
    result, _, archived = engine.process_routed(lines, archive=True)
    assert result.accepted == n
    return ArchiveBatch("call", archived["call"], n)


def test_a_failed_write_raises_and_keeps_the_rows(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    blocker = root / "source=call"
    blocker.write_text("a file where the source folder should be")
    writer = ArchiveWriter(root)
    writer.add(_batch(3))
    writer.add(_batch(2, "2026-11-24"))
    with pytest.raises(
        ArchiveWriteError, match=r"cannot write .*source=call.*they stay in the spool"
    ):
        writer.flush()
    assert writer.pending_rows == 5, "nothing dropped"
    assert list((root / "_spool" / "worker-0").glob("seg-*/call.ndjson")), "still spooled"
    blocker.unlink()
    written = writer.flush()
    assert writer.pending_rows == 0 and len(written) == 2
    assert sum(pl.read_parquet(p).height for p in written) == 5
    writer.close()
    assert not (root / "_spool").exists(), "the spool goes once it is archived"


def test_an_unwritable_spool_fails_the_batch(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    root.write_text("a file where the archive folder should be")
    writer = ArchiveWriter(root)
    with pytest.raises(ArchiveWriteError, match=r"cannot write the spool folder .*archive"):
        writer.add(_batch(3))


def test_a_failed_write_stops_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "archive").write_text("not a folder")
    config = tmp_path / "sisec.toml"
    config.write_text('[archive]\npath = "archive"\n[metrics]\nport = 0\n')
    events = tmp_path / "e.jsonl"
    events.write_bytes(
        b"".join(
            orjson.dumps(
                {
                    "type": "call",
                    "event_id": f"c-{i}",
                    "ts": 5,
                    "call_id": "K",
                    "line": "123",
                    "status": "received",
                }
            )
            + b"\n"
            for i in range(10)
        )
    )
    code = main(["run", "-c", str(config), "--input", str(events), "--out", str(tmp_path / "o")])
    assert code == 1
    assert "cannot write" in caplog.text and "archive" in caplog.text


def test_an_idle_buffer_is_written_after_the_interval(tmp_path: Path) -> None:
    sink = ArchiveSink(tmp_path, flush_rows=1000, flush_interval_s=0.3)
    part = sink.build("archive", 3, 4)
    part.write_batch([_batch(2)])
    assert not list(tmp_path.rglob("*.parquet")), "buffered"
    deadline = time.monotonic() + 10
    while not list(tmp_path.rglob("*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    (f,) = tmp_path.rglob("*.parquet")
    assert f.name.startswith("part-3-") and pl.read_parquet(f).height == 2
    part.write_batch([_batch(1)])
    part.close()
    assert sink.rows_written == 3 and sink.files_written == 2


def test_batches_go_on_while_the_timer_flushes(tmp_path: Path) -> None:
    """The timer's flushes swap the spool's segment under the appends: every row
    is written once, none lost or doubled, and the spool is gone at the end."""
    engine = Engine()
    sink = ArchiveSink(tmp_path, flush_rows=10**6, flush_interval_s=0.02)
    part = sink.build("archive", 0, 1)
    want = []
    for i in range(300):
        lines = _batch_lines(7, f"t{i}-")
        _, _, archived = engine.process_routed(lines, archive=True)
        part.write_batch([ArchiveBatch("call", archived["call"], 7)])
        want += [f"t{i}-{j}" for j in range(7)]
        time.sleep(0.002)
    part.close()
    files = sorted(tmp_path.rglob("*.parquet"))
    assert len(files) > 5, "the timer flushed while batches came"
    got = pl.read_parquet(files)["event_id"].to_list()
    assert sorted(got) == sorted(want)
    assert sink.rows_written == len(want) and not (tmp_path / "_spool").exists()


def test_flush_rows_writes_without_waiting(tmp_path: Path) -> None:
    sink = ArchiveSink(tmp_path, flush_rows=5, flush_interval_s=3600, fsync_interval_s=0)
    part = sink.build("archive", 0, 1)
    part.write_batch([_batch(3)])
    assert not list(tmp_path.rglob("*.parquet"))
    part.write_batch([_batch(3)])
    assert sum(pl.read_parquet(f).height for f in tmp_path.rglob("*.parquet")) == 6
    part.close()


def test_kafka_run_archives_what_it_reads(broker: BrokerSettings, tmp_path: Path) -> None:
    """``sisec-stream run`` against the broker: every read once, every alert."""
    from conftest import plate_read
    from test_kafka_flow import consume_all
    from test_kafka_run import _config

    path, tag = _config(tmp_path, broker, source="stop_at_end = true", archive='path = "archive"')
    reads = [plate_read(f"k-{i}", "ABC-123" if i % 50 == 0 else f"QQQ{i:03d}") for i in range(300)]
    captures = tmp_path / "plate_reads.jsonl"
    captures.write_bytes(b"\n".join([*reads, b"[1]"]) + b"\n")
    assert main(["produce", "-c", str(path), "--no-progress", str(captures)]) == 0
    assert main(["run", "-c", str(path), "-w", "2"]) == 0
    got = pl.read_parquet(sorted((tmp_path / "archive").glob("source=plate_read/*/*.parquet")))
    assert sorted(got["event_id"]) == sorted(f"k-{i}" for i in range(300))
    assert got.filter(pl.col("hit"))["plate"].to_list() == ["ABC123"] * 6
    alerts = consume_all(broker.bootstrap, f"{tag}.alerts")
    archived = pl.read_parquet(sorted((tmp_path / "archive").glob("source=alert/*/*.parquet")))
    assert Counter(archived["document"]) == Counter(v.decode() for v, _ in alerts)


def test_hit_flag_counts_every_alert_candidate() -> None:
    """``hit``: a watchlist hit (even one a zone filter drops) or a restricted-zone
    alert; not a plate on an allow list, nor a read that matched nothing."""
    from test_engine_zones import _engine, _read

    reads = {
        ("C-PLAIN", "ABC123"): True,  # on stolen_vehicle
        ("C-HOSP", "ABC123"): True,  # hit dropped: the hospital zone takes amber_alert only
        ("C-PRISON", "XYZ999"): True,  # restricted zone, not allowed
        ("C-PRISON", "JKL012"): False,  # on the prison's allow list
        ("C-PLAIN", "XYZ999"): False,  # nothing
        ("C-PLAIN", "JKL012"): False,  # an allow list is not a watchlist
    }
    engine = _engine()
    result, _, archived = engine.process_routed(
        [_read(camera, plate) for camera, plate in reads], archive=True
    )
    assert result.dropped_hits == 1
    got = events_frame("plate_read", archived["plate_read"])
    assert dict(zip(zip(got["camera_id"], got["plate"], strict=True), got["hit"], strict=True)) == (
        reads
    )


class _FailingStep:
    """The real engine step, failing the flow at its third batch."""

    def __init__(self, engine: Engine) -> None:
        self.step = EngineStep(engine, archive=True)
        self.calls = 0

    def __call__(self, batch: list[bytes]) -> list[StepItem]:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("another step failed")
        return self.step(batch)


def test_buffered_rows_are_written_when_another_step_fails_the_flow(tmp_path: Path) -> None:
    engine = Engine()
    events = [line for i in range(4) for line in _batch_lines(10, f"b{i}-")]
    sink = ArchiveSink(tmp_path / "archive", flush_rows=1000, flush_interval_s=3600)
    flow = build_alerts_flow(
        TestingSource(events, batch_size=10),
        engine,
        TestingSink([]),
        TestingSink([]),
        step=_FailingStep(engine),
        archive_sink=sink,
    )
    with pytest.raises(Exception, match=r'mapper` in step "sisec_alerts\.engine"'):
        run_flow(flow)
    # Bytewax closed the partition on the way down: what was buffered is written.
    got = pl.read_parquet(sorted((tmp_path / "archive").rglob("*.parquet")))
    assert sorted(got["event_id"]) == sorted(f"b{i}-{j}" for i in range(2) for j in range(10))
    assert sink.close() == 0, "nothing left for the safety net"


def test_closing_after_a_failure_logs_the_rows_it_cannot_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    (root / "source=call").write_text("not a folder")
    sink = ArchiveSink(root, flush_rows=1000)
    sink.build("archive", 0, 1).write_batch([_batch(4)])
    assert sink.close() == 4
    assert "cannot write" in caplog.text and "4 rows not archived yet" in caplog.text
    assert "they stay in the spool" in caplog.text
    # The next start archives them.
    (root / "source=call").unlink()
    again = ArchiveSink(root, flush_rows=1000)
    again.build("archive", 0, 1).close()
    got = pl.read_parquet(sorted(root.glob("source=call/*/*.parquet")))
    assert sorted(got["event_id"]) == [f"c-{i}" for i in range(4)]
    assert again.rows_recovered == 4 and not (root / "_spool").exists()
