"""Benchmark helpers: events/s per benchmark and ratios within a group, from one run.

Each benchmark records ``extra_info["events"]`` (events per call); at the end of
the run the terminal summary prints events/s for every benchmark and, per group,
the ratio of each to the group's ``baseline`` (the benchmark whose name contains
``baseline``), so every claim in BENCHMARKS.md is a ratio measured in one run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    session = getattr(terminalreporter.config, "_benchmarksession", None)
    benchmarks = getattr(session, "benchmarks", None) or []
    rows: list[tuple[str, str, float]] = []
    for bench in benchmarks:
        events = bench.extra_info.get("events")
        stats = getattr(bench, "stats", None)
        if not events or stats is None or not stats.median:
            continue
        rows.append((bench.group or "", bench.name, events / stats.median))
    if not rows:
        return
    tr = terminalreporter
    tr.section("events per second (median) and ratio to the group's baseline")
    for group in sorted({g for g, _, _ in rows}):
        members = [(n, r) for g, n, r in rows if g == group]
        base = next((r for n, r in members if "baseline" in n), None)
        tr.write_line(f"{group}:")
        for name, rate in sorted(members, key=lambda m: -m[1]):
            ratio = f"{rate / base:6.2f}x" if base else ""
            tr.write_line(f"  {name:<55} {rate:>14,.0f} ev/s  {ratio}")


@pytest.fixture
def events_info(benchmark: Any) -> Any:
    """Set the number of events one benchmarked call handles."""

    def set_events(n: int) -> None:
        benchmark.extra_info["events"] = n

    return set_events
