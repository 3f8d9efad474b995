"""Engine throughput on generated plate reads, beside plain-Python baselines.

Run: ``make bench-py`` (pytest benches --benchmark-only). Every benchmark in the
group processes the same 100k plate reads of the default simulated city against
its 100k-entry watchlist; the summary prints events/s and the ratio to the
baseline (orjson + the same validation + dict lookup, ``baseline.py``).
``test_engine_process`` matches exactly, like the baseline (like for like);
``test_engine_process_lookalike`` adds look-alike, edge, pattern and candidate
matching with scoring (more work than the baseline does, same time budget).
``test_engine_process_lookalike_places`` adds the city's zones and camera
registry: every read placed by its camera, its zones listed, boosts, list
filters and the prison's allow list applied (the demo's engine).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from baseline import PythonBaseline
from sisec_stream import Engine, Watchlist, WatchlistConfig
from sisec_stream.demo import city_engine
from sisec_stream.generator import Scenario, ScenarioConfig

N_EVENTS = 100_000


@pytest.fixture(scope="module")
def city() -> Scenario:
    return Scenario(ScenarioConfig(seed=7, duration_s=7200, watchlist_size=100_000))


@pytest.fixture(scope="module")
def reads(city: Scenario) -> list[bytes]:
    events = [line for _, line, _ in itertools.islice(city.events("plate_reads"), N_EVENTS)]
    assert len(events) == N_EVENTS, "the default city must generate 100k reads"
    return events


@pytest.fixture(scope="module")
def watchlist_rows(city: Scenario) -> list[dict[str, str]]:
    rows = city.watchlist_rows()
    assert len(rows) == 100_000
    return rows


EXACT_ONLY = WatchlistConfig(default_match="exact", max_substitutions=0, edges=False)


@pytest.fixture(scope="module")
def engine(watchlist_rows: list[dict[str, str]]) -> Engine:
    return Engine(watchlist=Watchlist.from_rows(watchlist_rows, config=EXACT_ONLY))


@pytest.fixture(scope="module")
def lookalike_engine(watchlist_rows: list[dict[str, str]]) -> Engine:
    return Engine(watchlist=Watchlist.from_rows(watchlist_rows))


@pytest.fixture(scope="module")
def places_engine(city: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return city_engine(city, tmp_path_factory.mktemp("city"))


@pytest.fixture(scope="module")
def baseline(watchlist_rows: list[dict[str, str]]) -> PythonBaseline:
    wl: dict[str, list[tuple[Any, ...]]] = {}
    for r in watchlist_rows:
        wl.setdefault(r["plate"], []).append((r["list"], r["entry_id"], int(r["priority"])))
    return PythonBaseline(wl)


GROUP = "plate_reads_100k_watchlist_100k"


@pytest.mark.benchmark(group=GROUP)
def test_engine_process(
    benchmark: Any,
    events_info: Callable[[int], None],
    engine: Engine,
    reads: list[bytes],
    baseline: PythonBaseline,
) -> None:
    events_info(len(reads))
    result = benchmark(engine.process, reads)
    assert result.accepted + result.rejected == len(reads)
    # Same verdicts and the same hits as the baseline: the comparison is like for like.
    accepted, rejected, alerts, _ = baseline.process(reads)
    assert (result.accepted, result.rejected) == (accepted, rejected)
    assert len(result.alerts) == len(alerts) > 0


@pytest.mark.benchmark(group=GROUP)
def test_engine_process_lookalike(
    benchmark: Any,
    events_info: Callable[[int], None],
    lookalike_engine: Engine,
    reads: list[bytes],
    baseline: PythonBaseline,
) -> None:
    events_info(len(reads))
    result = benchmark(lookalike_engine.process, reads)
    # Every exact hit of the baseline, plus look-alike/edge hits it cannot find.
    _, _, alerts, _ = baseline.process(reads)
    exact = [a for a in result.alerts if b'"match":{"kind":"exact"' in a.json]
    assert len(exact) == len(alerts) > 0
    assert len(result.alerts) > len(exact)


@pytest.mark.benchmark(group=GROUP)
def test_engine_process_lookalike_places(
    benchmark: Any,
    events_info: Callable[[int], None],
    places_engine: Engine,
    lookalike_engine: Engine,
    reads: list[bytes],
) -> None:
    events_info(len(reads))
    result = benchmark(places_engine.process, reads)
    assert result.rejects == lookalike_engine.process(reads).rejects, "every camera registered"
    # The same hits, each alerted or dropped by a zone; every alert says where.
    plain = lookalike_engine.process(reads)
    hits = [a for a in result.alerts if a.kind == "plate_hit"]
    assert len(hits) + result.dropped_hits == len(plain.alerts)
    assert all(a.to_dict()["zones"] for a in result.alerts)


@pytest.mark.benchmark(group=GROUP)
def test_baseline_python_orjson_same_checks(
    benchmark: Any,
    events_info: Callable[[int], None],
    baseline: PythonBaseline,
    reads: list[bytes],
) -> None:
    events_info(len(reads))
    accepted, rejected, _, _ = benchmark(baseline.process, reads)
    assert accepted + rejected == len(reads)


@pytest.mark.benchmark(group=GROUP)
def test_floor_orjson_loads_only(
    benchmark: Any, events_info: Callable[[int], None], reads: list[bytes]
) -> None:
    """Not a competitor: the least any Python approach must do (parse, no checks)."""
    events_info(len(reads))
    loads = orjson.loads
    benchmark(lambda: [loads(r) for r in reads])
