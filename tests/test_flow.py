"""The alerts dataflow, run by Bytewax with one and with two workers."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest
from bytewax.testing import TestingSink, TestingSource

from conftest import button, call, plate_read
from sisec_stream import ALERT_KINDS, Alert, Engine, Reject
from sisec_stream.flow import build_alerts_flow, run_flow
from sisec_stream.generator import Scenario, ScenarioConfig
from sisec_stream.incidents import fold
from sisec_stream.sources import SCENARIO_SOURCES, ScenarioSource

REPO = Path(__file__).resolve().parents[1]

SMALL = ScenarioConfig(
    seed=3,
    duration_s=600,
    cameras=40,
    watchlist_size=2000,
    listed_share=0.05,
    devices=60,
    presses_per_device_per_day=40.0,
    calls_per_hour=300,
    malformed_share=0.01,
)


def flow_outputs(source: object, engine: Engine, workers: int) -> tuple[list[Alert], list[Reject]]:
    alerts: list[Alert] = []
    rejects: list[Reject] = []
    flow = build_alerts_flow(source, engine, TestingSink(alerts), TestingSink(rejects))  # type: ignore[arg-type]
    run_flow(flow, workers)
    return alerts, rejects


def comparable(alerts: list[Alert]) -> Counter[tuple[str, int, str, int]]:
    """What must agree between runs: every page and update (not when it was emitted)."""
    return Counter((a.alert_id, a.update, a.kind, a.priority) for a in alerts)


def mixed_events() -> list[bytes]:
    return [
        plate_read("r1", "ABC123"),
        plate_read("r2", "XYZ 12D"),
        plate_read("r3", "QQQ999"),
        button("b1"),
        button("b2", "heartbeat"),
        call("c1"),
        b"{broken",
        plate_read("r4", "A"),
    ]


@pytest.mark.parametrize("workers", [1, 2])
def test_testing_source_flow_matches_direct_processing(engine: Engine, workers: int) -> None:
    events = mixed_events() * 50
    alerts, rejects = flow_outputs(TestingSource(events), engine, workers)
    direct = engine.process(events)
    assert comparable(alerts) == comparable(fold(engine, [events]))
    assert Counter(r.reason for r in rejects) == direct.rejects_by_reason()
    # Per copy: 2 hits on ABC123, 1 on XYZ12D, 1 press; the 49 repeats are updates.
    assert len(alerts) == len(direct.alerts) == 4 * 50
    assert sum(1 for a in alerts if a.update == 0) == 4
    assert len(rejects) == 100


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario(SMALL)


@pytest.fixture(scope="module")
def scenario_engine(scenario: Scenario) -> Engine:
    from sisec_stream import Watchlist

    return Engine(watchlist=Watchlist.from_rows(scenario.watchlist_rows()))


def all_events(scenario: Scenario) -> list[bytes]:
    return [line for src in SCENARIO_SOURCES for _, line, _ in scenario.events(src)]  # type: ignore[arg-type]


@pytest.mark.parametrize("workers", [1, 2])
def test_scenario_flow_equals_direct_processing(
    scenario: Scenario, scenario_engine: Engine, workers: int
) -> None:
    events = all_events(scenario)
    direct = scenario_engine.process(events)
    assert direct.alerts, "the small scenario must produce alerts"
    assert direct.rejects, "the small scenario must produce rejects"
    source = ScenarioSource(scenario, speed=None, batch_size=256)
    alerts, rejects = flow_outputs(source, scenario_engine, workers)
    by_source = [[line for _, line, _ in scenario.events(src)] for src in SCENARIO_SOURCES]  # type: ignore[arg-type]
    assert comparable(alerts) == comparable(fold(scenario_engine, by_source))
    # Every plate and press alert candidate is one page or update.
    candidates = Counter(a.kind for a in direct.alerts)
    got = Counter(a.kind for a in alerts)
    assert (got["plate_hit"], got["button_press"]) == (
        candidates["plate_hit"],
        candidates["button_press"],
    )
    assert any(a.update for a in alerts), "repeat sightings or presses fold into updates"
    assert len(rejects) == direct.rejected
    assert len(alerts) + len(rejects) > 0


def test_scenario_source_resumes_after_what_it_emitted(scenario: Scenario) -> None:
    source = ScenarioSource(scenario, speed=None, batch_size=100)
    part = source.build_part("events", "plate_reads", None)
    first = part.next_batch() + part.next_batch()
    assert part.snapshot() == 200
    resumed = source.build_part("events", "plate_reads", part.snapshot())
    expected = [line for _, line, _ in itertools.islice(scenario.events("plate_reads"), 200, 300)]
    assert resumed.next_batch() == expected
    assert first[0] != expected[0]


def test_paced_source_holds_back_the_future(scenario: Scenario) -> None:
    now = [0.0]
    source = ScenarioSource(scenario, speed=60.0, batch_size=10_000, clock=lambda: now[0])
    part = source.build_part("events", "plate_reads", None)
    start = SMALL.start_ms
    got = part.next_batch()
    ts = [t for t, _, _ in scenario.events("plate_reads")]
    assert len(got) == sum(1 for t in ts if t <= start)
    now[0] = 2.0  # two wall seconds = two simulated minutes
    got2 = part.next_batch()
    assert len(got) + len(got2) == sum(1 for t in ts if t <= start + 120_000)
    assert part.next_awake() is not None


def test_bytewax_run_entry_point(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SISEC_OUT": str(tmp_path),
        "SISEC_SCENARIO_DURATION_S": "300",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bytewax.run", "dataflows/alerts.py", "-w", "2"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    alerts = [orjson.loads(line) for line in (tmp_path / "alerts.jsonl").read_bytes().splitlines()]
    assert alerts, "five simulated minutes of Medellín must raise alerts"
    assert {a["kind"] for a in alerts} <= set(ALERT_KINDS)
