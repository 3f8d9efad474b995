"""The embedded demo: the alerts flow on a simulated city, no Kafka needed.

Plays a seeded scenario through the same dataflow a deployment runs, prints
alerts live (most urgent first), writes them to JSON lines, serves Prometheus
metrics over HTTP and ends with a summary.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sisec_stream.archive.schema import SOURCE_DIR
from sisec_stream.archive.spool import SPOOL_DIR
from sisec_stream.archive.writer import ArchiveSink
from sisec_stream.engine import Alert, Engine, EngineConfig, Reject
from sisec_stream.flow import build_alerts_flow, run_flow
from sisec_stream.generator import Scenario, ScenarioConfig, write_static_files
from sisec_stream.generator.writer import ALLOW_LISTS_FILE, ZONES_FILE
from sisec_stream.metrics import EngineMetrics, MetricsServer
from sisec_stream.registry import Registry
from sisec_stream.sinks import AlertPrinter, JsonLinesSink, alert_line, reject_line
from sisec_stream.sources import ScenarioSource
from sisec_stream.watchlist import ListSettings, Watchlist, WatchlistConfig
from sisec_stream.zones import Zones

__all__ = ["DemoOptions", "DemoSummary", "city_engine", "run_demo"]


@dataclass(frozen=True)
class DemoOptions:
    """What the demo plays and how.

    Attributes:
        scenario: The simulated city (defaults: Medellín, one hour).
        speed: Simulated seconds per second (120: an hour in 30 s); None: flat out.
        workers: Bytewax worker threads.
        out_dir: Where the city's files (watchlist, registries, zones, allow lists),
            alerts.jsonl, rejects.jsonl and the archive (``archive/``, replaced on
            each run) go.
        metrics_port: Port for /metrics on 127.0.0.1 (0: any free port).
        print_alerts: Print each alert as it comes.
        colour: Colour by priority (None: when stdout is a terminal).
    """

    scenario: ScenarioConfig = field(default_factory=lambda: ScenarioConfig(malformed_share=0.001))
    speed: float | None = 120.0
    workers: int = 1
    out_dir: Path = Path("demo-out")
    metrics_port: int = 9464
    print_alerts: bool = True
    colour: bool | None = None
    batch_size: int = 2000


@dataclass
class DemoSummary:
    """Counts at the end of a demo run."""

    seconds: float
    events_in: dict[str, int]
    accepted: int
    rejected: int
    rejects_by_reason: dict[str, int]
    alerts_by_kind: dict[str, int]
    alerts_by_priority: dict[int, int]
    updates_by_kind: dict[str, int]
    alerts_written: int
    rejects_written: int
    metrics_url: str
    out_dir: Path
    archive_rows: int = 0
    archive_files: int = 0

    @property
    def n_in(self) -> int:
        """All events that entered the flow."""
        return sum(self.events_in.values())

    def render(self) -> str:
        """The summary as printed at the end of the demo."""
        rate = self.n_in / self.seconds if self.seconds > 0 else 0.0
        lines = [
            "",
            "── sisec-stream demo summary " + "─" * 40,
            f"events in         {self.n_in:>10,}  ({rate:,.0f}/s over {self.seconds:.1f} s)",
        ]
        lines += [f"  {src:<16}{n:>10,}" for src, n in self.events_in.items()]
        lines.append(f"accepted          {self.accepted:>10,}")
        lines.append(f"rejected          {self.rejected:>10,}")
        lines += [f"  {r:<16}{n:>10,}" for r, n in sorted(self.rejects_by_reason.items())]
        total_alerts = sum(self.alerts_by_kind.values())
        lines.append(f"alerts paged      {total_alerts:>10,}")
        lines += [f"  {k:<16}{n:>10,}" for k, n in sorted(self.alerts_by_kind.items())]
        lines.append(
            "  by priority     "
            + "  ".join(f"P{p}: {n:,}" for p, n in sorted(self.alerts_by_priority.items()))
        )
        updates = sum(self.updates_by_kind.values())
        lines.append(
            f"updates           {updates:>10,}  (repeat sightings, presses, calls: not paged)"
        )
        lines += [f"  {k:<16}{n:>10,}" for k, n in sorted(self.updates_by_kind.items())]
        lines.append(f"alerts file       {self.out_dir / 'alerts.jsonl'}")
        lines.append(f"rejects file      {self.out_dir / 'rejects.jsonl'}")
        lines.append(
            f"archive           {self.out_dir / 'archive'}  ({self.archive_rows:,} events and "
            f"alerts in {self.archive_files:,} Parquet files by source and date; docs/archive.md)"
        )
        lines.append(f"metrics           {self.metrics_url} (while the demo ran)")
        return "\n".join(lines)


def _serve_metrics(metrics: EngineMetrics, port: int, log: IO[str]) -> MetricsServer:
    try:
        return metrics.serve(port)
    except OSError as e:
        if port == 0:
            raise
        print(f"metrics port {port} is busy ({e.strerror}); serving on a free port", file=log)
        return metrics.serve(0)


def _summary(metrics: EngineMetrics, seconds: float, **files: Any) -> DemoSummary:
    events_in: dict[str, int] = {}
    accepted = rejected = 0
    for source in ("plate_read", "button_press", "call", "unknown"):
        a = int(metrics.value("sisec_events_total", {"source": source, "outcome": "accepted"}))
        r = int(metrics.value("sisec_events_total", {"source": source, "outcome": "rejected"}))
        accepted, rejected = accepted + a, rejected + r
        if a + r:
            events_in[source] = a + r
    rejects_by_reason: dict[str, int] = {}
    alerts_by_kind: dict[str, int] = {}
    alerts_by_priority: dict[int, int] = {}
    updates_by_kind: dict[str, int] = {}
    for metric in metrics.registry.collect():
        for s in metric.samples:
            if s.name == "sisec_rejects_total" and s.value:
                rejects_by_reason[s.labels["reason"]] = int(s.value)
            elif s.name == "sisec_alerts_total" and s.value:
                kind, prio = s.labels["kind"], int(s.labels["priority"])
                alerts_by_kind[kind] = alerts_by_kind.get(kind, 0) + int(s.value)
                alerts_by_priority[prio] = alerts_by_priority.get(prio, 0) + int(s.value)
            elif s.name == "sisec_alert_updates_total" and s.value:
                updates_by_kind[s.labels["kind"]] = int(s.value)
    return DemoSummary(
        seconds=seconds,
        events_in=events_in,
        accepted=accepted,
        rejected=rejected,
        rejects_by_reason=rejects_by_reason,
        alerts_by_kind=alerts_by_kind,
        alerts_by_priority=alerts_by_priority,
        updates_by_kind=updates_by_kind,
        **files,
    )


def city_engine(scenario: Scenario, out: Path) -> Engine:
    """The engine a centre would run for the simulated city: its watchlist and allow
    lists, zones, camera and device registries, and its clock for zone windows."""
    write_static_files(scenario, out)
    zones = Zones.from_geojson(out / ZONES_FILE)
    allow_lists = {z.allow_list for z in zones if z.allow_list is not None}
    config = WatchlistConfig(lists={name: ListSettings(kind="allow") for name in allow_lists})
    watchlist = Watchlist.from_csv(out / "watchlist.csv", config=config)
    if allow_lists:
        watchlist.reload(out / ALLOW_LISTS_FILE, replace_all=False)
    return Engine(
        EngineConfig(timezone=scenario.config.preset.timezone),
        watchlist,
        zones=zones,
        cameras=Registry.from_csv(out / "cameras.csv", "camera"),
        devices=Registry.from_csv(out / "devices.csv", "device"),
    )


def run_demo(options: DemoOptions, *, log: IO[str] | None = None) -> DemoSummary:
    """Run the demo to the end of its scenario (or Ctrl-C) and return its summary."""
    log = log if log is not None else sys.stdout
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    scenario = Scenario(options.scenario)
    engine = city_engine(scenario, out)
    watchlist = engine.watchlist

    metrics = EngineMetrics()
    metrics.set_watchlist(watchlist.counts_by_list(), watchlist.memory_bytes())
    server = _serve_metrics(metrics, options.metrics_port, log)
    offset = options.scenario.preset.offset_minutes
    printer = (
        AlertPrinter(log, colour=options.colour, utc_offset_minutes=offset)
        if options.print_alerts
        else None
    )
    alert_sink: JsonLinesSink[Alert] = JsonLinesSink(
        out / "alerts.jsonl", alert_line, on_write=printer
    )
    reject_sink: JsonLinesSink[Reject] = JsonLinesSink(out / "rejects.jsonl", reject_line)
    archive_dir = out / "archive"
    if archive_dir.is_dir() and any(
        SOURCE_DIR.match(p.name) or p.name == SPOOL_DIR for p in archive_dir.iterdir()
    ):
        shutil.rmtree(archive_dir)  # the previous demo's, like alerts.jsonl
    archive = ArchiveSink(archive_dir)
    source = ScenarioSource(scenario, speed=options.speed, batch_size=options.batch_size)
    flow = build_alerts_flow(
        source, engine, alert_sink, reject_sink, metrics=metrics, archive_sink=archive
    )

    cfg = options.scenario
    pace = f"at {options.speed:g}x" if options.speed else "flat out"
    print(
        f"sisec-stream demo: simulated {cfg.preset.name}, "
        f"{cfg.duration_s / 60:g} min of events {pace}, "
        f"{len(watchlist):,} watchlist entries, {len(engine.zones or ()):,} zones, "
        f"{len(engine.cameras or ()):,} cameras, {options.workers} worker(s)\n"
        f"metrics: {server.url}   alerts: {out / 'alerts.jsonl'}   (Ctrl-C stops)\n",
        file=log,
    )
    t0 = time.perf_counter()
    try:
        run_flow(flow, options.workers)
    except KeyboardInterrupt:
        print("\ninterrupted", file=log)
    finally:
        seconds = time.perf_counter() - t0
        alert_sink.close()
        reject_sink.close()
        archive.close()
        server.close()
    summary = _summary(
        metrics,
        seconds,
        alerts_written=alert_sink.written,
        rejects_written=reject_sink.written,
        metrics_url=server.url,
        out_dir=out,
        archive_rows=archive.rows_written,
        archive_files=archive.files_written,
    )
    print(summary.render(), file=log)
    return summary
