"""Bytewax entry point of the alerts flow (wiring only).

    python -m bytewax.run dataflows/alerts.py            # 1 worker
    python -m bytewax.run dataflows/alerts.py -w 2       # 2 worker threads
    python -m bytewax.run dataflows/alerts.py -i0 -a host0:2101;host1:2101   # processes

The flow itself is defined once in :func:`sisec_stream.flow.build_alerts_flow` so
that the installed package (``sisec-stream demo``, ``sisec-stream run``) runs the
very same flow. This module chooses its source and sinks from the environment:

- ``SISEC_CONFIG``: a ``sisec-stream run`` TOML file: Kafka topics in and out,
  exactly as ``sisec-stream run --config FILE`` (which is this plus metrics and
  graceful shutdown); the variables below are then ignored;
- ``SISEC_WATCHLIST``: watchlist CSV (default: the scenario's own list);
- ``SISEC_OUT``: folder for ``alerts.jsonl`` and ``rejects.jsonl`` (default ``out``);
- ``SISEC_SCENARIO_SEED`` / ``SISEC_SCENARIO_DURATION_S``: the simulated city played
  flat out as the source (Kafka topics replace it in deployments).
"""

from __future__ import annotations

import os
from pathlib import Path

from bytewax.dataflow import Dataflow

from sisec_stream import Alert, Engine, Reject, Watchlist
from sisec_stream.flow import build_alerts_flow
from sisec_stream.generator import Scenario, ScenarioConfig
from sisec_stream.metrics import EngineMetrics
from sisec_stream.runconfig import RunConfig
from sisec_stream.runner import build_run_flow
from sisec_stream.sinks import JsonLinesSink, alert_line, reject_line
from sisec_stream.sources import ScenarioSource


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(
            f"{name}={raw!r} is not a whole number; set it to e.g. {default}"
        ) from None


def _scenario() -> Scenario:
    return Scenario(
        ScenarioConfig(
            seed=_env_int("SISEC_SCENARIO_SEED", 7),
            duration_s=_env_int("SISEC_SCENARIO_DURATION_S", 600),
        )
    )


def _watchlist() -> Watchlist:
    path = os.environ.get("SISEC_WATCHLIST")
    if path:
        return Watchlist.from_csv(path)
    return Watchlist.from_rows(_scenario().watchlist_rows(), source="<scenario watchlist>")


def _flow() -> Dataflow:
    config = os.environ.get("SISEC_CONFIG")
    if config:
        metrics = EngineMetrics()
        return build_run_flow(RunConfig.load(config), metrics).flow
    out = Path(os.environ.get("SISEC_OUT", "out"))
    alerts: JsonLinesSink[Alert] = JsonLinesSink(out / "alerts.jsonl", alert_line)
    rejects: JsonLinesSink[Reject] = JsonLinesSink(out / "rejects.jsonl", reject_line)
    return build_alerts_flow(
        ScenarioSource(_scenario(), speed=None), Engine(watchlist=_watchlist()), alerts, rejects
    )


flow = _flow()
