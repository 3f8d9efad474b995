"""``sisec-stream produce`` and ``run`` against the real broker: keys, pacing,
delivery checks, and offsets that survive a restart (Bytewax recovery)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import orjson
import pytest

from conftest import WATCHLIST_CSV, button, plate_read
from sisec_stream.cli import main
from sisec_stream.errors import ConfigError
from sisec_stream.kafka import BrokerSettings
from sisec_stream.kafka.produce import message_key, produce_files, topic_for_file
from sisec_stream.kafka.sink import DeliveryError
from sisec_stream.runconfig import RunConfig
from sisec_stream.runner import RunOptions, run
from test_kafka_flow import consume_all


def _config(tmp_path: Path, broker: BrokerSettings, **extra: str) -> tuple[Path, str]:
    tag = f"run-{uuid.uuid4().hex[:6]}"
    (tmp_path / "watchlist.csv").write_bytes(WATCHLIST_CSV)
    names = ("plate_reads", "button_presses", "calls", "alerts", "rejects", "watchlist")
    sections = "".join(f"[{k}]\n{v}\n" for k, v in extra.items())
    path = tmp_path / "sisec.toml"
    path.write_text(
        f'[kafka]\nbrokers = "{broker.bootstrap}"\n[topics]\n'
        + "".join(f'{n} = "{tag}.{n}"\n' for n in names)
        + '[watchlist]\nfile = "watchlist.csv"\n[metrics]\nport = 0\n'
        + sections,
        encoding="utf-8",
    )
    assert main(["kafka", "topics", "--config", str(path)]) == 0
    return path, tag


def test_message_key_is_the_device() -> None:
    assert message_key(plate_read("e1", "ABC123")) == b"MDE-LPR-0001"
    assert message_key(button("e2")) == b"MDE-BTN-0042"
    assert message_key(b'{"type":"plate_read",') is None
    assert message_key(b"[1]") is None


def test_topic_for_file() -> None:
    topics = {"plate_reads": "t.pr"}
    assert topic_for_file(Path("x/plate_reads.jsonl"), topics, None) == "t.pr"
    assert topic_for_file(Path("capture.jsonl"), topics, "t.other") == "t.other"
    with pytest.raises(ConfigError, match=r"capture.jsonl: no topic .* or give --topic"):
        topic_for_file(Path("capture.jsonl"), topics, None)


def test_produce_keys_paces_and_counts(broker: BrokerSettings, tmp_path: Path) -> None:
    path, tag = _config(tmp_path, broker)
    reads = [plate_read(f"pr-{i}", "QQQ111", camera_id=f"CAM-{i % 3}") for i in range(300)]
    (tmp_path / "plate_reads.jsonl").write_bytes(b"\n".join(reads) + b"\n")
    config = RunConfig.load(path)
    report = produce_files(
        [tmp_path / "plate_reads.jsonl"],
        config.brokers,
        {"plate_reads": config.topics.plate_reads},
        rate=1000.0,
        progress=False,
    )
    assert report.sent == {f"{tag}.plate_reads": 300} and report.failed == 0
    assert report.seconds >= 0.25, "300 events at 1,000/s cannot take less than 0.3 s"
    got = consume_all(broker.bootstrap, f"{tag}.plate_reads")
    assert sorted(v for v, _ in got) == sorted(reads)


def test_produce_to_a_missing_topic_fails_loudly(broker: BrokerSettings, tmp_path: Path) -> None:
    (tmp_path / "plate_reads.jsonl").write_bytes(plate_read("pr-1", "ABC123") + b"\n")
    with pytest.raises(DeliveryError, match="1 of 1 messages were not delivered"):
        produce_files(
            [tmp_path / "plate_reads.jsonl"],
            broker.bootstrap,
            {},
            topic=f"no.such.{uuid.uuid4().hex[:6]}",
            progress=False,
            config={"delivery.timeout.ms": 2000, "allow.auto.create.topics": False},
        )


def test_offsets_survive_a_restart(broker: BrokerSettings, tmp_path: Path) -> None:
    """With [recovery], a second run reads only what arrived since the first."""
    path, tag = _config(
        tmp_path,
        broker,
        source="stop_at_end = true",
        recovery='dir = "state"\nsnapshot_interval_s = 1',
    )
    first = [plate_read(f"a-{i}", "ABC123" if i < 5 else f"QQQ{i:03d}") for i in range(200)]
    second = [plate_read(f"b-{i}", "XYZ-12D" if i < 3 else f"RRR{i:03d}") for i in range(100)]
    captures = tmp_path / "plate_reads.jsonl"
    captures.write_bytes(b"\n".join(first) + b"\n")
    assert main(["produce", "-c", str(path), "--no-progress", str(captures)]) == 0
    config = RunConfig.load(path)
    assert run(config, RunOptions()) == 0
    captures.write_bytes(b"\n".join(second) + b"\n")
    assert main(["produce", "-c", str(path), "--no-progress", str(captures)]) == 0
    assert run(config, RunOptions()) == 0

    alerts = [orjson.loads(v) for v, _ in consume_all(broker.bootstrap, f"{tag}.alerts")]
    by_event = Counter(a["events"][0] for a in alerts)
    # ABC123 is on two lists (5 reads x 2), XYZ12D on one (3 reads): each exactly once.
    assert by_event == Counter(
        {**{f"a-{i}": 2 for i in range(5)}, **{f"b-{i}": 1 for i in range(3)}}
    )
    assert (tmp_path / "state").is_dir()


def test_bytewax_run_entry_point_with_a_config(broker: BrokerSettings, tmp_path: Path) -> None:
    """``python -m bytewax.run dataflows/alerts.py`` runs the same flow as ``run``."""
    path, tag = _config(tmp_path, broker, source="stop_at_end = true")
    captures = tmp_path / "button_presses.jsonl"
    captures.write_bytes(b"\n".join(button(f"b-{i}") for i in range(50)) + b"\n{}\n")
    assert main(["produce", "-c", str(path), "--no-progress", str(captures)]) == 0
    repo = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "bytewax.run", "dataflows/alerts.py", "-w", "2"],
        cwd=repo,
        env={**os.environ, "SISEC_CONFIG": str(path)},
        check=True,
        timeout=120,
    )
    alerts = consume_all(broker.bootstrap, f"{tag}.alerts")
    rejects = consume_all(broker.bootstrap, f"{tag}.rejects")
    assert len(alerts) == 50
    assert [(v, h["reason"]) for v, h in rejects] == [(b"{}", b"missing_field")]
