"""Engine behaviour through the public Python API."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from conftest import button, call, plate_read
from sisec_stream import (
    REJECT_REASONS,
    ConfigError,
    Engine,
    EngineConfig,
    SisecError,
    Watchlist,
    WatchlistError,
)


def test_engine_needs_no_arguments() -> None:
    result = Engine().process([plate_read("r1", "ABC123")])
    assert (result.n_in, result.accepted, result.rejected) == (1, 1, 0)
    assert result.alerts == []


def test_exact_hit_on_every_matching_entry(engine: Engine) -> None:
    result = engine.process([plate_read("r1", "abc-123")], now_ms=1795435201000)
    hits = sorted((a.priority, a.to_dict()["details"]["list"]) for a in result.alerts)
    assert hits == [(1, "amber_alert"), (2, "stolen_vehicle")]
    doc = result.alerts[0].to_dict()
    assert doc["details"]["read_plate"] == "abc-123"
    assert doc["details"]["listed_plate"] == "ABC123"
    assert doc["details"]["match"] == {"kind": "exact", "score": 0.99}
    assert doc["events"] == ["r1"]
    assert doc["location"] == {"lat": 6.2442, "lon": -75.5812}
    assert doc["event_time"] == "2026-11-23T12:00:00.250Z"
    assert doc["emitted_at"] == "2026-11-23T12:00:01.000Z"
    assert all(isinstance(r, str) and r for r in doc["reasons"])


def test_entry_priority_overrides_list_priority(engine: Engine) -> None:
    (alert,) = engine.process([plate_read("r1", "KLM 456 A")]).alerts
    assert alert.priority == 1
    assert "entry W-1 is set to P1" in alert.to_dict()["reasons"]


def test_near_miss_is_not_an_exact_hit(engine: Engine) -> None:
    assert engine.process([plate_read("r1", "ABC124"), plate_read("r2", "AB123")]).alerts == []


def test_press_alerts_but_heartbeats_and_calls_do_not(engine: Engine) -> None:
    events = [button("b1"), button("b2", "heartbeat"), button("b3", "low_battery"), call("c1")]
    result = engine.process(events)
    assert [a.kind for a in result.alerts] == ["button_press"]
    assert result.alerts[0].priority == 1
    assert result.accepted_by_source == {"plate_read": 0, "button_press": 3, "call": 1}


def test_button_priority_by_device_kind(engine: Engine) -> None:
    result = engine.process(
        [button("b1", kind="community_alarm"), button("b2", kind="school_link")]
    )
    assert sorted(a.priority for a in result.alerts) == [1, 2]


def test_mixed_batch_balances_and_rejects_point_at_inputs(engine: Engine) -> None:
    bad = [b"", b"{", b"[1]", b'{"type":"nope"}', plate_read("r9", "A"), b"\xff\xfe"]
    good = [plate_read("r1", "ABC123"), button("b1"), call("c1")]
    batch = bad + good
    random.Random(3).shuffle(batch)
    result = engine.process(batch)
    assert result.accepted + result.rejected == result.n_in == len(batch)
    assert result.rejected == len(bad)
    for reject in result.rejects:
        assert batch[reject.index] is reject.raw
        assert reject.reason in REJECT_REASONS
        assert reject.detail
    reasons = sorted(r.reason for r in result.rejects)
    assert reasons == sorted(
        ["invalid_json", "invalid_json", "not_object", "unknown_type", "bad_value", "invalid_json"]
    )


def test_reject_keeps_what_it_could_read(engine: Engine) -> None:
    (reject,) = engine.process([plate_read("r1", "A")]).rejects
    assert (reject.reason, reject.field, reject.event_id, reject.source) == (
        "bad_value",
        "plate",
        "r1",
        "plate_read",
    )


def test_too_large_uses_the_configured_limit() -> None:
    engine = Engine(EngineConfig(max_event_bytes=300))
    big = plate_read("r1", "ABC123", image_ref="x" * 300)
    (reject,) = engine.process([big]).rejects
    assert reject.reason == "too_large"


def test_random_garbage_never_raises(engine: Engine) -> None:
    rng = random.Random(11)
    seeds = [plate_read("r1", "ABC123"), button("b1"), call("c1")]
    batch = []
    for _ in range(20_000):
        b = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            op = rng.random()
            if op < 0.4:
                b[i] = rng.randrange(256)
            elif op < 0.7:
                del b[i]
            else:
                b.insert(i, rng.choice(b'{}[]",:0\\'))
        batch.append(bytes(b))
    result = engine.process(batch)
    assert result.accepted + result.rejected == len(batch)
    assert result.rejected > 0
    assert {r.reason for r in result.rejects} <= set(REJECT_REASONS)


def test_empty_batch(engine: Engine) -> None:
    result = engine.process([])
    assert (result.n_in, result.accepted, result.rejected, result.alerts) == (0, 0, 0, [])


def test_non_bytes_item_is_a_programming_error(engine: Engine) -> None:
    with pytest.raises(TypeError, match=r"events\[1\] must be bytes, not str"):
        engine.process([plate_read("r1", "ABC123"), "not bytes"])  # type: ignore[list-item]


def test_alert_ids_are_deterministic_and_distinct(engine: Engine) -> None:
    events = [plate_read("r1", "ABC123"), plate_read("r2", "ABC123")]
    first = [a.alert_id for a in engine.process(events, now_ms=1).alerts]
    second = [a.alert_id for a in engine.process(events, now_ms=2).alerts]
    assert first == second
    assert len(set(first)) == 4


def test_threads_share_one_engine(engine: Engine) -> None:
    batch = [
        plate_read(f"r{i}", "ABC123" if i % 100 == 0 else f"QQQ{i % 1000:03d}")
        for i in range(20_000)
    ]
    expected = len(engine.process(batch).alerts)
    results: list[int] = []

    def work() -> None:
        for _ in range(5):
            results.append(len(engine.process(batch).alerts))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 20
    assert expected == 400


def test_bad_config_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"priority\.lists\.wanted") as info:
        Engine(EngineConfig(priority={"lists": {"wanted": 0}}))
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, SisecError)
    assert info.value.key == "priority.lists.wanted"
    with pytest.raises(ConfigError, match=r"priority\.devices\.siren"):
        Engine(EngineConfig(priority={"devices": {"siren": 1}}))


def test_watchlist_errors_name_file_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "hot.csv"
    path.write_text("plate,list,priority\nABC123,stolen_vehicle,\nXYZ999,wanted,9\n")
    with pytest.raises(WatchlistError) as info:
        Watchlist.from_csv(path)
    err = info.value
    assert (err.source, err.line) == (str(path), 3)
    assert str(err).startswith(f"{path} line 3: priority")
    assert "1, 2, 3 or 4" in str(err)
    assert isinstance(err, ValueError)


def test_missing_watchlist_file(tmp_path: Path) -> None:
    with pytest.raises(WatchlistError, match="cannot read the watchlist"):
        Watchlist.from_csv(tmp_path / "nope.csv")


def test_watchlist_summary(watchlist: Watchlist) -> None:
    assert len(watchlist) == 4
    assert watchlist.counts_by_list() == {
        "stolen_vehicle": 1,
        "amber_alert": 1,
        "stolen_plate": 1,
        "wanted": 1,
    }


def test_watchlist_from_rows_uses_the_file_checks() -> None:
    wl = Watchlist.from_rows([{"plate": "abc-123", "list": "wanted", "priority": "1"}])
    (alert,) = Engine(watchlist=wl).process([plate_read("r1", "ABC123")]).alerts
    assert alert.priority == 1
    with pytest.raises(WatchlistError, match=r"^hot line 3: plate"):
        Watchlist.from_rows(
            [{"plate": "ABC123", "list": "wanted"}, {"plate": "A", "list": "wanted"}],
            source="hot",
        )
    assert len(Watchlist.from_rows([])) == 0
