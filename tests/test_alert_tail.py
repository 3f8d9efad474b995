"""``sisec-stream alerts``: updates fold into their alert, most urgent first,
filters by priority, kind and zone; against the real broker for the command."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from sisec_stream.cli import main
from sisec_stream.kafka import BrokerSettings
from sisec_stream.kafka.topics import TopicSpec, create_topics
from sisec_stream.tail import AlertBoard, AlertFilter


def _doc(alert_id: str, update: int, priority: int, minute: int, **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "alert_id": alert_id,
        "update": update,
        "kind": extra.pop("kind", "plate_hit"),
        "priority": priority,
        "reasons": [f"{alert_id} update {update}"],
        "event_time": f"2026-11-23T12:{minute:02d}:00.000Z",
        "emitted_at": "2026-11-23T12:00:00.000Z",
        "location": None,
        "zones": extra.pop("zones", []),
        "events": [f"e-{alert_id}-{update}"],
        "incident_key": f"k-{alert_id}",
        "details": {},
        **extra,
    }


SCHOOL = [{"zone_id": "S1", "name": "Colegio San José", "kind": "school"}]
STREAM = [
    _doc("a", 0, 4, 1),
    _doc("b", 0, 2, 2, zones=SCHOOL),
    _doc("a", 1, 2, 3),  # a corroborated look-alike: up to P2
    _doc("c", 0, 1, 4, kind="call_incident"),
    _doc("a", 1, 2, 3),  # replayed after a restart
    _doc("b", 2, 1, 6, zones=SCHOOL),
    _doc("b", 1, 2, 5, zones=SCHOOL),  # an older update arriving late
]


def _board(f: AlertFilter | None = None) -> AlertBoard:
    board = AlertBoard(f)
    for d in STREAM:
        board.add(d)
    return board


def test_updates_fold_into_their_alert_most_urgent_first() -> None:
    rows = _board().rows()
    assert [(a.alert_id, a.update, a.priority) for a in rows] == [
        ("b", 2, 1),  # P1, newer than c
        ("c", 0, 1),
        ("a", 1, 2),
    ]


def test_filters() -> None:
    assert [a.alert_id for a in _board(AlertFilter(priorities=frozenset({2}))).rows()] == ["a"]
    calls = AlertFilter(kinds=frozenset({"call_incident"}))
    assert [a.alert_id for a in _board(calls).rows()] == ["c"]
    for zone in ("S1", "colegio san josé", "kind:school"):
        assert [a.alert_id for a in _board(AlertFilter(zones=frozenset({zone}))).rows()] == ["b"]
    assert not _board(AlertFilter(zones=frozenset({"S2"}))).rows()


def test_command_prints_the_board(
    broker: BrokerSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = f"tail-{uuid.uuid4().hex[:6]}.alerts"
    create_topics(broker.bootstrap, [TopicSpec(topic, 3)])
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for d in STREAM:
        producer.produce(topic, orjson.dumps(d), key=d["incident_key"].encode())
    producer.produce(topic, b"not json")
    assert producer.flush(30) == 0
    config = tmp_path / "sisec.toml"
    config.write_text(
        f'[kafka]\nbrokers = "{broker.bootstrap}"\n[topics]\nalerts = "{topic}"\n',
        encoding="utf-8",
    )
    assert main(["alerts", "-c", str(config), "--once", "--no-color"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["[P1]", "[P1]", "[P2]"]
    assert "b update 2" in lines[0] or "(update 2)" in lines[0]
    assert lines[2].endswith("(update 1)")
    assert main(["alerts", "-c", str(config), "--once", "--no-color", "--priority", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    config.write_text(
        f'[kafka]\nbrokers = "{broker.bootstrap}"\n[topics]\nalerts = "no.such.{topic}"\n',
        encoding="utf-8",
    )
    assert main(["alerts", "-c", str(config), "--once"]) == 1
    assert "does not exist" in capsys.readouterr().err
