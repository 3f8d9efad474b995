"""The alerts dataflow: raw events -> engine -> alerts and rejects.

One flow definition serves every runtime: the embedded demo (simulated city
source), tests (``TestingSource``), and deployments started with
``python -m bytewax.run dataflows/alerts.py``. Sources hand the engine raw
``bytes``; the engine step works on whole batches (one Rust call per batch).
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

from sisec_stream.engine import Alert, Engine, Reject
from sisec_stream.metrics import EngineMetrics

__all__ = ["EngineStep", "build_alerts_flow", "run_flow"]


class EngineStep:
    """The batch mapper: one ``Engine.process`` call per Bytewax batch.

    The engine is read-only and releases the GIL, so worker threads of one
    process share it safely.
    """

    def __init__(self, engine: Engine, metrics: EngineMetrics | None = None) -> None:
        self.engine = engine
        self.metrics = metrics

    def __call__(self, batch: list[bytes]) -> list[Alert | Reject]:
        t0 = time.perf_counter()
        result = self.engine.process(batch)
        if self.metrics is not None:
            self.metrics.observe(result, time.perf_counter() - t0)
        out: list[Alert | Reject] = [*result.alerts, *result.rejects]
        return out


def _is_alert(item: Alert | Reject) -> TypeGuard[Alert]:
    return isinstance(item, Alert)


def build_alerts_flow(
    source: Source[bytes],
    engine: Engine,
    alert_sink: Sink[Alert],
    reject_sink: Sink[Reject],
    *,
    metrics: EngineMetrics | None = None,
    flow_id: str = "sisec_alerts",
    step: Callable[[list[bytes]], list[Alert | Reject]] | None = None,
) -> Dataflow:
    """Build the alerts flow.

    Args:
        source: Yields raw event bytes (one JSON event each).
        engine: The engine every worker uses.
        alert_sink: Receives :class:`Alert` objects.
        reject_sink: Receives :class:`Reject` objects (for the dead-letter topic).
        metrics: Counters to update per batch, if any.
        flow_id: The Bytewax flow id (recovery state is keyed by it).
        step: Replace the engine step (for instrumentation); default :class:`EngineStep`.
    """
    flow = Dataflow(flow_id)
    raw = op.input("events", flow, source)
    results = op.flat_map_batch("engine", raw, step or EngineStep(engine, metrics))
    split = op.branch("split", results, _is_alert)
    op.output("alerts", split.trues, alert_sink)
    op.output("rejects", cast(Stream[Reject], split.falses), reject_sink)
    return flow


def run_flow(flow: Dataflow, workers: int = 1) -> None:
    """Run a flow in this process until its sources end: one worker on this
    thread, or ``workers`` worker threads (Bytewax's ``-w``)."""
    if workers == 1:
        run_main(flow)  # type: ignore[no-untyped-call]
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)  # type: ignore[no-untyped-call]
