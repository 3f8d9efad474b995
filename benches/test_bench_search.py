"""Archive search: one plate over a month of a city's reads, beside the obvious way.

Run: ``.venv/bin/python -m pytest benches/test_bench_search.py --benchmark-only``.
Size: ``SISEC_BENCH_SEARCH_READS`` reads in the month (default 150,000, so that CI's
``--benchmark-disable`` run takes seconds; a Rio de Janeiro month is 36,000,000),
``SISEC_BENCH_SEARCH_FILES_PER_DAY`` files per ``date=`` partition (default 8, or 48
from 10M reads: two writers flushing hourly), ``SISEC_BENCH_SEARCH_CAMERAS``
(default 300, or 1,000 from 10M reads). ``SISEC_BENCH_SEARCH_DIR`` keeps the
generated archives there between runs (generating 36M reads twice takes minutes);
otherwise they go to pytest's temporary folder.

The month is ``benches/archive_month.py``'s: a fleet of ``reads / 24`` plates in
the Medellín format mix, a few vehicles seen often and most rarely, 3 % OCR misreads,
every column of the archive layout. The searched plate is a fleet vehicle seen about
as often as the average one. Group ``search_month``:

* ``test_search_variants``: :func:`sisec_stream.search.search` over the whole month
  (the plate's read variants filtered by polars' lazy scan, then confirmed);
* ``test_baseline_polars_match_batch``: the obvious way: polars reads the plate
  column of every read in the range, file by file, and every plate goes through
  ``Watchlist.match_batch`` of the same one-entry watchlist; the rows it hits are
  read in full and confirmed the same way (projection and confirmation as the
  search: the ratio measures the variant pruning alone). It must find the same
  sightings;
* ``test_search_pseudonymized``: the same search in a pseudonymized archive of the
  same month (plates null, keyed tokens), through the variants' tokens.

The summary prints rows/s (``events``) and the ratio to the baseline; each test also
prints seconds per search, files and size on disk. Page cache: the archives were just
written (or read by the previous round), so these are warm-cache figures.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl
import pytest

from archive_month import MonthInfo, MonthSpec, archive_size, write_month
from sisec_stream.search import (
    PLATE_READ_SCHEMA,
    SearchResult,
    Sighting,
    archive_files,
    confirm,
    search,
)
from sisec_stream.watchlist import Watchlist

READS: Final = int(os.environ.get("SISEC_BENCH_SEARCH_READS", "150000"))
LARGE: Final = READS >= 10_000_000
FILES_PER_DAY: Final = int(
    os.environ.get("SISEC_BENCH_SEARCH_FILES_PER_DAY", "48" if LARGE else "8")
)
CAMERAS: Final = int(os.environ.get("SISEC_BENCH_SEARCH_CAMERAS", "1000" if LARGE else "300"))
KEY: Final = bytes(range(100, 132))
START: Final = datetime(2026, 10, 1, tzinfo=UTC)
UNTIL: Final = START + timedelta(days=30)
GROUP: Final = "search_month"
_OUT: Final = tuple(k for k in PLATE_READ_SCHEMA if k not in ("candidates", "hit"))


def _month(tmp: pytest.TempPathFactory, name: str, spec: MonthSpec) -> MonthInfo:
    """Generate the month, or reuse it from ``SISEC_BENCH_SEARCH_DIR``."""
    keep = os.environ.get("SISEC_BENCH_SEARCH_DIR")
    tag = f"{name}-{spec.reads}-{spec.files_per_day}-{spec.cameras}"
    root = Path(keep) / tag if keep else tmp.mktemp(tag)
    marker = root / ".month.json"
    if marker.exists():
        d = json.loads(marker.read_text())
        return MonthInfo(root, d["rows"], d["files"], archive_size(root), tuple(d["seen"]))
    info = write_month(root, spec)
    marker.write_text(json.dumps({**asdict(info), "root": str(root)}))
    return info


def _spec(**kw: Any) -> MonthSpec:
    return MonthSpec(
        reads=READS, cameras=CAMERAS, files_per_day=FILES_PER_DAY, start=START.date(), **kw
    )


@pytest.fixture(scope="module")
def clear_month(tmp_path_factory: pytest.TempPathFactory) -> MonthInfo:
    return _month(tmp_path_factory, "clear", _spec())


@pytest.fixture(scope="module")
def pseudo_month(tmp_path_factory: pytest.TempPathFactory) -> MonthInfo:
    return _month(tmp_path_factory, "pseudo", _spec(key=KEY, pseudonymize=True))


def _target(month: MonthInfo) -> str:
    return month.seen[1]


def baseline_search(root: Path, plate: str, since: datetime, until: datetime) -> list[Sighting]:
    """Every read's plate through ``match_batch``, file by file (no variant pruning)."""
    matcher = Watchlist.from_rows([{"entry_id": "search", "plate": plate, "list": "search"}])
    _, files = archive_files(root, since, until)
    in_range = pl.col("ts").is_between(since, until, closed="left")
    found: list[Sighting] = []
    for f in files:
        lf = pl.scan_parquet(f).with_row_index("_row")
        df = lf.filter(in_range).select("_row", "plate").collect()
        hits = matcher.match_batch(df["plate"].fill_null("").to_list(), at=since)
        rows = [r for r, h in zip(df["_row"].to_list(), hits, strict=True) if h]
        if rows:
            full = lf.filter(pl.col("_row").is_in(rows)).select(_OUT).collect()
            found += confirm(matcher, full, {})
    found.sort(key=lambda s: s.ts)
    return found


def _report(
    benchmark: Any, capsys: pytest.CaptureFixture[str], month: MonthInfo, result: Any
) -> None:
    benchmark.extra_info.update(
        events=month.rows,
        files=month.files,
        archive_bytes=month.bytes,
        sightings=len(result.sightings if isinstance(result, SearchResult) else result),
    )
    if isinstance(result, SearchResult):
        benchmark.extra_info.update(variants=len(result.variants), candidates=result.candidates)
    stats = getattr(benchmark, "stats", None)
    if stats is None or benchmark.disabled:
        return
    s = stats.stats.median
    with capsys.disabled():
        print(
            f"\n  {benchmark.name}: {s:.3f} s/search (median of {stats.stats.rounds}), "
            f"{month.rows / s:,.0f} rows/s; {month.rows:,} rows, {month.files:,} files, "
            f"{month.bytes / 2**30:.2f} GiB; {benchmark.extra_info}"
        )


def _key(s: Sighting) -> tuple[Any, ...]:
    return (s.event_id, s.read, s.kind, s.score)


@pytest.mark.benchmark(group=GROUP)
def test_baseline_polars_match_batch(
    benchmark: Any, capsys: pytest.CaptureFixture[str], clear_month: MonthInfo
) -> None:
    plate = _target(clear_month)
    found = benchmark.pedantic(
        baseline_search, args=(clear_month.root, plate, START, UNTIL), rounds=1, iterations=1
    )
    _report(benchmark, capsys, clear_month, found)
    # The same sightings as the search, in the same order.
    result = search(clear_month.root, plate, since=START, until=UNTIL)
    assert [_key(s) for s in found] == [_key(s) for s in result.sightings]
    assert any(s.kind == "exact" for s in found)


@pytest.mark.benchmark(group=GROUP)
def test_search_variants(
    benchmark: Any, capsys: pytest.CaptureFixture[str], clear_month: MonthInfo
) -> None:
    plate = _target(clear_month)
    result = benchmark.pedantic(
        search,
        args=(clear_month.root, plate),
        kwargs={"since": START, "until": UNTIL},
        rounds=3,
        iterations=1,
        warmup_rounds=1,
    )
    _report(benchmark, capsys, clear_month, result)
    assert result.files == clear_month.files and result.partitions == 30
    kinds = {s.kind for s in result.sightings}
    assert "exact" in kinds and kinds <= {"exact", "lookalike", "edge"}


@pytest.mark.benchmark(group=GROUP)
def test_search_pseudonymized(
    benchmark: Any,
    capsys: pytest.CaptureFixture[str],
    pseudo_month: MonthInfo,
    clear_month: MonthInfo,
) -> None:
    plate = _target(pseudo_month)
    result = benchmark.pedantic(
        search,
        args=(pseudo_month.root, plate),
        kwargs={"since": START, "until": UNTIL, "key": KEY},
        rounds=3,
        iterations=1,
        warmup_rounds=1,
    )
    _report(benchmark, capsys, pseudo_month, result)
    assert result.sightings and all(s.pseudonymized for s in result.sightings)
    # The same month as the clear one (same seed), with tokens for plates: the
    # search finds the same reads, through their tokens.
    clear = search(clear_month.root, plate, since=START, until=UNTIL)
    assert [_key(s) for s in clear.sightings] == [_key(s) for s in result.sightings]
