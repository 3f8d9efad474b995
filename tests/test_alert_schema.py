"""Every kind of alert the pipeline emits matches the shipped alert schema
(``schemas/alerts/alert.schema.json``), pages and updates, and the schema rejects
what it should."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import jsonschema
import pytest

from sisec_stream import ALERT_KINDS


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(
        files("sisec_stream").joinpath("schemas/alerts/alert.schema.json").read_text("utf-8")
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


@pytest.fixture(scope="module")
def alerts(city_alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return city_alerts


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
