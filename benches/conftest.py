"""Benchmark helpers: events/s per benchmark and ratios within a group, from one run.

Each benchmark records ``extra_info["events"]`` (events per call); at the end of
the run the terminal summary prints events/s for every benchmark and, per group,
the ratio of each to the group's ``baseline`` (the benchmark whose name contains
``baseline``), so every claim in BENCHMARKS.md is a ratio measured in one run.
Benchmarks that record ``extra_info["latency_ms"]`` (name -> milliseconds) get
those figures printed too. Kafka benchmarks share one local broker (``broker``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sisec_stream.kafka import BrokerSettings
from sisec_stream.kafka.testing import temporary_broker

sys.path.insert(0, str(Path(__file__).parent))

#: Kafka jars, fetched by Maven once per machine (as in tests/conftest.py).
SHARED_KAFKA_LIB = Path(__file__).resolve().parents[1] / ".kafka" / "lib"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    session = getattr(terminalreporter.config, "_benchmarksession", None)
    benchmarks = getattr(session, "benchmarks", None) or []
    _latency_summary(terminalreporter, benchmarks)
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


def _latency_summary(tr: Any, benchmarks: list[Any]) -> None:
    """Latency figures are not timings of the benchmarked call: print them apart."""
    found = [
        (b.name, b.extra_info["latency_ms"]) for b in benchmarks if "latency_ms" in b.extra_info
    ]
    if not found:
        return
    tr.section("latency (ms)")
    for name, figures in found:
        tr.write_line(f"{name}:")
        for key, value in figures.items():
            shown = f"{value:>10,}" if isinstance(value, int) else f"{value:>10,.1f}"
            tr.write_line(f"  {key:<40} {shown}")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerSettings]:
    """One real broker for the bench session, in a temporary folder on free ports."""
    with temporary_broker(tmp_path_factory.mktemp("kafka"), SHARED_KAFKA_LIB) as settings:
        yield settings
