"""Every kind of alert the pipeline emits matches the shipped alert schema
(``schemas/alerts/alert.schema.json``), pages and updates, and the schema rejects
what it should."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import jsonschema
import orjson
import pytest

from sisec_stream import ALERT_KINDS
from sisec_stream.demo import city_engine
from sisec_stream.generator import Scenario, ScenarioConfig
from sisec_stream.incidents import fold
from sisec_stream.sources import SCENARIO_SOURCES


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(
        files("sisec_stream").joinpath("schemas/alerts/alert.schema.json").read_text("utf-8")
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


@pytest.fixture(scope="module")
def alerts(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
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
    # The demo's engine: zones, registries and the prison's allow list.
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
    return [orjson.loads(a.json) for a in fold(engine, batches)]


def test_every_alert_matches_the_schema(alerts: list[dict[str, Any]]) -> None:
    validator = _validator()
    for a in alerts:
        errors = [e.message for e in validator.iter_errors(a)]
        assert not errors, (errors, a)
    kinds = {a["kind"] for a in alerts}
    assert kinds == set(ALERT_KINDS), kinds
    assert any(a["update"] for a in alerts) and any(a["update"] == 0 for a in alerts)


def test_the_schema_rejects_broken_alerts(alerts: list[dict[str, Any]]) -> None:
    validator = _validator()
    good = next(a for a in alerts if a["kind"] == "plate_hit")
    broken = [
        {**good, "priority": 5},
        {**good, "kind": "plate_hits"},
        {**good, "update": -1},
        {**good, "extra": 1},
        {**good, "event_time": "2026-11-23 12:00:00"},
        {k: v for k, v in good.items() if k != "alert_id"},
        {**good, "details": {**good["details"], "match": {"kind": "fuzzy", "score": 0.5}}},
        {**good, "location": {"lat": 95.0, "lon": 0.0}},
    ]
    for b in broken:
        assert not validator.is_valid(b), b
