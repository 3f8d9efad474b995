"""Emergency-call clustering against the generator's ground truth (issue 5).

Runs ``sisec-stream eval calls`` (:func:`evaluate_calls`) on the default scenario (one
morning hour) of both city presets and holds the issue's targets: pairwise precision
and recall >= 0.95. The pair counting itself is checked on hand-made clusterings and
against brute force, and the measure is shown to fall when the clustering is made
wrong on purpose. docs/incidents.md records the figures.
"""

from __future__ import annotations

import itertools
import random
from typing import Final

import pytest

from sisec_stream.cli import main
from sisec_stream.engine import EngineConfig
from sisec_stream.evaluation_calls import (
    PRECISION_TARGET,
    RECALL_TARGET,
    CallClusterReport,
    PairCounts,
    evaluate_calls,
    pair_counts,
)
from sisec_stream.generator import ScenarioConfig

CITIES: Final = ("medellin", "cdmx")


@pytest.fixture(scope="module", params=CITIES)
def report(request: pytest.FixtureRequest) -> CallClusterReport:
    city: str = request.param
    return evaluate_calls(ScenarioConfig(city=city))


# -- the measure ----------------------------------------------------------------------


def test_pair_counts_hand_made() -> None:
    # Truth: {a, b, c} one incident, {d, e} another, f invalid (no incident).
    truth = {"a": "T1", "b": "T1", "c": "T1", "d": "T2", "e": "T2", "f": ""}
    # Predicted: {a, b}, {c, d, e, f}; g is not compared (its label is ignored).
    predicted = {"a": "P1", "b": "P1", "c": "P2", "d": "P2", "e": "P2", "f": "P2", "g": "P2"}
    counts = pair_counts(predicted, truth, "abcdef")
    # Predicted pairs: ab + (cd ce cf de df ef) = 7; truly: ab ac bc + de = 4; both: ab, de.
    assert counts == PairCounts(true_pairs=2, predicted_pairs=7, truth_pairs=4)
    assert counts.false_pairs == 5 and counts.missed_pairs == 2
    assert counts.precision == pytest.approx(2 / 7)
    assert counts.recall == pytest.approx(0.5)


def test_pair_counts_perfect_and_empty() -> None:
    truth = {"a": "T1", "b": "T1", "c": "T2"}
    perfect = pair_counts({"a": "X", "b": "X", "c": "Y"}, truth, "abc")
    assert (perfect.precision, perfect.recall) == (1.0, 1.0)
    # Nothing clustered: no predicted pair (precision vacuously 1), every pair missed.
    nothing = pair_counts({}, truth, "abc")
    assert nothing == PairCounts(0, 0, 1)
    assert (nothing.precision, nothing.recall) == (1.0, 0.0)
    # Everything in one cluster: every truly-together pair found, one of three right.
    lumped = pair_counts(dict.fromkeys("abc", "X"), truth, "abc")
    assert lumped.precision == pytest.approx(1 / 3)
    assert lumped.recall == 1.0


def test_pair_counts_agrees_with_brute_force() -> None:
    rng = random.Random(5)
    for _ in range(50):
        calls = [f"c{i}" for i in range(rng.randrange(1, 30))]
        truth = {c: rng.choice(["", "T1", "T2", "T3", "T4"]) for c in calls}
        predicted = {c: rng.choice(["", "P1", "P2", "P3"]) for c in calls}
        tp = pp = tt = 0
        for x, y in itertools.combinations(calls, 2):
            pred = predicted[x] != "" and predicted[x] == predicted[y]
            true = truth[x] != "" and truth[x] == truth[y]
            pp += pred
            tt += true
            tp += pred and true
        assert pair_counts(predicted, truth, calls) == PairCounts(tp, pp, tt)


# -- the default scenario -------------------------------------------------------------


def test_targets_on_the_default_scenario(report: CallClusterReport) -> None:
    assert report.failures() == []
    assert report.precision >= PRECISION_TARGET
    assert report.recall >= RECALL_TARGET


@pytest.mark.parametrize("city", CITIES)
def test_targets_over_a_day(city: str) -> None:
    r = evaluate_calls(ScenarioConfig(city=city, duration_s=86_400))  # ~2 s each
    assert r.failures() == []
    assert r.pairs.truth_pairs > 10_000


def test_report_accounts_for_every_call(report: CallClusterReport) -> None:
    assert report.duration_s == ScenarioConfig().duration_s
    assert report.calls > 900  # ~1,100 calls an hour
    assert report.compared + report.excluded_malformed + report.excluded_unclassified == (
        report.calls
    )
    assert report.excluded_malformed == 0  # the default scenario has no malformed events
    assert report.pairs.truth_pairs > 100  # enough multi-call incidents to measure
    assert report.truth_multi > 20
    # Invalid calls (pranks, silent, abandoned, information) never open or join one.
    assert report.invalid_clustered == 0
    # Every real call the engine saw classified is in an incident.
    assert dict(report.missed_calls).keys() <= {"classified after the end"}
    assert sum(n for _, n in report.missed_calls) == report.excluded_unclassified
    text = report.render()
    assert "pairwise precision" in text and "pairwise recall" in text
    assert "met." in text


def test_incidents_keep_their_alert_id(report: CallClusterReport) -> None:
    assert report.renamed_incidents == 0
    assert report.pairs_by_alert_id == report.pairs


# -- the measure can fail -------------------------------------------------------------


def test_lumping_calls_fails_precision() -> None:
    wide = EngineConfig(incidents={"call_radius_m": 10_000.0, "call_window_s": 3600})
    r = evaluate_calls(ScenarioConfig(duration_s=1800), wide)
    assert r.precision < PRECISION_TARGET
    assert r.merged_incidents > 0
    assert any("precision" in f for f in r.failures())


def test_splitting_calls_fails_recall() -> None:
    narrow = EngineConfig(incidents={"call_radius_m": 1.0})
    r = evaluate_calls(ScenarioConfig(duration_s=1800), narrow)
    assert r.recall < RECALL_TARGET
    assert r.split_incidents > 0
    assert any("radius" in why for why, _ in r.split_causes)


# -- command line ---------------------------------------------------------------------


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "calls", "--hours", "0.5", "--seed", "3", "--city", "cdmx"]) == 0
    out = capsys.readouterr().out
    assert "Call clustering: city cdmx, seed 3, 0.5 h." in out
    assert "pairwise recall" in out
    assert main(["eval", "calls", "--hours", "0.5", "--markdown", "--check"]) == 0
    assert "| pairwise precision |" in capsys.readouterr().out
    assert main(["eval", "calls", "--hours", "1000"]) == 2  # over the generator's 31 days
