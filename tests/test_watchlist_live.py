"""Live watchlist updates while matching runs: the compacted watchlist topic
(:class:`WatchlistFeed`), file reloads (:class:`WatchlistReloader`), their
configuration, and ``sisec-stream run`` taking topic updates mid-flow.

Everything Kafka runs against the session's real broker, each test on topics of
its own. Waits are bounded polls of a condition (counters, metrics), never
fixed sleeps standing in for one.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from conftest import WATCHLIST_CSV, plate_read
from sisec_stream import Engine, Watchlist
from sisec_stream.cli import main
from sisec_stream.errors import ConfigError
from sisec_stream.kafka import BrokerSettings, TopicSpec, create_topics
from sisec_stream.kafka.testing import free_port_pair
from sisec_stream.kafka.watchlist_feed import (
    EntryFields,
    WatchlistFeed,
    decode_entry,
    encode_entry,
    parse_entry,
    publish_entry,
)
from sisec_stream.metrics import EngineMetrics
from sisec_stream.runconfig import RunConfig
from sisec_stream.runner import RunOptions, WatchlistReloader, run
from test_kafka_flow import consume_all

FEED_LOG = "sisec_stream.kafka.watchlist_feed"
#: The conftest reads are at 2026-11-23T12:00:00.250Z.
READ_TS = "2026-11-23T07:00:00.250-05:00"


def until(cond: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Poll ``cond`` (bounded) until it holds; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


def hits(engine: Engine, plate: str, event_id: str = "r-1") -> list[str]:
    """Entry ids of the alerts one read of ``plate`` raises (sorted)."""
    alerts = engine.process([plate_read(event_id, plate)]).alerts
    return sorted(orjson.loads(a.json)["details"]["entry_id"] for a in alerts)


def watchlist_topic(broker: BrokerSettings) -> str:
    """A new compacted one-partition topic, as ``sisec-stream kafka topics`` makes it."""
    name = f"wl-{uuid.uuid4().hex[:8]}"
    create_topics(broker.bootstrap, [TopicSpec(name, 1, {"cleanup.policy": "compact"})])
    return name


def producer(broker: BrokerSettings) -> Producer:
    return Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})


# -- message format (no broker) --------------------------------------------------------


def test_entry_messages_read_like_csv_rows() -> None:
    fields = parse_entry(
        {
            "plate": " abc-123 ",
            "list": "wanted",
            "priority": "1",
            "valid_from": "2026-11-23",
            "expires_at": 1795435200000,
            "region": "",
            "match": "exact",
            "note": "orden",
        }
    )
    assert fields == EntryFields(
        plate="abc-123",
        list="wanted",
        priority=1,
        valid_from=1795392000000,
        expires_at=1795435200000,
        region=None,
        match="exact",
        note="orden",
    )
    assert parse_entry({"plate": "A1", "list": "l", "expires_at": "1795435200000"}).expires_at == (
        1795435200000
    )
    assert parse_entry({"plate": "A1", "list": "l", "valid_from": "2026-11-23T12:00:00Z"}) == (
        EntryFields("A1", "l", valid_from=1795435200000)
    )
    fields, unknown = decode_entry(b'{"plate":"A1","list":"l","updated_by":"ops","entry_id":"x"}')
    assert fields == EntryFields("A1", "l") and unknown == ["updated_by"]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"list": "wanted"}', "'plate' is missing"),
        (b'{"plate": "ABC123", "list": "  "}', "'list' is missing or empty"),
        (b'{"plate": 123, "list": "wanted"}', "'plate' must be a string"),
        (b'{"plate": "A1", "list": "l", "priority": 1.5}', "priority 1.5"),
        (b'{"plate": "A1", "list": "l", "priority": true}', "priority True"),
        (b'{"plate": "A1", "list": "l", "match": "fuzzy"}', "exact or lookalike"),
        (b'{"plate": "A1", "list": "l", "expires_at": "2026-11-23T12:00"}', "with an offset"),
        (b'{"plate": "A1", "list": "l", "valid_from": "tomorrow"}', "valid_from 'tomorrow'"),
    ],
)
def test_malformed_entry_messages_say_why(value: bytes, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        decode_entry(value)


def test_encode_entry_checks_before_anything_is_sent() -> None:
    from datetime import UTC, datetime

    value = encode_entry(
        {"plate": "QRT482", "list": "wanted", "expires_at": datetime(2026, 11, 23, tzinfo=UTC)}
    )
    assert orjson.loads(value) == {
        "plate": "QRT482",
        "list": "wanted",
        "expires_at": "2026-11-23T00:00:00+00:00",
    }
    with pytest.raises(ValueError, match="unknown field 'expires'"):
        encode_entry({"plate": "QRT482", "list": "wanted", "expires": "2026-11-23"})
    with pytest.raises(ValueError, match="'plate' is missing"):
        encode_entry({"list": "wanted"})
    with pytest.raises(ValueError, match="no UTC offset"):
        encode_entry({"plate": "A1", "list": "l", "valid_from": datetime(2026, 1, 1)})


# -- the feed against the broker ---------------------------------------------------------


def test_feed_applies_upserts_replacements_tombstones_and_skips_bad_messages(
    broker: BrokerSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=FEED_LOG)
    topic = watchlist_topic(broker)
    p = producer(broker)
    # Already in the topic before the feed starts (offsets 0..10):
    publish_entry(p, topic, "A", {"plate": "AAA111", "list": "wanted"}, flush_timeout_s=None)
    publish_entry(p, topic, "B", {"plate": "BBB222", "list": "sv"}, flush_timeout_s=None)
    publish_entry(p, topic, "B", {"plate": "BBB333", "list": "sv"}, flush_timeout_s=None)  # 2
    publish_entry(p, topic, "C", {"plate": "CCC444", "list": "sv"}, flush_timeout_s=None)
    publish_entry(p, topic, "C", None, flush_timeout_s=None)  # 4: tombstone
    # (A compacted topic refuses messages without a key, so that case cannot occur.)
    raw = [
        (b"A", b"{not json"),  # 5: A keeps its entry
        (b"D", b'{"list": "sv"}'),  # 6: no plate
        (b"E", b'{"plate": "EEE555", "list": "sv", "priority": 7}'),  # 7: the core refuses
        (b"\xff\xfe", b'{"plate": "GGG777", "list": "sv"}'),  # 8: key not UTF-8
        (b" ", b'{"plate": "GGG777", "list": "sv"}'),  # 9: blank key
        (b"H", b'{"plate": "HHH888", "list": "sv", "who": "ops"}'),  # 10: unknown field
    ]
    failed: list[object] = []
    for key, value in raw:
        p.produce(topic, key=key, value=value, on_delivery=lambda e, _m: failed.append(e))
    assert p.flush(30) == 0 and failed == [None] * len(raw)

    wl = Watchlist()
    engine = Engine(watchlist=wl)
    updates: list[str] = []
    entries: list[dict[str, int]] = []
    feed = WatchlistFeed(
        wl, broker.bootstrap, topic, on_update=updates.append, on_entries=entries.append
    )
    with feed:
        assert feed.wait_caught_up(30), "the topic's 11 messages must be read"
        stats = feed.stats()
        assert (stats.upserts, stats.removes, stats.invalid) == (5, 1, 5)
        assert stats.last_offset == 10 and stats.offsets == {0: 10}
        assert sorted(updates) == sorted(["upsert"] * 5 + ["remove"] + ["invalid"] * 5)
        assert hits(engine, "AAA111") == ["A"], "a malformed message keeps the old entry"
        assert hits(engine, "BBB333") == ["B"] and hits(engine, "BBB222") == [], "replaced"
        assert hits(engine, "CCC444") == [], "tombstone"
        assert hits(engine, "EEE555") == [] and hits(engine, "HHH888") == ["H"]
        assert wl.counts_by_list() == {"wanted": 1, "sv": 2}

        # While it runs: a new entry, then a deletion, each effective on the next batch.
        publish_entry(p, topic, "N", {"plate": "NNN999", "list": "wanted", "priority": 1})
        until(lambda: feed.stats().upserts == 6, "the live upsert")
        assert hits(engine, "NNN999") == ["N"]
        publish_entry(p, topic, "A", None)
        until(lambda: feed.stats().removes == 2, "the live tombstone")
        assert hits(engine, "AAA111") == []
        until(lambda: bool(entries) and entries[-1] == {"wanted": 1, "sv": 2}, "entry counts")
        assert feed.stats().last_offset == 12
    assert not feed.running

    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 5
    assert f"{topic}[0] offset 5 (key 'A')" in skipped[0] and "not JSON" in skipped[0]
    assert "offset 6" in skipped[1] and "'plate' is missing" in skipped[1]
    assert "offset 7" in skipped[2] and "priority 7" in skipped[2]
    assert "offset 8" in skipped[3] and "not UTF-8" in skipped[3]
    assert "offset 9 (key ' ')" in skipped[4] and "empty key" in skipped[4]
    assert any("unknown field(s) who" in r.getMessage() for r in caplog.records)


def test_wait_caught_up_on_an_empty_topic_and_a_missing_one(broker: BrokerSettings) -> None:
    with WatchlistFeed(Watchlist(), broker.bootstrap, watchlist_topic(broker)) as feed:
        assert feed.wait_caught_up(10) and feed.stats().last_offset is None
    missing = f"no-such-{uuid.uuid4().hex[:6]}"
    feed = WatchlistFeed(Watchlist(), broker.bootstrap, missing)
    with pytest.raises(ConfigError, match=rf"{missing}' does not exist.*updates = false"):
        feed.start(timeout_s=10)
    assert not feed.running and not feed.caught_up


def test_catching_up_reads_everything_that_was_there_at_start(broker: BrokerSettings) -> None:
    topic = watchlist_topic(broker)
    p = producer(broker)
    for i in range(3000):
        publish_entry(p, topic, f"E{i}", {"plate": f"Q{i:05d}", "list": "sv"}, flush_timeout_s=None)
    assert p.flush(30) == 0
    wl = Watchlist()
    with WatchlistFeed(wl, broker.bootstrap, topic, batch_size=100) as feed:
        assert feed.wait_caught_up(60)
        # Caught up means every message present at start is applied, not just some.
        assert len(wl) == 3000 and feed.stats().upserts == 3000


def test_expiry_and_valid_from_are_judged_at_the_event_time(broker: BrokerSettings) -> None:
    """Entries from the topic are active by the read's ``ts``, not by the clock."""
    topic = watchlist_topic(broker)
    p = producer(broker)
    entries: dict[str, dict[str, object]] = {
        "EXPIRED": {"plate": "EXP111", "list": "wanted", "expires_at": "2026-11-23T11:59:59Z"},
        "ACTIVE": {
            "plate": "ACT222",
            "list": "wanted",
            "valid_from": "2026-11-23T11:00:00Z",
            "expires_at": 1795438800000,  # 13:00Z, epoch ms
        },
        "LATER": {"plate": "LAT333", "list": "wanted", "valid_from": "2026-11-23T12:00:01Z"},
    }
    for entry_id, fields in entries.items():
        publish_entry(p, topic, entry_id, fields, flush_timeout_s=None)
    assert p.flush(30) == 0
    wl = Watchlist()
    engine = Engine(watchlist=wl)
    with WatchlistFeed(wl, broker.bootstrap, topic) as feed:
        assert feed.wait_caught_up(30) and len(wl) == 3
        assert hits(engine, "EXP111") == [], "expired before the read's ts"
        assert hits(engine, "ACT222") == ["ACTIVE"]
        assert hits(engine, "LAT333") == [], "not yet valid at the read's ts"
        # The same plates read at another event time: the window moves with ts.
        late = plate_read("r-2", "LAT333", ts="2026-11-23T12:30:00Z")
        assert [a.to_dict()["details"]["entry_id"] for a in engine.process([late]).alerts] == [
            "LATER"
        ]
        early = plate_read("r-3", "EXP111", ts="2026-11-23T11:00:00Z")
        assert len(engine.process([early]).alerts) == 1


# -- file reloads -----------------------------------------------------------------------


def _swap(path: Path, data: bytes) -> None:
    """Replace a watched file the way docs/run.md says to: write aside, rename in
    (a reload must never see it half written, however loaded the machine is)."""
    aside = path.with_name(path.name + ".new")
    aside.write_bytes(data)
    os.replace(aside, path)


def test_file_reload_takes_effect_and_a_bad_file_keeps_the_list(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "watchlist.csv"
    path.write_bytes(b"entry_id,plate,list\nOLD,ABC123,sv\n")
    wl = Watchlist.from_csv(path)
    engine = Engine(watchlist=wl)
    metrics = EngineMetrics()
    reloader = WatchlistReloader(
        wl,
        path,
        0.05,
        on_reload=metrics.watchlist_reloaded,
        on_entries=metrics.set_watchlist,
    )

    def reloads(outcome: str) -> float:
        return metrics.value("sisec_watchlist_reloads_total", {"outcome": outcome})

    reloader.start()
    try:
        assert hits(engine, "ABC123") == ["OLD"]
        _swap(path, b"entry_id,plate,list\nNEW,KLM456,wanted\n")
        until(lambda: hits(engine, "KLM456") == ["NEW"], "the reloaded entry")
        assert hits(engine, "ABC123") == [], "replace_all: the old entry is gone"
        until(
            lambda: metrics.value("sisec_watchlist_entries", {"list": "wanted"}) == 1,
            "the entries gauge",
        )
        assert metrics.value("sisec_watchlist_entries", {"list": "sv"}) == 0, "emptied list"

        caplog.set_level(logging.ERROR, logger="sisec_stream.run")
        _swap(path, b"entry_id,plate,list\nNEW,KLM456,wanted\nBAD,A,wanted\n")
        until(lambda: reloads("failed") == 1, "the failed reload")
        assert hits(engine, "KLM456") == ["NEW"] and len(wl) == 1, "the old list stays"
        (error,) = [r.getMessage() for r in caplog.records if "not reloaded" in r.getMessage()]
        assert str(path) in error and "line 3" in error
        assert reloader._thread is not None and reloader._thread.is_alive()

        _swap(path, b"entry_id,plate,list\nFIXED,XYZ987,wanted\n")
        until(lambda: hits(engine, "XYZ987") == ["FIXED"], "the fixed file")
        assert reloads("ok") == 2
    finally:
        reloader.stop()


def test_a_reload_keeps_the_topics_entries_and_deletions(
    broker: BrokerSettings, tmp_path: Path
) -> None:
    path = tmp_path / "watchlist.csv"
    path.write_bytes(b"entry_id,plate,list\nF1,ABC123,sv\nF2,XYZ987,sv\n")
    wl = Watchlist.from_csv(path)
    engine = Engine(watchlist=wl)
    topic = watchlist_topic(broker)
    p = producer(broker)
    publish_entry(p, topic, "T1", {"plate": "TOP111", "list": "wanted"})
    publish_entry(p, topic, "F2", None)  # the topic deletes a file entry
    with WatchlistFeed(wl, broker.bootstrap, topic) as feed:
        assert feed.wait_caught_up(30)
        assert hits(engine, "TOP111") == ["T1"] and hits(engine, "XYZ987") == []
        reloader = WatchlistReloader(wl, path, 60.0, feed=feed)
        _swap(path, b"entry_id,plate,list\nF2,XYZ987,sv\nF3,KLM456,sv\n")
        assert reloader.check() is None, "a change must hold still for one check"
        report = reloader.check()
        assert report is not None and report.loaded == 2
        assert reloader.check() is None, "unchanged since"
        assert hits(engine, "KLM456") == ["F3"] and hits(engine, "ABC123") == []
        assert hits(engine, "TOP111") == ["T1"], "the topic's entry survives the reload"
        assert hits(engine, "XYZ987") == [], "the topic's deletion has the last word"


# -- configuration ----------------------------------------------------------------------


def test_config_updates_and_reload_interval(tmp_path: Path) -> None:
    path = tmp_path / "sisec.toml"
    path.write_text("", encoding="utf-8")
    c = RunConfig.load(path)
    assert c.watchlist_updates and c.watchlist_reload_interval_s == 0
    path.write_text(
        '[watchlist]\nfile = "w.csv"\nupdates = false\nreload_interval_s = 30\n', encoding="utf-8"
    )
    c = RunConfig.load(path)
    assert not c.watchlist_updates and c.watchlist_reload_interval_s == 30.0
    for text, key, says in [
        ("[watchlist]\nreload_interval_s = 5\n", "watchlist.reload_interval_s", "no file"),
        ("[watchlist]\nreload_interval_s = -1\n", "watchlist.reload_interval_s", "0..86400"),
        ("[watchlist]\nupdates = 'yes'\n", "watchlist.updates", "true or false"),
    ]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=rf"{path}: {key}: .*{says}"):
            RunConfig.load(path)


# -- sisec-stream run -------------------------------------------------------------------


def _write_config(
    tmp_path: Path, broker: BrokerSettings, metrics_port: int = 0, extra: str = ""
) -> tuple[Path, str]:
    tag = f"live-{uuid.uuid4().hex[:6]}"
    (tmp_path / "watchlist.csv").write_bytes(WATCHLIST_CSV)
    names = ("plate_reads", "button_presses", "calls", "alerts", "rejects", "watchlist")
    path = tmp_path / "sisec.toml"
    path.write_text(
        f'[kafka]\nbrokers = "{broker.bootstrap}"\n[topics]\n'
        + "".join(f'{n} = "{tag}.{n}"\n' for n in names)
        + f'[watchlist]\nfile = "watchlist.csv"\n{extra}[metrics]\nport = {metrics_port}\n',
        encoding="utf-8",
    )
    return path, tag


def test_run_without_the_watchlist_topic_says_what_to_do(
    broker: BrokerSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, tag = _write_config(tmp_path, broker)
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{tag}.watchlist' does not exist" in err and "updates = false" in err


def test_run_with_updates_off_needs_no_watchlist_topic(
    broker: BrokerSettings, tmp_path: Path
) -> None:
    path, tag = _write_config(tmp_path, broker, extra="updates = false\n")
    path.write_text(path.read_text() + "[source]\nstop_at_end = true\n", encoding="utf-8")
    create_topics(
        broker.bootstrap,
        [TopicSpec(f"{tag}.{n}") for n in ("plate_reads", "button_presses", "calls")]
        + [TopicSpec(f"{tag}.alerts"), TopicSpec(f"{tag}.rejects")],
    )
    p = producer(broker)
    p.produce(f"{tag}.plate_reads", plate_read("r-1", "XYZ-12D"))
    assert p.flush(30) == 0
    assert run(RunConfig.load(path), RunOptions()) == 0
    assert len(consume_all(broker.bootstrap, f"{tag}.alerts")) == 1


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _total(samples: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= set(lab))


def test_topic_updates_take_effect_while_the_flow_runs(
    broker: BrokerSettings, tmp_path: Path
) -> None:
    """The acceptance test: ``sisec-stream run`` as a process; an entry published
    to the watchlist topic mid-run makes the next read of its plate an alert, and
    its tombstone stops them, without restarting anything."""
    port = free_port_pair()
    path, tag = _write_config(tmp_path, broker, metrics_port=port)
    assert main(["kafka", "topics", "--config", str(path)]) == 0
    plate = "QRT-482"  # not in WATCHLIST_CSV, nor like anything in it
    p = producer(broker)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sisec_stream", "run", "--config", str(path)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    samples: Samples = {}

    def metric(name: str, **labels: str) -> Callable[[], float]:
        def value() -> float:
            nonlocal samples
            assert proc.poll() is None, "sisec-stream run exited early"
            try:
                samples = _scrape(port)
            except OSError:
                return -1.0  # not serving yet
            return _total(samples, name, **labels)

        return value

    events = metric("sisec_events_total", outcome="accepted")
    alerts = metric("sisec_alerts_total")
    updates = {a: metric("sisec_watchlist_updates_total", action=a) for a in ("upsert", "remove")}
    wanted = metric("sisec_watchlist_entries", list="wanted")
    delivered = metric("sisec_produced_messages_total", topic=f"{tag}.alerts")

    def read(event_id: str, n_events: int) -> None:
        p.produce(f"{tag}.plate_reads", plate_read(event_id, plate))
        assert p.flush(30) == 0
        until(lambda: events() >= n_events, f"{event_id} to be processed", 60)

    try:
        until(lambda: wanted() == 1, "the metrics and the file's one wanted entry", 60)
        read("x-1", 1)
        assert alerts() == 0, "not listed yet"

        publish_entry(p, f"{tag}.watchlist", "LIVE-1", {"plate": plate, "list": "wanted"})
        until(lambda: updates["upsert"]() == 1, "the upsert to be applied")
        until(lambda: wanted() == 2, "the entries gauge to count it")
        read("x-2", 2)
        assert alerts() == 1
        until(lambda: delivered() == 1, "the alert to be delivered")

        publish_entry(p, f"{tag}.watchlist", "LIVE-1", None)
        until(lambda: updates["remove"]() == 1, "the tombstone to be applied")
        read("x-3", 3)
        assert alerts() == 1, "deleted: no new alert"
        assert _total(samples, "sisec_watchlist_updates_total", action="invalid") == 0
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, out

    got = [orjson.loads(v) for v, _ in consume_all(broker.bootstrap, f"{tag}.alerts")]
    assert [(a["events"], a["details"]["entry_id"]) for a in got] == [(["x-2"], "LIVE-1")]
