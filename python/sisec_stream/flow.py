"""The alerts dataflow: raw events -> engine -> incidents -> alerts, and rejects.

One flow definition serves every runtime: the embedded demo (simulated city
source), tests (``TestingSource``), and deployments started with
``python -m bytewax.run dataflows/alerts.py``. Sources hand the engine raw
``bytes``; the engine step works on whole batches (one Rust call per batch) and
routes what may page to the incident shards as one ``bytes`` batch per shard;
each shard (a Bytewax key, so one worker at a time, across processes) folds
them into pages and updates (:mod:`sisec_stream.incidents`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeGuard, cast

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.outputs import Sink
from bytewax.testing import cluster_main, run_main

from sisec_stream.archive.writer import ArchiveBatch, ArchiveItem, ArchiveSink
from sisec_stream.engine import Alert, Engine, Reject
from sisec_stream.incidents import IncidentLogic, IncidentState, shard_key
from sisec_stream.metrics import EngineMetrics

__all__ = ["EngineStep", "StepItem", "build_alerts_flow", "run_flow"]


Signals = tuple[str, bytes]
#: What the engine step emits: rejects, shard batches and (with an archive) the
#: accepted events for the archive.
StepItem = Reject | Signals | ArchiveBatch

#: Empty shard batches (they only carry the stream's progress) are sent when the
#: newest event time has moved this much since the last one a shard was sent.
PROGRESS_STEP_MS = 1000


class EngineStep:
    """The batch mapper: one ``Engine.process_routed`` call per Bytewax batch.

    The engine is read-only and releases the GIL, so worker threads of one
    process share it safely. Out come rejects and, per shard, the batch of
    signals for the incident stage (empty shard batches only when the stream's
    progress is worth telling). With ``archive``, also the batch's accepted
    events for the archive, one :class:`ArchiveBatch` per source that has any;
    with ``archive_key`` (the archive's pseudonymisation key) the engine writes
    the plate reads' tokens and hides the plates of non-hits itself, and the
    batches say so (the writer then spools them as they are).
    """

    def __init__(
        self,
        engine: Engine,
        metrics: EngineMetrics | None = None,
        *,
        archive: bool = False,
        archive_key: bytes | None = None,
    ) -> None:
        if archive_key is not None and not archive:
            raise ValueError("archive_key is given without archive=True")
        self.engine = engine
        self.metrics = metrics
        self.archive = archive
        self.archive_key = archive_key
        self._told: dict[int, int] = {}

    def __call__(self, batch: list[bytes]) -> list[StepItem]:
        t0 = time.perf_counter()
        out: list[StepItem]
        if self.archive:
            key = self.archive_key
            result, shards, archived = self.engine.process_routed(
                batch, archive=True, archive_key=key
            )
            out = list(result.rejects)
            for source, data in archived.items():
                if data:
                    n = result.accepted_by_source[source]
                    out.append(ArchiveBatch(source, data, n, pseudonymised=key is not None))
        else:
            result, shards = self.engine.process_routed(batch)
            out = list(result.rejects)
        if self.metrics is not None:
            self.metrics.observe(result, time.perf_counter() - t0)
        for i, blob in enumerate(shards):
            newest = max(int.from_bytes(blob[k : k + 8], "little", signed=True) for k in (1, 9, 17))
            if len(blob) > _HEADER or newest - self._told.get(i, -(2**62)) >= PROGRESS_STEP_MS:
                self._told[i] = newest
                out.append((shard_key(i), blob))
        return out


_HEADER = 25  # version byte and the newest event time per kind: a batch with no signal


def _is_reject(item: StepItem) -> TypeGuard[Reject]:
    return isinstance(item, Reject)


def _is_archive(item: Signals | ArchiveBatch) -> TypeGuard[ArchiveBatch]:
    return isinstance(item, ArchiveBatch)


def build_alerts_flow(
    source: Source[bytes],
    engine: Engine,
    alert_sink: Sink[Alert],
    reject_sink: Sink[Reject],
    *,
    metrics: EngineMetrics | None = None,
    flow_id: str = "sisec_alerts",
    step: Callable[[list[bytes]], list[StepItem]] | None = None,
    archive_sink: Sink[ArchiveItem] | None = None,
) -> Dataflow:
    """Build the alerts flow.

    Args:
        source: Yields raw event bytes (one JSON event each).
        engine: The engine every worker uses.
        alert_sink: Receives :class:`Alert` objects (pages and updates).
        reject_sink: Receives :class:`Reject` objects (for the dead-letter topic).
        metrics: Counters to update per batch, if any.
        flow_id: The Bytewax flow id (recovery state is keyed by it).
        step: Replace the engine step (for instrumentation); default :class:`EngineStep`.
        archive_sink: Receives the accepted events (:class:`ArchiveBatch`) and
            the alerts, for the archive (:mod:`sisec_stream.archive`); None: no
            archive (the engine then serialises nothing for it). An
            :class:`ArchiveSink` with a key hands it to the engine step, which
            pseudonymises the plate reads as it serialises them.
    """
    archive = archive_sink is not None
    key = None
    if isinstance(archive_sink, ArchiveSink) and archive_sink.pseudonymizer is not None:
        key = archive_sink.pseudonymizer.key
    flow = Dataflow(flow_id)
    raw = op.input("events", flow, source)
    if step is None:
        step = EngineStep(engine, metrics, archive=archive, archive_key=key)
    results = op.flat_map_batch("engine", raw, step)
    split = op.branch("split", results, _is_reject)
    op.output("rejects", split.trues, reject_sink)
    rest = cast(Stream[Signals | ArchiveBatch], split.falses)
    archived: Stream[ArchiveBatch] | None = None
    if archive:
        by_kind = op.branch("split_archive", rest, _is_archive)
        archived = by_kind.trues
        signals = cast(Stream[Signals], by_kind.falses)
    else:
        signals = cast(Stream[Signals], rest)
    config = engine.config

    def on_alerts(alerts: list[Alert], state: IncidentState) -> None:
        # Where alerts leave the incident stage: their latency is measured here.
        if metrics is not None:
            metrics.observe_alerts(alerts)
            metrics.set_incident_state(state)

    def logic(resume: bytes | None) -> IncidentLogic:
        built = IncidentLogic(config, resume, on_alerts)
        if metrics is not None:  # a shard restored from a snapshot counts at once
            metrics.set_incident_state(built.state)
        return built

    incidents = op.stateful_batch("incidents", signals, logic)
    alerts = op.key_rm("alerts_unkeyed", incidents)
    op.output("alerts", alerts, alert_sink)
    if archive_sink is not None and archived is not None:
        to_archive = op.merge("archive_in", cast(Stream[ArchiveItem], archived), alerts)
        op.output("archive", to_archive, archive_sink)
    return flow


def run_flow(flow: Dataflow, workers: int = 1) -> None:
    """Run a flow in this process until its sources end: one worker on this
    thread, or ``workers`` worker threads (Bytewax's ``-w``)."""
    if workers == 1:
        run_main(flow)  # type: ignore[no-untyped-call]
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)  # type: ignore[no-untyped-call]
