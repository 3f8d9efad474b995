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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import IO

from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main
from confluent_kafka import KafkaError

from sisec_stream.engine import EVENT_TYPES, Alert, Engine, Reject
from sisec_stream.errors import ConfigError
from sisec_stream.files import JsonLinesSource
from sisec_stream.flow import build_alerts_flow
from sisec_stream.metrics import UNKNOWN_SOURCE, EngineMetrics, MetricsServer
from sisec_stream.runconfig import RunConfig
from sisec_stream.sinks import JsonLinesSink, alert_line, reject_line
from sisec_stream.watchlist import Watchlist

__all__ = [
    "RunFlow",
    "RunOptions",
    "build_engine",
    "build_run_flow",
    "load_watchlist",
    "run",
    "summary",
]

log = logging.getLogger("sisec_stream.run")


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
    """The engine with the configured watchlist (empty if none is configured)."""
    watchlist = load_watchlist(config)
    if metrics is not None:
        metrics.set_watchlist(watchlist.counts_by_list())
    return Engine(config.engine, watchlist=watchlist)


def _delivery_failed(metrics: EngineMetrics) -> Callable[[str, KafkaError], None]:
    def on_error(topic: str, err: KafkaError) -> None:
        metrics.delivery_failed(topic, err.name())

    return on_error


@dataclass
class RunFlow:
    """A built flow and the files to close once it has run."""

    flow: Dataflow
    files: list[JsonLinesSink[Alert] | JsonLinesSink[Reject]] = field(default_factory=list)

    def close(self) -> None:
        """Close the replay output files."""
        for f in self.files:
            f.close()


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
    from sisec_stream.kafka.sink import KafkaSink, alert_message, reject_message
    from sisec_stream.kafka.source import KafkaSource

    options = options or RunOptions()
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
        flow = build_alerts_flow(source, engine, alerts_out, rejects_out, metrics=metrics)
        return RunFlow(flow, [alerts_out, rejects_out])

    on_error = _delivery_failed(metrics)
    producer = config.kafka.producer_config()
    alerts: KafkaSink[Alert] = KafkaSink(
        config.brokers,
        config.topics.alerts,
        alert_message,
        on_error=on_error,
        on_delivered=metrics.delivered,
        config=producer,
    )
    rejects: KafkaSink[Reject] = KafkaSink(
        config.brokers,
        config.topics.rejects,
        reject_message,
        on_error=on_error,
        on_delivered=metrics.delivered,
        config=producer,
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
    return RunFlow(build_alerts_flow(kafka_source, engine, alerts, rejects, metrics=metrics))


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

    Returns the process exit code: 0 when the flow ended normally, 1 when it
    failed (e.g. deliveries that did not succeed), after logging why.
    """
    out = stream if stream is not None else sys.stderr
    metrics = EngineMetrics()
    graceful = _GracefulStop()
    built = build_run_flow(config, metrics, options, graceful.event)
    try:
        recovery = _recovery(config)
        server = _serve_metrics(config, metrics, options.process_id)
    except BaseException:
        built.close()
        raise
    previous = {s: signal.signal(s, graceful) for s in (signal.SIGTERM, signal.SIGINT)}
    t0 = time.perf_counter()
    code = 0
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
        code = 130
    except Exception as e:  # the flow failed: say why, exit non-zero
        cause = e.__cause__ or e
        log.error("the flow failed: %s", cause)
        code = 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        built.close()
        print(summary(metrics, time.perf_counter() - t0), file=out)
        if server is not None:
            server.close()
    return code
