"""``sisec-stream run``: the alerts flow against Kafka (or capture files).

The flow is :func:`sisec_stream.flow.build_alerts_flow`; this module only picks
its source and sinks from a :class:`~sisec_stream.runconfig.RunConfig` and hands
it to Bytewax's own runner, so scaling out is Bytewax's ``-w`` (threads) and
``-i/-a`` (processes over Kafka partitions). ``dataflows/alerts.py`` builds the
same flow for ``python -m bytewax.run``.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, TypeVar

from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main
from confluent_kafka import KafkaError

from sisec_stream.archive.pseudonym import Pseudonymizer
from sisec_stream.archive.writer import ArchiveSink
from sisec_stream.engine import EVENT_TYPES, Alert, Engine, Reject
from sisec_stream.errors import ConfigError, SisecError
from sisec_stream.files import JsonLinesSource
from sisec_stream.flow import build_alerts_flow
from sisec_stream.kafka.sink import Encoded, KafkaSink, alert_message, reject_message
from sisec_stream.metrics import UNKNOWN_SOURCE, EngineMetrics, MetricsServer
from sisec_stream.periodic import PeriodicCheck
from sisec_stream.places import FileStamp, PlacesReloader, file_stamp, load_places
from sisec_stream.runconfig import RunConfig
from sisec_stream.sinks import JsonLinesSink, alert_line, reject_line
from sisec_stream.watchlist import LoadReport, Watchlist

if TYPE_CHECKING:
    from sisec_stream.kafka.watchlist_feed import WatchlistFeed

__all__ = [
    "CATCH_UP_TIMEOUT_S",
    "RunFlow",
    "RunOptions",
    "WatchlistReloader",
    "build_archive_sink",
    "build_engine",
    "build_run_flow",
    "counted_sinks",
    "load_watchlist",
    "run",
    "summary",
]

log = logging.getLogger("sisec_stream.run")

T = TypeVar("T")

#: Longest wait, at start, for the watchlist topic to be read before the flow
#: starts anyway (the feed keeps reading; early events may miss late entries).
CATCH_UP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RunOptions:
    """Bytewax's process options plus the replay mode.

    Attributes:
        workers: Worker threads per process (``-w``).
        process_id: This process's index (``-i``); ``None`` for a single process.
        addresses: ``host:port`` of every process (``-a``), in process-id order.
        inputs: JSON-lines files to replay instead of the input topics.
        out_dir: Where a replay writes ``alerts.jsonl`` and ``rejects.jsonl``.
    """

    workers: int = 1
    process_id: int | None = None
    addresses: Sequence[str] = field(default_factory=list)
    inputs: Sequence[Path] = field(default_factory=list)
    out_dir: Path = Path("out")


def load_watchlist(config: RunConfig) -> Watchlist:
    """The configured watchlist (CSV or Parquet by suffix), or an empty one."""
    path = config.watchlist_file
    if path is None:
        log.warning("no [watchlist] file configured: no plate will match")
        return Watchlist(config.watchlist)
    load = Watchlist.from_parquet if path.suffix == ".parquet" else Watchlist.from_csv
    watchlist = load(path, config=config.watchlist, skip_bad_rows=config.skip_bad_rows)
    report = watchlist.load_report
    if report is not None:
        for line, why in report.skipped:
            log.warning("%s line %d skipped: %s", path, line, why)
        log.info(
            "watchlist %s: %d entries (%d rows skipped)", path, len(watchlist), len(report.skipped)
        )
    return watchlist


def build_engine(config: RunConfig, metrics: EngineMetrics | None = None) -> Engine:
    """The engine with the configured watchlist (empty if none is configured),
    zones and registries."""
    watchlist = load_watchlist(config)
    if metrics is not None:
        metrics.set_watchlist(watchlist.counts_by_list(), watchlist.memory_bytes())
    places = load_places(config)
    log.info("places: %s", places.describe())
    return Engine(
        config.engine,
        watchlist=watchlist,
        zones=places.zones,
        cameras=places.cameras,
        devices=places.devices,
    )


def counted_sinks(
    brokers: str,
    alerts_topic: str,
    rejects_topic: str,
    metrics: EngineMetrics,
    config: Mapping[str, str | int | bool] | None = None,
) -> tuple[KafkaSink[Alert], KafkaSink[Reject]]:
    """The alert and reject sinks, their deliveries and failures counted in ``metrics``."""

    def on_error(topic: str, err: KafkaError) -> None:
        metrics.delivery_failed(topic, err.name())

    def sink(topic: str, encode: Callable[[T], Encoded]) -> KafkaSink[T]:
        return KafkaSink(
            brokers,
            topic,
            encode,
            on_error=on_error,
            on_delivered=metrics.delivered,
            config=config,
        )

    return sink(alerts_topic, alert_message), sink(rejects_topic, reject_message)


def build_archive_sink(config: RunConfig) -> ArchiveSink | None:
    """The archive sink of ``[archive]`` (None without it); the key file is read
    now, so a missing or short key stops the run before it starts."""
    a = config.archive
    if a is None:
        return None
    pseudonymizer = None if a.key_file is None else Pseudonymizer.from_file(a.key_file)
    log.info(
        "archive: %s (flush every %d rows or %.0f s, spool synced every %g s; plates of "
        "reads that are not hits %s)",
        a.path,
        a.flush_rows,
        a.flush_interval_s,
        a.fsync_interval_s,
        "pseudonymised" if pseudonymizer is not None else "in clear",
    )
    return ArchiveSink(
        a.path,
        flush_rows=a.flush_rows,
        flush_interval_s=a.flush_interval_s,
        pseudonymizer=pseudonymizer,
        compression=a.compression,
        fsync_interval_s=a.fsync_interval_s,
    )


@dataclass
class RunFlow:
    """A built flow, its engine (the live watchlist and places), the files to
    close once it has run, and the archive sink (if any)."""

    flow: Dataflow
    engine: Engine
    files: list[JsonLinesSink[Alert] | JsonLinesSink[Reject]] = field(default_factory=list)
    archive: ArchiveSink | None = None

    @property
    def watchlist(self) -> Watchlist:
        """The live watchlist the engine matches against."""
        return self.engine.watchlist

    def close(self) -> None:
        """Close the replay output files; write what the archive still holds
        (when the flow failed, Bytewax closed no archive partition)."""
        for f in self.files:
            f.close()
        if self.archive is not None:
            self.archive.close()


def build_run_flow(
    config: RunConfig,
    metrics: EngineMetrics,
    options: RunOptions | None = None,
    stop: threading.Event | None = None,
) -> RunFlow:
    """The alerts flow wired to Kafka (or to files when ``options.inputs``).

    Setting ``stop`` ends the sources at their next poll: what was read still
    reaches the sinks, then the flow ends.
    """
    from sisec_stream.kafka.source import KafkaSource

    options = options or RunOptions()
    archive = build_archive_sink(config)
    engine = build_engine(config, metrics)
    if options.inputs:
        source = JsonLinesSource(options.inputs, batch_size=config.batch_size, stop=stop)
        # Several processes must not write one file: each gets its own.
        suffix = f"-{options.process_id}" if options.process_id is not None else ""
        alerts_out: JsonLinesSink[Alert] = JsonLinesSink(
            options.out_dir / f"alerts{suffix}.jsonl", alert_line
        )
        rejects_out: JsonLinesSink[Reject] = JsonLinesSink(
            options.out_dir / f"rejects{suffix}.jsonl", reject_line
        )
        flow = build_alerts_flow(
            source, engine, alerts_out, rejects_out, metrics=metrics, archive_sink=archive
        )
        return RunFlow(flow, engine, [alerts_out, rejects_out], archive)

    alerts, rejects = counted_sinks(
        config.brokers,
        config.topics.alerts,
        config.topics.rejects,
        metrics,
        config.kafka.producer_config(),
    )
    kafka_source = KafkaSource(
        config.brokers,
        config.topics.inputs,
        batch_size=config.batch_size,
        stop_at_end=config.stop_at_end,
        on_missing_offset=config.on_missing_offset,
        config=config.kafka.consumer_config(),
        on_lag=metrics.set_lag,
        stop=stop,
    )
    flow = build_alerts_flow(
        kafka_source, engine, alerts, rejects, metrics=metrics, archive_sink=archive
    )
    return RunFlow(flow, engine, archive=archive)


class WatchlistReloader(PeriodicCheck):
    """Reloads the watchlist file when it changes, on a background thread.

    Every ``interval_s`` the file's mtime, size and inode are compared with those
    of the loaded version; once a change has held still for one check (a file
    being written in place is not read half-way), :meth:`Watchlist.reload`
    replaces the whole list (parsed aside, swapped in under a short write lock,
    so matching never pauses). With a ``feed``, the watchlist topic's entries and
    deletions are put back on top (the topic has the last word). A file that
    cannot be loaded keeps the previous list and logs why (file and line); it is
    tried again when it changes again.

    Args:
        watchlist: The live watchlist.
        path: The file (CSV, or Parquet by suffix).
        interval_s: Seconds between checks.
        skip_bad_rows: Load without bad rows (each logged) instead of refusing the file.
        feed: The watchlist-topic feed whose overlay is re-applied, if any.
        on_reload: Told True/False after each reload attempt (e.g. a metric).
        on_entries: Told ``counts_by_list()`` after each successful reload.
        stamp: The file's stamp when the list was loaded (None: take it now).
    """

    name = "watchlist-reloader"

    def __init__(
        self,
        watchlist: Watchlist,
        path: Path,
        interval_s: float,
        *,
        skip_bad_rows: bool = False,
        feed: WatchlistFeed | None = None,
        on_reload: Callable[[bool], None] | None = None,
        on_entries: Callable[[dict[str, int]], None] | None = None,
        stamp: FileStamp | None = None,
    ) -> None:
        super().__init__(interval_s)
        self.watchlist = watchlist
        self.path = path
        self.skip_bad_rows = skip_bad_rows
        self.feed = feed
        self.on_reload = on_reload
        self.on_entries = on_entries
        self._loaded = stamp if stamp is not None else file_stamp(path)  # the version in use
        self._seen = self._loaded  # at the last check
        self._missing_logged = False

    def check(self) -> LoadReport | None:
        """One check: reload if the file changed and has not changed since the
        previous check. The report, or None when there was nothing (yet) to
        reload or it could not be loaded (logged)."""
        stamp = file_stamp(self.path)
        if stamp is None:
            if not self._missing_logged:
                log.error(
                    "watchlist %s: cannot read it (missing?); keeping the current list",
                    self.path,
                )
                self._missing_logged = True
            return None
        self._missing_logged = False
        settled = stamp == self._seen
        self._seen = stamp
        if stamp == self._loaded or not settled:
            return None
        self._loaded = stamp

        def load() -> LoadReport:
            return self.watchlist.reload(
                self.path, replace_all=True, skip_bad_rows=self.skip_bad_rows
            )

        try:
            report = load() if self.feed is None else self.feed.replace_base(load)
        except ValueError as e:  # WatchlistError: names the file and line
            if file_stamp(self.path) != stamp:  # written while read: again once it settles
                log.info("watchlist %s changed while being read; reading it again", self.path)
                return None
            log.error("watchlist not reloaded, keeping the previous list: %s", e)
            if self.on_reload is not None:
                self.on_reload(False)
            return None
        for line, why in report.skipped:
            log.warning("%s line %d skipped: %s", self.path, line, why)
        log.info(
            "watchlist %s reloaded: %d entries loaded, %d rows skipped; %d entries now",
            self.path,
            report.loaded,
            len(report.skipped),
            len(self.watchlist),
        )
        if self.on_reload is not None:
            self.on_reload(True)
        if self.on_entries is not None:
            self.on_entries(self.watchlist.counts_by_list())
        return report


def _watchlist_gauges(
    metrics: EngineMetrics, watchlist: Watchlist
) -> Callable[[dict[str, int]], None]:
    """An ``on_entries`` callback: entries per list and the watchlist's memory (both
    O(entries), so callers call it after changes, at most about once a second)."""

    def publish(counts_by_list: dict[str, int]) -> None:
        metrics.set_watchlist(counts_by_list, watchlist.memory_bytes())

    return publish


def _start_feed(
    config: RunConfig, watchlist: Watchlist, metrics: EngineMetrics, stop: threading.Event
) -> WatchlistFeed:
    """Start following the watchlist topic and wait (bounded, or until ``stop``)
    until what it held at start is applied, so the first events are matched
    against the whole list."""
    from sisec_stream.kafka.watchlist_feed import WatchlistFeed

    feed = WatchlistFeed(
        watchlist,
        config.brokers,
        config.topics.watchlist,
        config=config.kafka.consumer_config(),
        on_update=metrics.watchlist_update,
        on_entries=_watchlist_gauges(metrics, watchlist),
    )
    feed.start()
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    while not feed.wait_caught_up(0.1):
        if stop.is_set() or not feed.running or time.monotonic() >= deadline:
            log.warning(
                "watchlist topic %s not read to its end within %.0f s (%s); starting the "
                "flow anyway: early events are matched against the part read so far",
                config.topics.watchlist,
                CATCH_UP_TIMEOUT_S,
                feed.stats(),
            )
            break
    return feed


def _recovery(config: RunConfig) -> RecoveryConfig | None:
    d = config.recovery_dir
    if d is None:
        return None
    if not d.exists() or not any(d.glob("part-*.sqlite3")):
        d.mkdir(parents=True, exist_ok=True)
        init_db_dir(d, 1)  # type: ignore[no-untyped-call]
        log.info("initialised the recovery folder %s", d)
    return RecoveryConfig(str(d))  # type: ignore[no-untyped-call]


class _GracefulStop:
    """SIGTERM/SIGINT: the sources end at their next poll and what was read is
    delivered, then the run exits 0. A second signal interrupts at once."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        log.info("%s: finishing the batches in flight, then stopping", signal.Signals(signum).name)
        self.event.set()


def _serve_metrics(
    config: RunConfig, metrics: EngineMetrics, process_id: int | None
) -> MetricsServer | None:
    if config.metrics_port is None:
        return None
    port = config.metrics_port + (process_id or 0) if config.metrics_port else 0
    try:
        server = metrics.serve(port, config.metrics_host)
    except OSError as e:
        raise ConfigError(
            f"cannot serve metrics on {config.metrics_host}:{port} ({e.strerror}); set "
            "[metrics] port to a free port (process i uses port + i), or 0 for any",
            key="metrics.port",
        ) from e
    log.info("metrics on %s", server.url)
    return server


def summary(metrics: EngineMetrics, seconds: float) -> str:
    """One line of counts for the end of a run."""
    v = metrics.value
    accepted = sum(
        v("sisec_events_total", {"source": s, "outcome": "accepted"}) for s in EVENT_TYPES
    )
    rejected = sum(
        v("sisec_events_total", {"source": s, "outcome": "rejected"})
        for s in (*EVENT_TYPES, UNKNOWN_SOURCE)
    )
    alerts = sum(
        s.value
        for m in metrics.registry.collect()
        for s in m.samples
        if s.name == "sisec_alerts_total"
    )
    n_in = accepted + rejected
    rate = n_in / seconds if seconds > 0 else 0.0
    return (
        f"events in {n_in:,.0f} ({rate:,.0f}/s over {seconds:.1f} s): accepted {accepted:,.0f}, "
        f"rejected {rejected:,.0f}; alerts {alerts:,.0f}"
    )


def run(config: RunConfig, options: RunOptions, stream: IO[str] | None = None) -> int:
    """Run the flow until its source ends (replays, ``stop_at_end``) or SIGINT/SIGTERM.

    Against Kafka, the watchlist topic is followed for live updates (``[watchlist]
    updates``) and the file reloaded when it changes (``reload_interval_s``);
    replays use the list as loaded, so they stay reproducible.

    Returns the process exit code: 0 when the flow ended normally, 1 when it
    failed (e.g. deliveries that did not succeed), after logging why.
    """
    out = stream if stream is not None else sys.stderr
    metrics = EngineMetrics()
    graceful = _GracefulStop()
    wl_file = config.watchlist_file
    stamp = file_stamp(wl_file) if wl_file is not None else None  # before it is loaded
    place_stamps = [file_stamp(f) for f in config.places_files]
    built = build_run_flow(config, metrics, options, graceful.event)
    server: MetricsServer | None = None
    feed: WatchlistFeed | None = None
    reloader: WatchlistReloader | None = None
    places_reloader: PlacesReloader | None = None
    previous: dict[signal.Signals, Any] = {}
    t0 = time.perf_counter()
    code = 0
    ran = False
    try:
        recovery = _recovery(config)
        server = _serve_metrics(config, metrics, options.process_id)
        previous = {s: signal.signal(s, graceful) for s in (signal.SIGTERM, signal.SIGINT)}
        watchlist = built.watchlist if not options.inputs else None  # replays: as loaded
        if watchlist is not None and config.watchlist_updates:
            try:
                feed = _start_feed(config, watchlist, metrics, graceful.event)
            except ConfigError:
                raise  # exit 2: the message says what to configure
            except KeyboardInterrupt:  # a second signal while the topic is read
                log.warning("interrupted while reading the watchlist topic")
                return 130
            except SisecError as e:
                log.error("cannot follow the watchlist topic: %s", e)
                return 1
        if watchlist is not None and wl_file is not None and config.watchlist_reload_interval_s:
            reloader = WatchlistReloader(
                watchlist,
                wl_file,
                config.watchlist_reload_interval_s,
                skip_bad_rows=config.skip_bad_rows,
                feed=feed,
                on_reload=metrics.watchlist_reloaded,
                on_entries=_watchlist_gauges(metrics, watchlist),
                stamp=stamp,
            )
            reloader.start()
        if not options.inputs and config.places_reload_interval_s:
            places_reloader = PlacesReloader(
                built.engine,
                config,
                config.places_reload_interval_s,
                on_reload=metrics.places_reloaded,
                stamps=place_stamps,
            )
            places_reloader.start()
        t0 = time.perf_counter()
        ran = True
        code = _run_flow(built, config, options, recovery)
    finally:
        if reloader is not None:
            reloader.stop()
        if places_reloader is not None:
            places_reloader.stop()
        if feed is not None:
            feed.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        built.close()
        if ran:
            line = summary(metrics, time.perf_counter() - t0)
            if built.archive is not None:
                a = built.archive
                line += (
                    f"; archived {a.rows_written:,} rows in {a.files_written:,} files to {a.root}"
                )
                if a.rows_recovered:
                    line += f" ({a.rows_recovered:,} of them left in the spool by an earlier run)"
            print(line, file=out)
        if server is not None:
            server.close()
    return code


def _run_flow(
    built: RunFlow, config: RunConfig, options: RunOptions, recovery: RecoveryConfig | None
) -> int:
    """Bytewax's runner on the built flow; the exit code (failures logged)."""
    try:
        cli_main(  # type: ignore[no-untyped-call]
            built.flow,
            workers_per_process=options.workers,
            process_id=options.process_id,
            addresses=list(options.addresses) or None,
            epoch_interval=timedelta(seconds=config.snapshot_interval_s),
            recovery_config=recovery,
        )
    except KeyboardInterrupt:
        log.warning("interrupted: batches in flight may be redelivered on restart")
        return 130
    except Exception as e:  # the flow failed: say why, exit non-zero
        cause = e.__cause__ or e
        log.error("the flow failed: %s", cause)
        return 1
    return 0
