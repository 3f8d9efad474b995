"""Generation throughput of the synthetic city (sisec_stream.generator).

Run: ``pytest benches/test_bench_generator.py --benchmark-only``. The default scenario
(Medellín, one hour, 400 cameras, ~109k events, 100k-entry watchlist) is written to disk
by ``write_scenario`` as the CLI does, with the forked plate-read pipeline and serially;
the streams are also timed alone (no files). The summary prints events/s; the target is
>= 100,000 events/s for ``write_scenario`` on a 2-core machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sisec_stream.generator import SOURCES, Scenario, ScenarioConfig, write_scenario

GROUP = "generator_default_hour"


def _write(benchmark: Any, tmp_path: Path, *, parallel: bool) -> None:
    config = ScenarioConfig()
    summaries: list[dict[str, Any]] = []

    def run() -> None:
        summaries.append(write_scenario(config, tmp_path / "s", progress=False, parallel=parallel))

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["events"] = summaries[-1]["events"]
    benchmark.extra_info["events_per_s_in_scenario_json"] = max(
        s["events_per_s"] for s in summaries
    )
    assert summaries[-1]["events"] > 100_000


@pytest.mark.benchmark(group=GROUP)
def test_bench_write_scenario(benchmark: Any, tmp_path: Path) -> None:
    _write(benchmark, tmp_path, parallel=True)


@pytest.mark.benchmark(group=GROUP)
def test_bench_write_scenario_serial(benchmark: Any, tmp_path: Path) -> None:
    _write(benchmark, tmp_path, parallel=False)


@pytest.mark.benchmark(group=GROUP)
def test_bench_streams_without_files(benchmark: Any) -> None:
    scenario = Scenario(ScenarioConfig())

    def run() -> int:
        return sum(1 for source in SOURCES for _ in scenario.events(source))

    n = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["events"] = n


@pytest.mark.benchmark(group="generator_world")
def test_bench_build_world(benchmark: Any) -> None:
    """Roads, cameras, devices and vehicles; the 100k watchlist is built on first use."""

    def run() -> int:
        scenario = Scenario(ScenarioConfig())
        return len(scenario.watchlist)

    assert benchmark.pedantic(run, rounds=3, iterations=1) == 100_000
