"""The archive across a hard crash: ``sisec-stream run`` with ``[archive]`` and
``[recovery]`` is killed with SIGKILL before any flush, and restarted.

Every batch the archive sink took is in its write-ahead spool (``<archive>/_spool``)
before the sink returns, and Bytewax commits an epoch's snapshot only after the
sink's calls of that epoch have returned: whatever the restart does not read
again is in the spool, and the restart archives it first. So every accepted
event is archived at least once, and nothing else is. The same restart without
the spool (what the archive did before it: rows buffered in memory) misses
events: the check can fail.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import polars as pl
import pytest

from sisec_stream.archive import ArchiveBatch, ArchiveWriter
from sisec_stream.cli import main
from sisec_stream.kafka.testing import free_port_pair
from test_archive import KEY, Expected, _batch, _non_hit_plates, _plate_like_runs, _strings
from test_incident_recovery import _counted

FILES = ("plate_reads", "button_presses", "calls")
EVENT_SOURCES = ("plate_read", "button_press", "call")
TORN = b'{"event_id":"TORN-1","ts":1795'


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("city")
    code = main(
        [
            "generate",
            "--out",
            str(folder),
            "--seed",
            "11",
            "--duration",
            "1800",
            "--cameras",
            "200",
            "--watchlist-size",
            "2000",
            "--listed-share",
            "0.05",
            "--devices",
            "60",
            "--calls-per-hour",
            "1500",
            "--malformed-share",
            "0.01",
            "--no-progress",
        ]
    )
    assert code == 0
    return folder


def _commit_epoch(state: Path) -> int:
    """The newest epoch Bytewax has committed in the recovery folder (-1: none)."""
    newest = -1
    for db in state.glob("part-*.sqlite3"):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            row = c.execute("SELECT max(commit_epoch) FROM commits").fetchone()
        if row and row[0] is not None:
            newest = max(newest, int(row[0]))
    return newest


def _until(what: str, proc: subprocess.Popen[bytes], check: object, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before {what}: give it more input"
        try:
            if check():  # type: ignore[operator]
                return
        except (OSError, sqlite3.Error):
            pass
        time.sleep(0.1)
    raise AssertionError(f"not within {limit_s} s: {what}")


def _event_ids(archive: Path) -> list[str]:
    ids: list[str] = []
    for source in EVENT_SOURCES:
        files = sorted((archive / f"source={source}").glob("date=*/*.parquet"))
        if files:
            ids += pl.read_parquet(files)["event_id"].to_list()
    return ids


def _restart(root: Path, inputs: list[Path], workers: int) -> subprocess.CompletedProcess[str]:
    run = [sys.executable, "-m", "sisec_stream", "run", "-c", "sisec.toml", "-w", str(workers)]
    done = subprocess.run(
        [*run, "--out", "out", "--input", *map(str, inputs)],
        cwd=root,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_kill_9_before_any_flush_loses_no_accepted_event(city: Path, tmp_path: Path) -> None:
    expected = Expected(city)
    accepted = {e["event_id"] for s in EVENT_SOURCES for e in expected.accepted[s]}
    assert len(accepted) > 20_000
    secret = _non_hit_plates(expected)
    inputs = [city / f"{f}.jsonl" for f in FILES]
    root = tmp_path / "run"
    root.mkdir()
    (root / "archive.key").write_bytes(KEY)
    port = free_port_pair()
    # One event per source batch keeps the replay slow enough to be killed halfway;
    # nothing is flushed before the kill (huge flush_rows and flush_interval_s).
    (root / "sisec.toml").write_text(
        f'[watchlist]\nfile = "{city / "watchlist.csv"}"\n'
        f"[metrics]\nport = {port}\n"
        "[source]\nbatch_size = 1\n"
        '[archive]\npath = "archive"\nflush_rows = 100000000\nflush_interval_s = 86400\n'
        'key_file = "archive.key"\ncompression = "uncompressed"\n'
        '[recovery]\ndir = "state"\nsnapshot_interval_s = 1\n'
    )
    archive, state = root / "archive", root / "state"
    log = (root / "crashed.log").open("wb")
    crashed = subprocess.Popen(
        [
            *(sys.executable, "-m", "sisec_stream", "run", "-c", "sisec.toml", "-w", "2"),
            *("--out", "out", "--input", *map(str, inputs)),
        ],
        cwd=root,
        stdout=log,
        stderr=log,
    )
    try:
        _until("3,000 events", crashed, lambda: _counted(port) >= 3000)
        # Two commits later, a snapshot past those events is committed: a restart
        # does not read them again.
        first = _commit_epoch(state)
        _until("a snapshot past them", crashed, lambda: _commit_epoch(state) >= first + 2)
        assert crashed.poll() is None, "the run ended before the kill: give it more input"
    finally:
        crashed.send_signal(signal.SIGKILL)
        crashed.wait(30)
        log.close()
    assert crashed.returncode == -signal.SIGKILL

    # At the kill, the archive is the spool alone: one per worker, nothing in Parquet.
    assert not list(archive.rglob("*.parquet"))
    spooled = {f: f.read_bytes() for f in archive.glob("_spool/worker-*/seg-*/*.ndjson")}
    assert {f.parent.parent.name for f in spooled} == {"worker-0", "worker-1"}
    reads = [f for f in spooled if f.name == "plate_read.ndjson"]
    assert sum(spooled[f].count(b"\n") for f in reads) > 500
    leaked = _plate_like_runs(b"".join(spooled.values())) & secret
    assert not leaked, f"a clear plate of a non-hit read in the spool: {sorted(leaked)[:5]}"
    spooled_alerts = {
        (a["alert_id"], a["update"])
        for f, data in spooled.items()
        if f.name == "alert.ndjson"
        for a in map(orjson.loads, data[: data.rfind(b"\n") + 1].splitlines())
    }

    # The old behaviour, for the record: the same restart without the spool.
    control = tmp_path / "control"
    shutil.copytree(root, control)
    shutil.rmtree(control / "archive" / "_spool")

    # A crash in the middle of an append leaves a torn last line: never
    # acknowledged, dropped (and said so).
    torn_file = reads[0]
    with torn_file.open("ab") as out:
        out.write(TORN)

    # Restarted with one worker: worker 0 archives its own spool and worker 1's.
    done = _restart(root, inputs, workers=1)
    assert "of worker 0 left by an earlier run" in done.stderr
    assert "of worker 1 left by an earlier run" in done.stderr
    said = f"dropped a torn last line of {len(TORN)} bytes in "
    assert f"{said}{torn_file.relative_to(root)} " in done.stderr or f"{said}{torn_file} " in (
        done.stderr
    )
    assert "left in the spool by an earlier run" in done.stdout + done.stderr
    ids = _event_ids(archive)
    assert set(ids) == accepted, (
        f"missing {len(accepted - set(ids))}, unexpected {sorted(set(ids) - accepted)[:3]}"
    )
    duplicates = len(ids) - len(set(ids))
    assert duplicates >= 0  # at-least-once: what the restart read again (few here)
    assert not (archive / "_spool").exists(), "the spool is gone once archived"
    alerts = pl.read_parquet(sorted(archive.glob("source=alert/*/*.parquet")))
    archived_alerts = set(zip(alerts["alert_id"], alerts["update"], strict=True))
    assert spooled_alerts and spooled_alerts <= archived_alerts
    for f in archive.glob("source=plate_read/*/*.parquet"):
        values = {s for row in pl.read_parquet(f).iter_rows() for s in _strings(list(row))}
        assert not values & secret, f

    # Without the spool, the restart starts past the events it held: they are lost.
    _restart(control, inputs, workers=1)
    lost = accepted - set(_event_ids(control / "archive"))
    assert lost, "a restart without the spool lost nothing: the kill came too early"
    print(
        f"accepted {len(accepted)}, archived {len(ids)} rows ({duplicates} duplicates); "
        f"without the spool {len(lost)} events lost"
    )


def test_archive_recover_archives_what_no_live_process_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "archive"
    crashed = ArchiveWriter(root, worker=3)
    crashed.add(_batch(4))
    crashed.release()  # what a killed process leaves: its spool, unflushed
    live = ArchiveWriter(root, worker=5)
    live.add(ArchiveBatch("call", _batch(2).data.replace(b'"c-', b'"live-'), 2))
    assert main(["archive", "recover", "--path", str(root)]) == 0
    out = capsys.readouterr().out
    assert "worker 3: archived 4 rows" in out
    assert "worker 5: in use by a running process, left alone" in out
    got = pl.read_parquet(sorted(root.glob("source=call/*/*.parquet")))
    assert sorted(got["event_id"]) == [f"c-{i}" for i in range(4)]
    assert all(f.name.startswith("part-3-") for f in root.glob("source=call/*/*.parquet"))
    assert not (root / "_spool" / "worker-3").exists()
    live.close()
    assert not (root / "_spool").exists()
    assert main(["archive", "recover", "--path", str(tmp_path / "nope")]) == 2
