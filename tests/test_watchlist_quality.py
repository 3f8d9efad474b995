"""Watchlist matching quality: recall and false hits must not regress.

Runs ``sisec-stream eval watchlist`` (:func:`evaluate_watchlist`) on a 100k-entry
list generated with Medellín's plate mix, and holds the issue's targets (recall of
one and two look-alike substitutions and of a dropped edge character; P1/P2 pages on
clean unlisted reads). docs/watchlist.md records the full table (10k-1M entries).
"""

from __future__ import annotations

import dataclasses
from typing import Final

import pytest

from sisec_stream.cli import main
from sisec_stream.evaluation import (
    LISTED_KINDS,
    TARGETS,
    UNLISTED_KINDS,
    EvalReport,
    ListedResult,
    UnlistedResult,
    evaluate_watchlist,
    render_report,
)
from sisec_stream.watchlist import WatchlistConfig

SIZE: Final = 100_000
READS: Final = 10_000
UNLISTED_READS: Final = 100_000
SEED: Final = 7


@pytest.fixture(scope="module")
def report() -> EvalReport:
    return evaluate_watchlist(
        (SIZE,), READS, SEED, (1, 2), unlisted_reads=UNLISTED_READS, city="medellin"
    )


def listed(report: EvalReport, max_subs: int, kind: str) -> ListedResult:
    (run,) = (r for r in report.runs if r.max_substitutions == max_subs)
    result = run.kind(kind)
    assert isinstance(result, ListedResult)
    return result


def unlisted(report: EvalReport, max_subs: int, kind: str) -> UnlistedResult:
    (run,) = (r for r in report.runs if r.max_substitutions == max_subs)
    result = run.kind(kind)
    assert isinstance(result, UnlistedResult)
    return result


def test_every_kind_was_measured_on_enough_reads(report: EvalReport) -> None:
    assert [(r.size, r.max_substitutions) for r in report.runs] == [(SIZE, 1), (SIZE, 2)]
    for run in report.runs:
        assert [r.kind for r in run.listed] == list(LISTED_KINDS)
        assert [r.kind for r in run.unlisted] == list(UNLISTED_KINDS)
        assert all(r.reads == READS for r in run.listed)
        assert run.unlisted[0].reads == UNLISTED_READS
        assert run.unlisted[1].reads == READS
    # Plates without two look-alike characters cannot give a lookalike_2 read.
    assert 0 < listed(report, 2, "lookalike_2").skipped < READS


@pytest.mark.parametrize("max_subs", [1, 2])
def test_recall_targets(report: EvalReport, max_subs: int) -> None:
    exact = listed(report, max_subs, "exact")
    assert exact.recalled == exact.reads, exact.missed
    assert exact.at_list_priority == exact.reads, "an exact read pages at its list's priority"
    assert listed(report, max_subs, "lookalike_1").recall >= 0.99
    for kind in ("drop_first", "drop_last", "extra_first", "extra_last", "misread_mix"):
        assert listed(report, max_subs, kind).recall >= 0.95, kind
    two = listed(report, max_subs, "lookalike_2")
    if max_subs == 2:
        assert two.recall >= 0.95, two.missed
    else:
        assert two.recalled == 0, "max_substitutions=1 must not find two substitutions"


@pytest.mark.parametrize("max_subs", [1, 2])
def test_clean_unlisted_reads_do_not_page(report: EvalReport, max_subs: int) -> None:
    clean = unlisted(report, max_subs, "clean_unlisted")
    assert clean.paged_rate <= 0.0001, clean.examples
    # A clean read scores below 0.2 against any look-alike or edge: shown at P4 only.
    assert clean.at_priority[:3] == (0, 0, 0)
    assert 0 < clean.with_hit < 0.05 * clean.reads


def test_misread_unlisted_reads_stay_at_the_measured_rate(report: EvalReport) -> None:
    # Not a target of the issue: the measured figure (docs/watchlist.md, 0.03 % / 0.085 %
    # at 100k entries with max 1 / 2) with room, so a regression (e.g. a lost edge
    # scored as strong evidence again: ~1.1 %) shows.
    for max_subs in (1, 2):
        mis = unlisted(report, max_subs, "misread_unlisted")
        assert mis.paged_rate <= 0.003, mis.paged_by


def test_report_meets_every_target_and_renders(report: EvalReport) -> None:
    assert report.failures() == []
    text = render_report(report)
    assert "Every target met in every run." in text
    assert "100k max2" in text
    md = render_report(report, markdown=True)
    assert "| read kind | 100k max1 | 100k max2 |" in md
    assert len(TARGETS) == 6


def test_a_degraded_matcher_fails_the_targets() -> None:
    # The check can fail: without edges, dropped characters are never found.
    report = evaluate_watchlist(
        (2_000,),
        300,
        SEED,
        (1,),
        unlisted_reads=1_000,
        config=WatchlistConfig(edges=False),
    )
    failures = report.failures()
    assert any(f.startswith("drop_first recall 0.00 %") for f in failures), failures
    assert any(f.startswith("drop_last recall") for f in failures), failures
    assert "MISSED: drop_first" in render_report(report)
    # And a breach of the false-page budget is reported too.
    (run,) = report.runs
    clean = dataclasses.replace(run.unlisted[0], paged=run.unlisted[0].reads)
    noisy = dataclasses.replace(run, unlisted=(clean, run.unlisted[1]))
    assert any(
        f.startswith("clean_unlisted P1/P2 rate 100.0000 %")
        for f in dataclasses.replace(report, runs=(noisy,)).failures()
    )


def test_seeded_and_deterministic() -> None:
    def counts(seed: int) -> list[tuple[int, ...]]:
        r = evaluate_watchlist((3_000,), 200, seed, (2,), unlisted_reads=500)
        return [
            (x.recalled, x.at_list_priority, x.wrong_any, x.skipped) for x in r.runs[0].listed
        ] + [(x.with_hit, x.paged, x.hits, *x.at_priority) for x in r.runs[0].unlisted]

    assert counts(3) == counts(3)
    assert counts(3) != counts(4)


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", "watchlist", "--sizes", "2000", "--reads", "200", "--quiet", "--check"]
    assert main([*argv, "--markdown", "--max-substitutions", "1,2"]) == 0
    out = capsys.readouterr().out
    assert "| read kind | 2k max1 | 2k max2 |" in out
    assert "Every target met in every run." in out
    assert main([*argv, "--max-substitutions", "3"]) == 2
    assert "0, 1 or 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "watchlist", "--sizes", "ten"])
