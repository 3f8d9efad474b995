"""The public Watchlist API: loading (CSV, Parquet, polars), matching, live updates."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import orjson
import polars as pl
import pytest

from conftest import plate_read
from sisec_stream import Engine, Watchlist, WatchlistError
from sisec_stream.watchlist import Hit, ListSettings, WatchlistConfig

FULL_CSV = b"""entry_id,plate,list,priority,valid_from,expires_at,region,make,color,match,note
SV-1,ABC123,stolen_vehicle,,,,CO,Mazda,rojo,,hurto 2026-11-20
SP-1,XYZ12D,stolen_plate,3,2026-11-01,2026-12-01,,,,exact,
W-1,AB*99*,wanted,1,,,,,,,testigo: empieza por AB
AA-1,KLM456,amber_alert,,2026-11-23T06:00:00-05:00,,,,,,
"""
AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_every_column_loads() -> None:
    wl = Watchlist.from_csv_bytes(FULL_CSV, "full.csv")
    assert len(wl) == 4
    assert wl.load_report is not None and wl.load_report.loaded == 4
    (hit,) = wl.match("ABC123", at=AT, region="CO-ANT")
    assert (hit.entry_id, hit.kind, hit.priority) == ("SV-1", "exact", 2)
    assert wl.match("ABC123", at=AT, region="MX") == []
    assert wl.match("XYZ12D", at=AT)[0].priority == 3
    assert wl.match("XYZ12D", at=datetime(2026, 12, 2, tzinfo=UTC)) == [], "expired"
    assert wl.match("XY2120", at=AT) == [], "exact-only entry"
    (pattern,) = wl.match("ABC991", at=AT)
    assert (pattern.kind, pattern.plate, pattern.entry_id) == ("pattern", "AB*99*", "W-1")
    assert wl.match("KLM456", at="2026-11-23T10:59:59+00:00") == [], "not yet valid"
    assert wl.match("KLM456", at="2026-11-23T11:00:00+00:00")[0].priority == 1


def test_look_alike_hits_say_how_and_how_sure() -> None:
    wl = Watchlist.from_csv_bytes(b"entry_id,plate,list\nSV-1,ABC123,stolen_vehicle\n")
    assert wl.match("A8C123", at=AT) == [
        Hit(
            "SV-1",
            "stolen_vehicle",
            "ABC123",
            "A8C123",
            "lookalike",
            0.95,
            2,
            ((2, "8", "B"),),
        )
    ]
    (edge,) = wl.match("BC123", at=AT)
    assert (edge.kind, edge.edge) == ("edge", "dropped_first")
    with pytest.raises(ValueError, match="2 to 10 letters"):
        wl.match("A", at=AT)


def test_match_batch_agrees_with_match() -> None:
    wl = Watchlist.from_csv_bytes(FULL_CSV)
    plates = ["ABC123", "A8C123", "nope!", "XYZ12D", "QQQ111", "ABC991"]
    batch = wl.match_batch(plates, at=AT)
    assert batch[2] == []
    for p, hits in zip(plates, batch, strict=True):
        if p != "nope!":
            assert hits == wl.match(p, at=AT), p


def test_bad_rows_fail_with_line_or_are_skipped(tmp_path: Path) -> None:
    bad = b"plate,list,priority\nABC123,sv,\nA,sv,\nXYZ123,sv,9\n"
    with pytest.raises(WatchlistError, match=r"w\.csv line 3: plate \"A\"") as info:
        Watchlist.from_csv_bytes(bad, "w.csv")
    assert info.value.line == 3
    wl = Watchlist.from_csv_bytes(bad, "w.csv", skip_bad_rows=True)
    assert len(wl) == 1
    assert wl.load_report is not None
    assert [line for line, _ in wl.load_report.skipped] == [3, 4]
    with pytest.raises(WatchlistError, match="cannot read the watchlist"):
        Watchlist.from_csv(tmp_path / "missing.csv")


def test_parquet_and_polars(tmp_path: Path) -> None:
    df = pl.DataFrame(
        {
            "entry_id": ["SV-1", "SV-2"],
            "plate": ["abc-123", "XYZ987"],
            "list": ["stolen_vehicle", "stolen_vehicle"],
            "priority": [None, 1],
            "expires_at": [datetime(2026, 12, 1, tzinfo=UTC), None],
        }
    )
    path = tmp_path / "hot.parquet"
    df.write_parquet(path)
    wl = Watchlist.from_parquet(path)
    assert [h.entry_id for h in wl.match("ABC123", at=AT)] == ["SV-1"]
    assert wl.match("ABC123", at=datetime(2026, 12, 1, tzinfo=UTC)) == []
    assert wl.match("XYZ987", at=AT)[0].priority == 1
    broken = pl.DataFrame({"plate": ["ABC123", "A"], "list": ["sv", "sv"]})
    with pytest.raises(WatchlistError, match=r"<dataframe> row 2: plate \"A\""):
        Watchlist.from_polars(broken)
    with pytest.raises(WatchlistError, match="cannot read the Parquet watchlist"):
        Watchlist.from_parquet(tmp_path / "missing.parquet")


def test_config_lists_and_allow_lists() -> None:
    config = WatchlistConfig(
        lists={
            "flota": ListSettings(kind="allow"),
            "stolen_plate": ListSettings(match="exact", priority=4),
        },
        max_substitutions=2,
    )
    wl = Watchlist.from_csv_bytes(
        b"plate,list\nABC123,flota\nXYZ123,stolen_plate\nKLM456,stolen_vehicle\n",
        config=config,
    )
    assert wl.match("ABC123", at=AT) == []
    assert wl.allows("flota", "abc-123", at=AT)
    assert not wl.allows("flota", "KLM456", at=AT)
    assert wl.match("XYZ123", at=AT)[0].priority == 4
    assert wl.match("XY2123", at=AT) == []
    assert [h.kind for h in wl.match("K1M4S6", at=AT)] == ["lookalike"], "two substitutions"
    with pytest.raises(ValueError, match="0, 1 or 2"):
        Watchlist(WatchlistConfig(max_substitutions=3))
    with pytest.raises(ValueError, match="confusion group"):
        Watchlist(WatchlistConfig(confusion=["0"]))


def test_upsert_and_remove_reach_a_running_engine() -> None:
    wl = Watchlist()
    engine = Engine(watchlist=wl)
    read = plate_read("pr-1", "QWE-321")
    assert engine.process([read]).alerts == []
    wl.upsert("W-9", "QWE321", "wanted", priority=1, note="orden de captura")
    (alert,) = engine.process([read]).alerts
    assert alert.priority == 1
    assert alert.to_dict()["details"]["note"] == "orden de captura"
    wl.upsert("W-9", "QWE321", "wanted", expires_at="2026-11-23T12:00:00+00:00")
    assert engine.process([read]).alerts == [], "the read (07:00 -05:00) is after expiry"
    wl.upsert("W-9", "QWE321", "wanted")
    assert wl.remove("W-9") and not wl.remove("W-9")
    assert engine.process([read]).alerts == []
    with pytest.raises(WatchlistError, match="priority 7"):
        wl.upsert("X", "ABC123", "sv", priority=7)
    with pytest.raises(WatchlistError, match="never be active"):
        wl.upsert("X", "ABC123", "sv", valid_from=AT, expires_at=AT)
    with pytest.raises(ValueError, match="no UTC offset"):
        wl.upsert("X", "ABC123", "sv", valid_from=datetime(2026, 1, 1))


def test_updates_while_batches_run_in_other_threads() -> None:
    """Writers and readers interleave; every batch sees a consistent list."""
    wl = Watchlist.from_rows(
        [{"entry_id": f"E{i}", "plate": f"Q{i:05d}", "list": "sv"} for i in range(2000)]
    )
    engine = Engine(watchlist=wl)
    reads = [plate_read(f"r{i}", f"Q{i:05d}") for i in range(2000)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def match_forever() -> None:
        try:
            while not stop.is_set():
                n = len(engine.process(reads).alerts)
                assert 1000 <= n <= 2000, n
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=match_forever) for _ in range(2)]
    for t in threads:
        t.start()
    for round_ in range(3):
        for i in range(0, 2000, 2):
            wl.remove(f"E{i}")
        for i in range(0, 2000, 2):
            wl.upsert(f"E{i}", f"Q{i:05d}", "sv", note=str(round_))
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert len(engine.process(reads).alerts) == 2000


def test_reload_swaps_the_whole_list(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_bytes(b"entry_id,plate,list\nA,ABC123,sv\nB,XYZ987,sv\n")
    wl = Watchlist.from_csv(path)
    engine = Engine(watchlist=wl)
    path.write_bytes(b"entry_id,plate,list\nB,XYZ987,sv\nC,KLM456,sv\n")
    report = wl.reload(path)
    assert report.loaded == 2 and len(wl) == 2
    hits = engine.process([plate_read("1", "ABC123"), plate_read("2", "KLM456")]).alerts
    assert [orjson.loads(a.json)["details"]["entry_id"] for a in hits] == ["C"]
    path.write_bytes(b"entry_id,plate,list\nD,A,sv\n")
    with pytest.raises(WatchlistError, match="line 2"):
        wl.reload(path)
    assert len(wl) == 2, "a bad file leaves the list as it was"


def test_alert_explains_a_look_alike_hit() -> None:
    wl = Watchlist.from_csv_bytes(b"entry_id,plate,list\nSV-1,ABC123,stolen_vehicle\n")
    (alert,) = Engine(watchlist=wl).process([plate_read("pr-1", "A8C-123")]).alerts
    doc = alert.to_dict()
    assert doc["details"]["match"] == {
        "kind": "lookalike",
        "score": 0.95,
        "substitutions": [{"position": 2, "read": "8", "listed": "B"}],
    }
    assert "look-alike match (8 read for B at position 2)" in doc["reasons"][1]
    assert alert.priority == 2
