"""Wildcard entries must not slow matching (issue 3): the same 100k reads against a
100k-plate watchlist without and with 20,000 witness patterns.

Run: ``.venv/bin/python -m pytest benches/test_bench_patterns.py --benchmark-only``.
The baseline here is the list without patterns: the ratio says what having the
patterns costs a read. Patterns look like witnesses' partial plates (``ABC*``,
``AB?12?``, ``?BC?23``, ``A*123``; at least 3 known characters, as the loader
requires). The reads match none of the patterns: a pattern hit is output (an
alert), not overhead, so it is measured apart (``test_pattern_hits``).
"""

from __future__ import annotations

import random
from typing import Any, Final

import pytest

from sisec_stream import Watchlist
from sisec_stream.generator.plates import FORMATS, PlateFactory

GROUP: Final = "watchlist_100k_plus_20k_patterns"
L: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
D: Final = "0123456789"


def _pattern(rng: random.Random) -> str:
    letters = "".join(rng.choice(L) for _ in range(3))
    digits = "".join(rng.choice(D) for _ in range(3))
    shape = rng.random()
    if shape < 0.4:
        return letters + "*"  # the letters seen, the digits not
    if shape < 0.7:
        return f"{letters[:2]}?{digits[:2]}?"  # two letters and two digits seen
    if shape < 0.9:
        return f"?{letters[1:]}?{digits[1:]}"  # the middle and the end seen
    return f"{letters[0]}*{digits}"  # the first letter and the digits


@pytest.fixture(scope="module")
def lists(pytestconfig: pytest.Config) -> tuple[Watchlist, Watchlist, list[str]]:
    smoke = bool(pytestconfig.getoption("benchmark_disable"))
    n_plates, n_patterns, n_reads = (10_000, 2_000, 5_000) if smoke else (100_000, 20_000, 100_000)
    rng = random.Random(3)
    factory = PlateFactory(rng)
    seen: set[str] = set()
    plates = factory.unique(FORMATS["co_car"], n_plates, seen)
    rows = [f"E{i},{p},stolen_vehicle" for i, p in enumerate(plates)]
    plain = Watchlist.from_csv_bytes(("entry_id,plate,list\n" + "\n".join(rows)).encode())
    patterns = {_pattern(rng) for _ in range(n_patterns * 2)}
    prow = [f"P{i},{p},wanted" for i, p in enumerate(sorted(patterns)[:n_patterns])]
    both = Watchlist.from_csv_bytes(("entry_id,plate,list\n" + "\n".join(rows + prow)).encode())
    drawn = factory.unique(FORMATS["co_car"], n_reads * 2, seen)
    hit = both.match_batch(drawn, at=0)
    reads = [r for r, hs in zip(drawn, hit, strict=True) if not hs][:n_reads]
    assert len(reads) == n_reads
    return plain, both, reads


@pytest.mark.benchmark(group=GROUP)
def test_baseline_match_batch_without_patterns(
    benchmark: Any, lists: tuple[Watchlist, Watchlist, list[str]]
) -> None:
    plain, _, reads = lists
    benchmark.extra_info["events"] = len(reads)
    benchmark(plain.match_batch, reads, at=0)


@pytest.mark.benchmark(group=GROUP)
def test_match_batch_with_20k_patterns(
    benchmark: Any, lists: tuple[Watchlist, Watchlist, list[str]]
) -> None:
    _, both, reads = lists
    benchmark.extra_info["events"] = len(reads)
    hits = benchmark(both.match_batch, reads, at=0)
    assert not any(hits), "the reads were drawn to match no pattern"


def test_pattern_hits(lists: tuple[Watchlist, Watchlist, list[str]]) -> None:
    """Every pattern hits the reads it should (checked against fnmatch)."""
    import fnmatch

    _, both, _ = lists
    reads = ["ABC123", "XYZ987", "KLM456"]
    pats = ["AB?12?", "ABC*", "?YZ?87", "K*456"]
    wl = Watchlist.from_rows(
        [{"entry_id": p, "plate": p, "list": "wanted"} for p in pats], source="patterns"
    )
    for read, hits in zip(reads, wl.match_batch(reads, at=0), strict=True):
        want = {p for p in pats if fnmatch.fnmatchcase(read, p)}
        assert {h.entry_id for h in hits} == want, read
    assert len(both) > 0
