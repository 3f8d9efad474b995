"""The embedded demo and the command line, as a user runs them."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import orjson
import polars as pl
from prometheus_client.parser import text_string_to_metric_families

from sisec_stream.demo import DemoOptions, DemoSummary, run_demo
from sisec_stream.generator import ScenarioConfig

QUICK = ScenarioConfig(seed=5, duration_s=900, watchlist_size=5000, malformed_share=0.002)


def test_demo_runs_the_flow_and_balances(tmp_path: Path) -> None:
    log = io.StringIO()
    summary = run_demo(
        DemoOptions(scenario=QUICK, speed=None, out_dir=tmp_path, metrics_port=0, colour=False),
        log=log,
    )
    assert summary.n_in == summary.accepted + summary.rejected
    assert summary.accepted > 10_000
    assert summary.rejected > 0
    assert sum(summary.rejects_by_reason.values()) == summary.rejected
    assert summary.alerts_by_kind.get("plate_hit", 0) > 0
    assert summary.alerts_by_kind.get("button_press", 0) > 0
    lines = (tmp_path / "alerts.jsonl").read_bytes().splitlines()
    pages, updates = sum(summary.alerts_by_kind.values()), sum(summary.updates_by_kind.values())
    assert len(lines) == summary.alerts_written == pages + updates
    docs = [orjson.loads(line) for line in lines]
    assert sum(1 for d in docs if d["update"] == 0) == pages
    assert all(orjson.loads(line)["priority"] in (1, 2, 3, 4) for line in lines)
    rejects = (tmp_path / "rejects.jsonl").read_bytes().splitlines()
    assert len(rejects) == summary.rejected
    out = log.getvalue()
    assert "[P1]" in out or "[P2]" in out
    assert "demo summary" in out
    # The archive: every accepted event and every alert, once.
    assert summary.archive_rows == summary.accepted + summary.alerts_written
    counts = {
        source: pl.scan_parquet(tmp_path / "archive" / f"source={source}" / "**" / "*.parquet")
        .select(pl.len())
        .collect()
        .item()
        for source in ("plate_read", "button_press", "call", "alert")
    }
    assert sum(counts.values()) == summary.archive_rows
    assert counts["alert"] == summary.alerts_written
    assert f"archive           {tmp_path / 'archive'}" in out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_demo_metrics_scraped_while_it_runs(tmp_path: Path) -> None:
    port = free_port()
    result: list[DemoSummary] = []
    options = DemoOptions(
        scenario=ScenarioConfig(seed=9, duration_s=600, watchlist_size=2000),
        speed=150.0,  # ~4 s of wall time
        out_dir=tmp_path,
        metrics_port=port,
        print_alerts=False,
    )
    runner = threading.Thread(target=lambda: result.append(run_demo(options, log=io.StringIO())))
    runner.start()
    seen = 0.0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and runner.is_alive() and seen == 0:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            time.sleep(0.1)
            continue
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "sisec_events_total" and s.labels.get("outcome") == "accepted":
                    seen += s.value
        time.sleep(0.2)
    runner.join(timeout=60)
    assert seen > 0, "the metrics endpoint never showed accepted events while the demo ran"
    assert result and result[0].accepted >= seen


def test_cli_help_lists_demo_and_generate() -> None:
    exe = Path(sys.executable).with_name("sisec-stream")
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "demo" in proc.stdout and "generate" in proc.stdout


def test_cli_demo_quick_run(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("sisec-stream")
    proc = subprocess.run(
        [
            str(exe),
            "demo",
            "--fast",
            "--duration",
            "5m",
            "--metrics-port",
            "0",
            "--out",
            str(tmp_path),
            "--no-color",
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "demo summary" in proc.stdout
    assert (tmp_path / "alerts.jsonl").stat().st_size > 0


def test_cli_rejects_bad_duration() -> None:
    exe = Path(sys.executable).with_name("sisec-stream")
    proc = subprocess.run(
        [str(exe), "demo", "--duration", "soon"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "--duration" in proc.stderr and "90s, 30m, 1h or 7d" in proc.stderr
