"""Incident state survives a crash (issue 5): ``sisec-stream run`` with Bytewax
recovery is killed with SIGKILL mid-scenario and restarted; together the two runs
give the alerts of an uninterrupted run, up to updates replayed from the last
epoch (the same ``alert_id`` and ``update`` twice), with open incidents, press
windows and device timers carried across the restart.

The uninterrupted run is :func:`sisec_stream.incidents.fold`, the pipeline
without Bytewax (``tests/test_flow.py`` shows the flow gives exactly what it
gives). Input topics have one partition each, so the order is the same in
both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sisec_stream.cli import main as cli_main
from sisec_stream.engine import Engine, EngineConfig
from sisec_stream.incidents import fold
from sisec_stream.kafka import BrokerSettings
from sisec_stream.kafka.testing import free_port_pair
from sisec_stream.kafka.topics import TopicSpec, create_topics
from sisec_stream.watchlist import Watchlist
from test_kafka_flow import consume_all

SOURCES = ("plate_reads", "button_presses", "calls")


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("city")
    code = cli_main(
        [
            "generate",
            "--out",
            str(folder),
            "--seed",
            "5",
            "--duration",
            "1200",
            "--cameras",
            "40",
            "--watchlist-size",
            "2000",
            "--listed-share",
            "0.08",
            "--devices",
            "60",
            "--presses-per-device-per-day",
            "60",
            "--malformed-share",
            "0",
            "--no-progress",
        ]
    )
    assert code == 0
    return folder


def _counted(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(
        s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "sisec_events_total"
    )


def _wait_counted(proc: subprocess.Popen[str], port: int, n: int) -> None:
    for _ in range(600):  # bounded: ~2 minutes
        assert proc.poll() is None, "the run exited early"
        try:
            if _counted(port) >= n:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the run did not count {n} events")


def _produce(config: Path, files: list[Path]) -> None:
    assert cli_main(["produce", "-c", str(config), "--no-progress", *map(str, files)]) == 0


def test_kill_and_restart_gives_the_uninterrupted_alerts(
    broker: BrokerSettings, city: Path, tmp_path: Path
) -> None:
    tag = f"rec-{uuid.uuid4().hex[:6]}"
    names = (*SOURCES, "alerts", "rejects", "watchlist")
    create_topics(broker.bootstrap, [TopicSpec(f"{tag}.{n}", 1) for n in names])
    port = free_port_pair()
    config = tmp_path / "sisec.toml"
    topics = "".join(f'{n} = "{tag}.{n}"\n' for n in names)
    config.write_text(
        f'[kafka]\nbrokers = "{broker.bootstrap}"\n[topics]\n{topics}'
        f'[watchlist]\nfile = "{city / "watchlist.csv"}"\nupdates = false\n'
        f'[recovery]\ndir = "state"\nsnapshot_interval_s = 1\n'
        f"[metrics]\nport = {port}\n",
        encoding="utf-8",
    )
    # Three parts of every source: before the crash and snapshotted, just before
    # the crash (read, maybe not snapshotted), and after it.
    lines = {s: (city / f"{s}.jsonl").read_bytes().splitlines() for s in SOURCES}
    cuts = {s: (len(v) // 2, 2 * len(v) // 3) for s, v in lines.items()}
    parts = [tmp_path / f"part{i}" for i in range(3)]
    for i, folder in enumerate(parts):
        folder.mkdir()
        for s in SOURCES:
            bounds = (0, *cuts[s], len(lines[s]))
            chosen = lines[s][bounds[i] : bounds[i + 1]]
            (folder / f"{s}.jsonl").write_bytes(b"".join(x + b"\n" for x in chosen))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = [sys.executable, "-m", "sisec_stream", "run", "-c", str(config)]

    _produce(config, [parts[0] / f"{s}.jsonl" for s in SOURCES])
    crashed = subprocess.Popen(run, cwd=tmp_path, env=env, text=True, stdout=subprocess.DEVNULL)
    try:
        _wait_counted(crashed, port, sum(c[0] for c in cuts.values()))
        time.sleep(2.5)  # at least one snapshot after the first part
        _produce(config, [parts[1] / f"{s}.jsonl" for s in SOURCES])
        time.sleep(0.2)  # the crash comes before (or while) they are snapshotted
    finally:
        crashed.send_signal(signal.SIGKILL)
        crashed.wait(30)
    assert crashed.returncode == -signal.SIGKILL
    crash_ms = int(time.time() * 1000)
    _produce(config, [parts[2] / f"{s}.jsonl" for s in SOURCES])

    # The restart reads to the end of the topics and stops (stop_at_end).
    config.write_text(config.read_text(encoding="utf-8") + "[source]\nstop_at_end = true\n")
    restarted = subprocess.run(
        run, cwd=tmp_path, env=env, text=True, capture_output=True, timeout=300, check=False
    )
    assert restarted.returncode == 0, restarted.stderr[-3000:]

    got = [orjson.loads(v) for v, _ in consume_all(broker.bootstrap, f"{tag}.alerts")]
    engine = Engine(EngineConfig(), Watchlist.from_csv(city / "watchlist.csv"))
    want = [orjson.loads(a.json) for a in fold(engine, [lines[s] for s in SOURCES])]

    def key(a: dict[str, Any]) -> bytes:
        return orjson.dumps(
            {k: v for k, v in a.items() if k != "emitted_at"}, option=orjson.OPT_SORT_KEYS
        )

    got_keys, want_keys = Counter(map(key, got)), Counter(map(key, want))
    by_id = {(a["alert_id"], a["update"]): a for a in got}
    for a in want:
        b = by_id.get((a["alert_id"], a["update"]))
        assert b is not None, f"missing after the restart: {a}"
        assert key(a) == key(b), (a, b)
    assert set(got_keys) == set(want_keys), "missing or different alerts after the restart"
    assert max(want_keys.values()) == 1
    replayed = got_keys - want_keys
    assert replayed.total() < len(want) // 4, f"{replayed.total()} replayed of {len(want)}"
    kinds = Counter(a["kind"] for a in want)
    assert kinds["plate_hit"] and kinds["button_press"] and kinds["call_incident"]
    # Incidents paged before the crash got updates from the restarted run: the
    # state (open incidents, press windows) came back from the snapshot.
    paged_before = {a["alert_id"] for a in got if a["update"] == 0 and _ms(a) < crash_ms}
    updated_after = {a["alert_id"] for a in got if a["update"] > 0 and _ms(a) > crash_ms}
    assert paged_before & updated_after, "no incident carried across the restart"


def _ms(alert: dict[str, Any]) -> int:
    """When an alert was emitted, epoch ms."""
    when = datetime.fromisoformat(alert["emitted_at"].replace("Z", "+00:00"))
    return int(when.timestamp() * 1000)
