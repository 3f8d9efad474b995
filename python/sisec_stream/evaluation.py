"""Measured watchlist quality: ``sisec-stream eval watchlist``.

Builds watchlists the way the generator does (its plate formats, city plate mix and
list shares: :func:`~sisec_stream.generator.fleet.build_fleet` and
:func:`~sisec_stream.generator.fleet.build_watchlist`), then matches reads with known
ground truth through :meth:`Watchlist.match` and counts:

* for reads of **listed** plates, per misread kind (``exact``, ``lookalike_1``,
  ``lookalike_2``, ``drop_first``, ``drop_last``, ``extra_first``, ``extra_last`` and
  ``misread_mix``, the generator's own misread mix): the recall (a hit on the right
  entry, at any priority), the share paged at the entry's own priority (not demoted),
  the share paged at P1/P2, and the share with a P1/P2 hit on a *wrong* entry;
* for reads of **unlisted** plates (``clean_unlisted``: correct reads of circulating
  vehicles not on the list; ``misread_unlisted``: their misreads, with the generator's
  mix): the share of reads with at least one hit at P1, P2, P3 and P4, and the share
  that would page at P1/P2.

Every read carries a confidence drawn like the generator's cameras draw it
(``generator/plate_reads.py``): correct reads 0.799-0.999, misreads 0.400-0.849, and
no confidence from 5 % of reads (cameras that send none). The reads are the
normalised plates (the printing style does not change what matches).

Seeded and deterministic: the same arguments give the same counts. ``docs/watchlist.md``
records the table and what it means.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from sisec_stream.generator.config import CITY_PRESETS, ScenarioConfig, derive_rng
from sisec_stream.generator.fleet import Fleet, build_fleet, build_watchlist
from sisec_stream.generator.plates import lookalike_variant, misread
from sisec_stream.watchlist import Hit, Watchlist, WatchlistConfig

__all__ = [
    "LISTED_KINDS",
    "MISREAD_RATE",
    "TARGETS",
    "UNLISTED_KINDS",
    "EvalReport",
    "ListedResult",
    "RunResult",
    "Target",
    "UnlistedResult",
    "add_eval_arguments",
    "evaluate_watchlist",
    "render_report",
    "run_eval",
]

#: Reads of listed plates, by how the camera got them wrong.
LISTED_KINDS: Final = (
    "exact",
    "lookalike_1",
    "lookalike_2",
    "drop_first",
    "drop_last",
    "extra_first",
    "extra_last",
    "misread_mix",
)
#: Reads of plates that are not on the list.
UNLISTED_KINDS: Final = ("clean_unlisted", "misread_unlisted")

DEFAULT_SIZES: Final = (10_000, 100_000, 1_000_000)
DEFAULT_READS: Final = 20_000
#: Clean unlisted reads per listed-kind read: the false-hit rate needs the most reads.
UNLISTED_FACTOR: Final = 5

#: The generator's share of misread plates (``ScenarioConfig.misread_rate``).
MISREAD_RATE: Final = ScenarioConfig().misread_rate
#: Any fixed time: generated entries have no validity window (2026-11-23T12:00:00Z).
_AT_MS: Final = 1_795_435_200_000
#: Cameras that send no confidence (``build_camera_profiles``: 95 % send one).
_NO_CONFIDENCE_SHARE: Final = 0.05
#: Characters a read may gain at an edge (a screw, a frame, a sticker read as one).
_EXTRA_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
#: Draws to find a second look-alike position before giving a plate up.
_TWO_SUB_TRIES: Final = 16
_EXAMPLES: Final = 5
#: The most urgent priorities, the ones that page: P1 and P2.
_PAGED: Final = 2


@dataclass(frozen=True)
class Target:
    """One quality target of the issue: ``kind``'s ``measure`` against ``bound``.

    Attributes:
        kind: A read kind (:data:`LISTED_KINDS` or :data:`UNLISTED_KINDS`).
        measure: ``recall`` (at least ``bound``) or ``paged`` (P1/P2 share, at most).
        bound: The target.
        min_substitutions: Only checked in runs allowing this many substitutions.
    """

    kind: str
    measure: str
    bound: float
    min_substitutions: int = 0


#: The issue's targets, checked in every run (every list size and configuration).
TARGETS: Final = (
    Target("exact", "recall", 1.0),
    Target("lookalike_1", "recall", 0.99, min_substitutions=1),
    Target("lookalike_2", "recall", 0.95, min_substitutions=2),
    Target("drop_first", "recall", 0.95),
    Target("drop_last", "recall", 0.95),
    Target("clean_unlisted", "paged", 0.0001),
)


@dataclass(frozen=True)
class ListedResult:
    """Reads of listed plates of one kind in one run.

    Attributes:
        kind: The read kind.
        reads: Reads matched.
        skipped: Listed plates drawn that cannot give this kind (no look-alike
            character, or fewer than two for ``lookalike_2``); another was drawn.
        recalled: Reads with a hit on the right entry (any priority).
        at_list_priority: ... whose hit pages at the entry's own priority.
        paged: ... whose hit pages at P1 or P2.
        wrong_any: Reads with a hit on another entry (any priority).
        wrong_paged: Reads with a P1/P2 hit on another entry.
        missed: Examples of reads without a hit on the right entry.
        wrong: Examples of P1/P2 hits on another entry.
    """

    kind: str
    reads: int
    skipped: int
    recalled: int
    at_list_priority: int
    paged: int
    wrong_any: int
    wrong_paged: int
    missed: tuple[str, ...] = ()
    wrong: tuple[str, ...] = ()

    @property
    def recall(self) -> float:
        """Share of reads with a hit on the right entry."""
        return self.recalled / self.reads if self.reads else 0.0


@dataclass(frozen=True)
class UnlistedResult:
    """Reads of unlisted plates of one kind in one run.

    Attributes:
        kind: ``clean_unlisted`` or ``misread_unlisted``.
        reads: Reads matched.
        with_hit: Reads with at least one hit.
        at_priority: Reads with at least one hit at P1, P2, P3, P4 (a read may
            count at several levels).
        paged: Reads with a hit at P1 or P2.
        hits: Hits in all.
        paged_by: How the most urgent hit of the paged reads matched (``exact``,
            ``lookalike``, ``dropped_last``, ...), most common first.
        examples: Examples of P1/P2 hits.
    """

    kind: str
    reads: int
    with_hit: int
    at_priority: tuple[int, int, int, int]
    paged: int
    hits: int
    paged_by: tuple[tuple[str, int], ...] = ()
    examples: tuple[str, ...] = ()

    @property
    def paged_rate(self) -> float:
        """Share of reads that would page at P1/P2."""
        return self.paged / self.reads if self.reads else 0.0


@dataclass(frozen=True)
class RunResult:
    """One list size under one matching configuration.

    Attributes:
        size: Listed entries.
        max_substitutions: The configuration's look-alike substitution limit.
        load_s: Seconds to load the list (``Watchlist.from_csv_bytes``).
        match_s: Seconds matching every read (``Watchlist.match``, one call each).
        listed: One result per :data:`LISTED_KINDS`.
        unlisted: One result per :data:`UNLISTED_KINDS`.
    """

    size: int
    max_substitutions: int
    load_s: float
    match_s: float
    listed: tuple[ListedResult, ...]
    unlisted: tuple[UnlistedResult, ...]

    def kind(self, kind: str) -> ListedResult | UnlistedResult:
        """The result of one read kind."""
        for lr in self.listed:
            if lr.kind == kind:
                return lr
        for ur in self.unlisted:
            if ur.kind == kind:
                return ur
        raise KeyError(kind)

    @property
    def reads(self) -> int:
        """Reads matched in this run."""
        return sum(r.reads for r in self.listed) + sum(r.reads for r in self.unlisted)


@dataclass(frozen=True)
class EvalReport:
    """What :func:`evaluate_watchlist` measured.

    Attributes:
        city: The generator's city preset (its plate mix).
        seed: The seed.
        reads: Reads per listed kind (and of ``misread_unlisted``).
        unlisted_reads: Reads of ``clean_unlisted``.
        runs: One per list size and configuration.
        build_s: Seconds spent generating plates, lists and reads.
        total_s: Seconds in all.
    """

    city: str
    seed: int
    reads: int
    unlisted_reads: int
    runs: tuple[RunResult, ...]
    build_s: float
    total_s: float

    def failures(self) -> list[str]:
        """The :data:`TARGETS` missed, one line each (empty: every target met)."""
        out: list[str] = []
        for run in self.runs:
            for t in TARGETS:
                if run.max_substitutions < t.min_substitutions:
                    continue
                r = run.kind(t.kind)
                where = f"{_size(run.size)} entries, max_substitutions={run.max_substitutions}"
                if isinstance(r, ListedResult) and t.measure == "recall":
                    if r.recall < t.bound:
                        out.append(f"{t.kind} recall {_pct(r.recall)} < {_pct(t.bound)} ({where})")
                elif isinstance(r, UnlistedResult) and t.measure == "paged":
                    if r.paged_rate > t.bound:
                        out.append(
                            f"{t.kind} P1/P2 rate {_pct(r.paged_rate, 4)} > "
                            f"{_pct(t.bound, 4)} ({where})"
                        )
                else:  # pragma: no cover - a TARGETS typo
                    raise ValueError(f"target {t} does not apply to {r.kind}")
        return out


# -- reads ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Read:
    plate: str  # the true plate
    read: str  # what the camera read (normalised)
    confidence: float | None
    entry_id: str  # the right entry; "" for unlisted plates
    priority: int  # the right entry's priority; 0 for unlisted plates


def _confidence(rng: random.Random, misread_: bool) -> float | None:
    """A read's confidence, drawn like ``ReadFormatter.run`` draws it."""
    if rng.random() < _NO_CONFIDENCE_SHARE:
        return None
    if misread_:
        return (400 + int(450 * rng.random())) / 1000
    r = rng.random()
    return (999 - int(200 * r * r)) / 1000


def _two_lookalikes(norm: str, rng: random.Random) -> str | None:
    """``norm`` with look-alike substitutions at two distinct positions, or None."""
    first = lookalike_variant(norm, rng)
    if first is None:
        return None
    for _ in range(_TWO_SUB_TRIES):
        second = lookalike_variant(first, rng)
        if second is not None and sum(a != b for a, b in zip(norm, second, strict=True)) == 2:
            return second
    return None


def _variant(kind: str, norm: str, lens: tuple[int, ...], rng: random.Random) -> str | None:
    """How a camera reads ``norm`` for a read ``kind``; None if it cannot."""
    if kind in ("exact", "clean_unlisted"):
        return norm
    if kind == "lookalike_1":
        return lookalike_variant(norm, rng)
    if kind == "lookalike_2":
        return _two_lookalikes(norm, rng)
    if kind == "drop_first":
        return norm[1:]
    if kind == "drop_last":
        return norm[:-1]
    if kind == "extra_first":
        return _EXTRA_CHARS[int(rng.random() * len(_EXTRA_CHARS))] + norm
    if kind == "extra_last":
        return norm + _EXTRA_CHARS[int(rng.random() * len(_EXTRA_CHARS))]
    if kind in ("misread_mix", "misread_unlisted"):
        return misread(norm, lens, rng)[0]
    raise ValueError(f"unknown read kind {kind!r}")


def _listed_reads(
    rows: Sequence[tuple[str, str, str, str]], kind: str, n: int, rng: random.Random
) -> tuple[list[_Read], int]:
    """``n`` reads of random listed plates, and how many plates could not give one."""
    out: list[_Read] = []
    skipped = 0
    clean = kind == "exact"
    while len(out) < n:
        entry_id, plate, _, priority = rows[int(rng.random() * len(rows))]
        # One segment: the read only depends on the lens for its printing.
        read = _variant(kind, plate, (len(plate),), rng)
        if read is None:
            skipped += 1
            if skipped > 50 * n + 1000:
                raise RuntimeError(f"cannot make {kind} reads of these plates")
            continue
        out.append(_Read(plate, read, _confidence(rng, not clean), entry_id, int(priority)))
    return out, skipped


def _unlisted_reads(
    fleet: Fleet, listed: set[str], kind: str, n: int, rng: random.Random
) -> list[_Read]:
    """``n`` reads of distinct circulating vehicles that are not on the list."""
    candidates = [v for v in range(len(fleet.plates)) if fleet.plates[v] not in listed]
    if len(candidates) < n:
        raise RuntimeError(f"the fleet has {len(candidates)} unlisted vehicles; {n} needed")
    out: list[_Read] = []
    clean = kind == "clean_unlisted"
    for v in rng.sample(candidates, n):
        plate = fleet.plates[v]
        read = _variant(kind, plate, fleet.formats[fleet.fmt[v]].lens, rng)
        if read is None:  # pragma: no cover - every kind here gives a read
            continue
        out.append(_Read(plate, read, _confidence(rng, not clean), "", 0))
    return out


# -- matching -------------------------------------------------------------------------


def _describe(r: _Read, h: Hit | None = None) -> str:
    conf = "none" if r.confidence is None else f"{r.confidence:.3f}"
    head = f"{r.plate} read as {r.read} (confidence {conf})"
    if h is None:
        return head + ": no hit on its entry"
    how = h.kind + (f" {h.edge}" if h.edge else "")
    return f"{head} -> {h.plate} on {h.list}: {how}, score {h.score:.2f}, P{h.priority}"


def _match_listed(wl: Watchlist, kind: str, reads: list[_Read], skipped: int) -> ListedResult:
    recalled = at_list = paged = wrong_any = wrong_paged = 0
    missed: list[str] = []
    wrong: list[str] = []
    match = wl.match
    for r in reads:
        right: Hit | None = None
        top_wrong: Hit | None = None
        for h in match(r.read, at=_AT_MS, confidence=r.confidence):
            if h.entry_id == r.entry_id:
                right = h
            elif top_wrong is None or h.priority < top_wrong.priority:
                top_wrong = h
        if right is None:
            if len(missed) < _EXAMPLES:
                missed.append(_describe(r))
        else:
            recalled += 1
            at_list += right.priority == r.priority
            paged += right.priority <= _PAGED
        if top_wrong is not None:
            wrong_any += 1
            if top_wrong.priority <= _PAGED:
                wrong_paged += 1
                if len(wrong) < _EXAMPLES:
                    wrong.append(_describe(r, top_wrong))
    return ListedResult(
        kind,
        len(reads),
        skipped,
        recalled,
        at_list,
        paged,
        wrong_any,
        wrong_paged,
        tuple(missed),
        tuple(wrong),
    )


def _match_unlisted(wl: Watchlist, kind: str, reads: list[_Read]) -> UnlistedResult:
    with_hit = paged = hits = 0
    levels = [0, 0, 0, 0]
    examples: list[str] = []
    paged_by: Counter[str] = Counter()
    match = wl.match
    for r in reads:
        found = match(r.read, at=_AT_MS, confidence=r.confidence)
        if not found:
            continue
        with_hit += 1
        hits += len(found)
        for p in {h.priority for h in found}:
            levels[p - 1] += 1
        top = min(found, key=lambda h: h.priority)
        if top.priority <= _PAGED:
            paged += 1
            paged_by[top.edge or top.kind] += 1
            if len(examples) < _EXAMPLES:
                examples.append(_describe(r, top))
    return UnlistedResult(
        kind,
        len(reads),
        with_hit,
        (levels[0], levels[1], levels[2], levels[3]),
        paged,
        hits,
        tuple(paged_by.most_common()),
        tuple(examples),
    )


def _csv(rows: Sequence[tuple[str, str, str, str]]) -> bytes:
    """The generator's watchlist rows as the CSV the loader reads."""
    body = "".join(f"{e},{p},{lst},{prio}\n" for e, p, lst, prio in rows)
    return ("entry_id,plate,list,priority\n" + body).encode()


def evaluate_watchlist(
    list_sizes: Sequence[int] = DEFAULT_SIZES,
    reads: int = DEFAULT_READS,
    seed: int = 7,
    max_substitutions: Sequence[int] = (1, 2),
    *,
    unlisted_reads: int | None = None,
    city: str = "medellin",
    config: WatchlistConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvalReport:
    """Measure recall and false hits of the watchlist matcher on generated plates.

    For each list size, a watchlist of that many entries is generated with the
    city's plate mix and list shares, and a population of circulating vehicles that
    are not on it; every read kind is drawn from them (the same reads for every
    configuration of that size, the same unlisted vehicles for every size) and
    matched one read at a time with its confidence.

    Args:
        list_sizes: Listed entries, one run (per configuration) each.
        reads: Reads per listed kind (:data:`LISTED_KINDS`) and of
            ``misread_unlisted``.
        seed: Seeds every draw.
        max_substitutions: One run per value (0-2) for each size.
        unlisted_reads: Reads of ``clean_unlisted``; default ``5 * reads``.
        city: The generator's city preset (plate formats and their mix).
        config: Matching rules; ``max_substitutions`` is replaced per run.
        progress: Called with a line of text as the work goes on.

    Returns:
        The counts per run; :meth:`EvalReport.failures` checks :data:`TARGETS`.

    Raises:
        ValueError: an argument is out of range (unknown city, no sizes, ...).
    """
    if city not in CITY_PRESETS:
        raise ValueError(f"unknown city {city!r}; choose one of {', '.join(CITY_PRESETS)}")
    if not list_sizes or any(n < 1 for n in list_sizes):
        raise ValueError("list sizes must be at least 1 entry each")
    if not max_substitutions or any(not 0 <= k <= 2 for k in max_substitutions):
        raise ValueError("max_substitutions values must be 0, 1 or 2")
    if reads < 1:
        raise ValueError("reads must be at least 1")
    n_unlisted = UNLISTED_FACTOR * reads if unlisted_reads is None else unlisted_reads
    if n_unlisted < 1:
        raise ValueError("unlisted_reads must be at least 1")
    say = progress if progress is not None else (lambda _: None)
    base = config if config is not None else WatchlistConfig()
    preset = CITY_PRESETS[city]
    t_start = time.perf_counter()
    build_s = 0.0
    # Circulating vehicles, none listed: the watchlists below never take their plates.
    fleet = build_fleet(
        preset, n_unlisted + reads, 0.0, max(list_sizes), derive_rng(seed, "eval/fleet")
    )
    build_s += time.perf_counter() - t_start
    runs: list[RunResult] = []
    for size in list_sizes:
        t0 = time.perf_counter()
        say(f"{_size(size)} entries: generating the list and the reads")
        rows = build_watchlist(
            dataclasses.replace(fleet, watchlist_size=size),
            preset,
            derive_rng(seed, f"eval/{size}/watchlist"),
        )
        listed_plates = {p for _, p, _, _ in rows}
        listed_reads: dict[str, tuple[list[_Read], int]] = {
            kind: _listed_reads(rows, kind, reads, derive_rng(seed, f"eval/{size}/{kind}"))
            for kind in LISTED_KINDS
        }
        unlisted: dict[str, list[_Read]] = {
            kind: _unlisted_reads(
                fleet, listed_plates, kind, n, derive_rng(seed, f"eval/{size}/{kind}")
            )
            for kind, n in zip(UNLISTED_KINDS, (n_unlisted, reads), strict=True)
        }
        data = _csv(rows)
        del rows, listed_plates
        build_s += time.perf_counter() - t0
        for k in max_substitutions:
            say(f"{_size(size)} entries, max_substitutions={k}: loading and matching")
            t1 = time.perf_counter()
            wl = Watchlist.from_csv_bytes(
                data,
                f"<eval {size}>",
                config=dataclasses.replace(base, max_substitutions=k),
            )
            t2 = time.perf_counter()
            listed_results = tuple(
                _match_listed(wl, kind, *listed_reads[kind]) for kind in LISTED_KINDS
            )
            unlisted_results = tuple(
                _match_unlisted(wl, kind, unlisted[kind]) for kind in UNLISTED_KINDS
            )
            t3 = time.perf_counter()
            del wl
            runs.append(RunResult(size, k, t2 - t1, t3 - t2, listed_results, unlisted_results))
    return EvalReport(
        city, seed, reads, n_unlisted, tuple(runs), build_s, time.perf_counter() - t_start
    )


# -- rendering ------------------------------------------------------------------------


def _size(n: int) -> str:
    """10000 -> 10k, 1000000 -> 1M."""
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % div == 0:
            return f"{n // div}{suffix}"
    return f"{n:,}"


def _pct(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f} %"


def _share(n: int, d: int, digits: int = 2) -> str:
    return _pct(n / d, digits) if d else "-"


def _count_rate(n: int, d: int) -> str:
    """``n (rate)``; for 0, the 95 % upper bound by the rule of three."""
    if not d:
        return "-"
    if n == 0:
        return f"0 (< {_pct(3 / d, 4)})"
    return f"{n:,} ({_pct(n / d, 4)})"


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    markdown: bool,
    left: Sequence[int] = (0,),
) -> list[str]:
    """A table; in plain text, columns ``left`` are left-aligned, the others right."""
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return lines
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=True)]

    def fmt(cells: Sequence[str]) -> str:
        padded = (
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    return [fmt(header), "  ".join("-" * w for w in widths), *map(fmt, rows)]


def _listed_table(
    report: EvalReport, title: str, value: Callable[[ListedResult], str], markdown: bool
) -> list[str]:
    header = ["read kind", *(f"{_size(r.size)} max{r.max_substitutions}" for r in report.runs)]
    rows = []
    for i, kind in enumerate(LISTED_KINDS):
        rows.append([kind, *(value(r.listed[i]) for r in report.runs)])
    return [f"{'### ' if markdown else ''}{title}", "", *_table(header, rows, markdown), ""]


def _iter_examples(report: EvalReport) -> Iterator[str]:
    for run in report.runs:
        where = f"{_size(run.size)} max{run.max_substitutions}"
        for lr in run.listed:
            for e in lr.missed:
                yield f"{where} {lr.kind} missed: {e}"
            for e in lr.wrong:
                yield f"{where} {lr.kind} wrong entry paged: {e}"
        for ur in run.unlisted:
            for e in ur.examples:
                yield f"{where} {ur.kind} paged: {e}"


def render_report(report: EvalReport, *, markdown: bool = False, examples: int = 20) -> str:
    """The report as aligned text tables, or Markdown tables with ``markdown``.

    Columns ``10k max1`` are the runs: list size and ``max_substitutions``.
    """
    h = "### " if markdown else ""
    out = [
        f"Watchlist quality: city {report.city}, seed {report.seed}, "
        f"{report.reads:,} reads per listed kind, {report.unlisted_reads:,} clean unlisted "
        f"reads, {report.reads:,} misread unlisted reads per run.",
        "",
    ]
    out += _listed_table(
        report, "Recall: a hit on the right entry, any priority", lambda r: _pct(r.recall), markdown
    )
    out += _listed_table(
        report,
        "Paged at the entry's own priority (not demoted)",
        lambda r: _share(r.at_list_priority, r.reads),
        markdown,
    )
    out += _listed_table(
        report,
        "Paged at P1/P2 (stolen_plate entries are P3: at most ~85 %)",
        lambda r: _share(r.paged, r.reads),
        markdown,
    )
    out += _listed_table(
        report,
        "Reads with a P1/P2 hit on a wrong entry",
        lambda r: _count_rate(r.wrong_paged, r.reads),
        markdown,
    )
    header = [
        "entries",
        "max subs",
        "reads",
        "read kind",
        "any hit",
        ">=1 hit P1",
        "P2",
        "P3",
        "P4",
        "paged P1/P2",
    ]
    rows = [
        [
            _size(run.size),
            str(run.max_substitutions),
            f"{u.reads:,}",
            u.kind,
            _share(u.with_hit, u.reads),
            *(_share(n, u.reads, 3) for n in u.at_priority),
            _count_rate(u.paged, u.reads),
        ]
        for run in report.runs
        for u in run.unlisted
    ]
    out += [
        f"{h}False hits on unlisted plates",
        "",
        *_table(header, rows, markdown, left=(0, 3)),
        "",
    ]
    rate = MISREAD_RATE
    header = [
        "entries",
        "max subs",
        "clean",
        "misread",
        f"all unlisted reads ({_pct(rate, 0)} misread)",
        "misreads paged by",
    ]
    rows = []
    for run in report.runs:
        clean, mis = run.unlisted
        mixed = (1 - rate) * clean.paged_rate + rate * mis.paged_rate
        by = ", ".join(f"{k} {n:,}" for k, n in mis.paged_by) or "-"
        rows.append(
            [
                _size(run.size),
                str(run.max_substitutions),
                f"{1e6 * clean.paged_rate:,.0f}",
                f"{1e6 * mis.paged_rate:,.0f}",
                f"{1e6 * mixed:,.0f}",
                by,
            ]
        )
    out += [
        f"{h}P1/P2 pages per million unlisted reads",
        "",
        *_table(header, rows, markdown, left=(0, 5)),
        "",
    ]
    failures = report.failures()
    out += [f"{h}Targets", ""]
    for t in TARGETS:
        sign = ">=" if t.measure == "recall" else "<="
        extra = f" (runs with max_substitutions >= {t.min_substitutions})"
        note = extra if t.min_substitutions > 1 else ""
        digits = 2 if t.measure == "recall" else 4
        out.append(f"- {t.kind} {t.measure} {sign} {_pct(t.bound, digits)}{note}")
    out.append("")
    out += [f"MISSED: {f}" for f in failures] if failures else ["Every target met in every run."]
    out.append("")
    header = ["entries", "max subs", "load s", "reads", "match s", "reads/s"]
    rows = [
        [
            _size(run.size),
            str(run.max_substitutions),
            f"{run.load_s:.2f}",
            f"{run.reads:,}",
            f"{run.match_s:.2f}",
            f"{run.reads / run.match_s:,.0f}" if run.match_s > 0 else "-",
        ]
        for run in report.runs
    ]
    out += [f"{h}Timings", "", *_table(header, rows, markdown), ""]
    out.append(f"Generating lists and reads: {report.build_s:.1f} s; total {report.total_s:.1f} s.")
    shown = list(_iter_examples(report))[:examples]
    if shown:
        out += ["", f"{h}Examples (misses and P1/P2 false hits)", ""]
        out += [f"- {e}" for e in shown] if markdown else shown
    return "\n".join(out) + "\n"


# -- command line ---------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r}: write integers separated by commas")
    return values


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``eval``'s arguments: ``watchlist`` and its options."""
    parser.add_argument("what", choices=["watchlist"], help="what to evaluate")
    parser.add_argument(
        "--sizes",
        type=_int_list,
        default=list(DEFAULT_SIZES),
        help="list sizes, comma-separated (default: 10000,100000,1000000)",
    )
    parser.add_argument(
        "--reads",
        type=int,
        default=DEFAULT_READS,
        help=f"reads per misread kind (default: {DEFAULT_READS:,}; clean unlisted reads: "
        f"{UNLISTED_FACTOR}x)",
    )
    parser.add_argument("--unlisted-reads", type=int, help="clean unlisted reads per run")
    parser.add_argument("--seed", type=int, default=7, help="seed (default: 7)")
    parser.add_argument(
        "--city",
        choices=sorted(CITY_PRESETS),
        default="medellin",
        help="the city preset whose plate mix to use (default: medellin)",
    )
    parser.add_argument(
        "--max-substitutions",
        type=_int_list,
        default=[1, 2],
        help="configurations to run, comma-separated 0-2 (default: 1,2)",
    )
    parser.add_argument("--markdown", action="store_true", help="Markdown tables")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if a target is missed"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run_eval(args: argparse.Namespace) -> int:
    """Run ``sisec-stream eval watchlist``; print the report. Returns the exit status."""
    prog = "sisec-stream eval watchlist"

    def progress(line: str) -> None:
        print(f"{prog}: {line}", file=sys.stderr, flush=True)

    try:
        report = evaluate_watchlist(
            args.sizes,
            args.reads,
            args.seed,
            args.max_substitutions,
            unlisted_reads=args.unlisted_reads,
            city=args.city,
            progress=None if args.quiet else progress,
        )
    except ValueError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    print(render_report(report, markdown=args.markdown), end="")
    return 1 if args.check and report.failures() else 0
