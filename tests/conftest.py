"""Shared fixtures: a small watchlist, hand-written events, a local Kafka broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from sisec_stream import ALERT_KINDS, Engine, Watchlist
from sisec_stream.demo import city_engine
from sisec_stream.generator import Scenario, ScenarioConfig
from sisec_stream.incidents import fold
from sisec_stream.kafka import BrokerSettings
from sisec_stream.kafka.testing import temporary_broker
from sisec_stream.sources import SCENARIO_SOURCES

#: Kafka jars, fetched by Maven once per machine and shared by every test broker.
SHARED_KAFKA_LIB = Path(__file__).resolve().parents[1] / ".kafka" / "lib"

WATCHLIST_CSV = b"""entry_id,plate,list,priority
SV-1,ABC123,stolen_vehicle,
AA-1,ABC123,amber_alert,
SP-1,XYZ12D,stolen_plate,
W-1,KLM-456-A,wanted,1
"""


def plate_read(event_id: str, plate: str, **extra: object) -> bytes:
    """A valid plate_read event."""
    doc: dict[str, object] = {
        "type": "plate_read",
        "event_id": event_id,
        "ts": "2026-11-23T07:00:00.250-05:00",
        "camera_id": "MDE-LPR-0001",
        "plate": plate,
        "lat": 6.2442,
        "lon": -75.5812,
    }
    doc.update(extra)
    return orjson.dumps(doc)


def button(event_id: str, action: str = "press", kind: str = "panic") -> bytes:
    """A valid button_press event."""
    return orjson.dumps(
        {
            "type": "button_press",
            "event_id": event_id,
            "ts": 1795435200000,
            "device_id": "MDE-BTN-0042",
            "device_kind": kind,
            "action": action,
        }
    )


def call(event_id: str, status: str = "received") -> bytes:
    """A valid call event."""
    return orjson.dumps(
        {
            "type": "call",
            "event_id": event_id,
            "ts": "2026-11-23T12:00:00Z",
            "call_id": "C-1",
            "line": "123",
            "status": status,
        }
    )


@pytest.fixture
def watchlist() -> Watchlist:
    return Watchlist.from_csv_bytes(WATCHLIST_CSV, source="test-watchlist.csv")


@pytest.fixture
def engine(watchlist: Watchlist) -> Engine:
    return Engine(watchlist=watchlist)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerSettings]:
    """One real broker for the session, in a temporary folder on free ports."""
    with temporary_broker(tmp_path_factory.mktemp("kafka"), SHARED_KAFKA_LIB) as settings:
        yield settings


def square_zone(
    zone_id: str, x0: float, y0: float, x1: float, y1: float, **props: object
) -> dict[str, object]:
    """A GeoJSON Feature: the zone ``zone_id`` (named ``Zona <id>``) over the
    rectangle (x0, y0)-(x1, y1), lon/lat, with ``props`` as its properties."""
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {
        "type": "Feature",
        "properties": {"zone_id": zone_id, "name": f"Zona {zone_id}", **props},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


@pytest.fixture(scope="session")
def city_alerts(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    """A simulated city's alerts of every kind, pages and updates, as the pipeline
    emits them (the demo's engine: zones, registries, the prison's allow list),
    with a tamper report added so that every kind occurs."""
    config = ScenarioConfig(
        seed=4,
        duration_s=1800,
        cameras=40,
        watchlist_size=2000,
        listed_share=0.05,
        devices=80,
        presses_per_device_per_day=60.0,
        offline_device_share=0.05,
        malformed_share=0.01,
    )
    scenario = Scenario(config)
    engine = city_engine(scenario, tmp_path_factory.mktemp("city"))
    batches = [[line for _, line, _ in scenario.events(s)] for s in SCENARIO_SOURCES]  # type: ignore[arg-type]
    device = scenario.devices[0]
    tamper = {
        "type": "button_press",
        "event_id": "tamper-1",
        "ts": orjson.loads(batches[1][-1])["ts"],
        "device_id": device.device_id,
        "device_kind": device.device_kind,
        "action": "tamper",
    }
    batches[1].append(orjson.dumps(tamper))
    out: list[dict[str, object]] = [orjson.loads(a.json) for a in fold(engine, batches)]
    assert {a["kind"] for a in out} == set(ALERT_KINDS)
    return out
