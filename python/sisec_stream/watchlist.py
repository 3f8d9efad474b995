"""Watchlists (hot lists): the plates that raise an alert when read.

Matching runs in the Rust core: exact, look-alike (OCR confusion table,
plate-format templates), dropped/extra edge characters, wildcard patterns and
the read's OCR candidates, each hit with a probability-like score that decides
how urgently it pages. ``docs/watchlist.md`` describes the model.

A :class:`Watchlist` is live: :meth:`Watchlist.upsert`, :meth:`Watchlist.remove`
and :meth:`Watchlist.reload` change it while engines built on it keep matching
(they see the change from their next batch).
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from sisec_stream import _core
from sisec_stream.errors import WatchlistError

if TYPE_CHECKING:
    import polars as pl

__all__ = ["Hit", "ListSettings", "LoadReport", "Watchlist", "WatchlistConfig"]

MatchMode = Literal["exact", "lookalike"]
Time = datetime | int | str


@dataclass(frozen=True)
class ListSettings:
    """Settings of one list.

    Attributes:
        kind: ``alert`` (a hot list) or ``allow`` (a white list: in the zones that
            use it, a plate NOT on it is the alert; its entries never hit).
        priority: The list's default priority (1-4); None: the engine's
            ``[engine.priority] lists`` (docs/priority.md).
        match: ``exact`` or ``lookalike``; None: ``WatchlistConfig.default_match``.
    """

    kind: Literal["alert", "allow"] = "alert"
    priority: int | None = None
    match: MatchMode | None = None


@dataclass(frozen=True)
class WatchlistConfig:
    """How plates are matched; every field has a default (see docs/watchlist.md).

    Attributes:
        confusion: Look-alike groups, e.g. ``"0ODQ"``, ``"HKMN:0.5"`` (weight).
            None: the field's default table.
        templates: Plate formats, e.g. ``"co_car=LLLDDD"``; None: the defaults.
        max_substitutions: Most look-alike substitutions in one hit (0-2).
        edges: Match a dropped or extra first/last character.
        plate_density: Share of each format's possible plates in use (0-1): how
            likely another correction of an impossible read is a real plate.
        default_match: Match mode of lists and entries that set none.
        lists: Per-list settings by list name.
    """

    confusion: Sequence[str] | None = None
    templates: Sequence[str] | None = None
    max_substitutions: int = 1
    edges: bool = True
    plate_density: float = 0.3
    default_match: MatchMode = "lookalike"
    lists: Mapping[str, ListSettings] = field(default_factory=dict)

    def to_json(self) -> str:
        """The JSON form the Rust core reads."""
        doc: dict[str, Any] = {
            "max_substitutions": self.max_substitutions,
            "edges": self.edges,
            "plate_density": self.plate_density,
            "default_match": self.default_match,
            "lists": {k: asdict(v) for k, v in self.lists.items()},
        }
        if self.confusion is not None:
            doc["confusion"] = list(self.confusion)
        if self.templates is not None:
            doc["templates"] = list(self.templates)
        return json.dumps(doc)


class Hit(NamedTuple):
    """A read matching a watchlist entry (a named tuple: cheap to build by the million).

    Attributes:
        entry_id, list: The entry and its list.
        plate: The listed plate (or pattern).
        read: The read plate, normalised.
        kind: ``exact``, ``lookalike``, ``edge``, ``pattern`` or ``candidate``.
        score: Probability-like confidence that the read vehicle is the listed one.
        priority: How urgently it pages: the entry's/list's priority, demoted
            for weak evidence (1 = most urgent .. 4).
        substitutions: (1-based position, read character, listed character).
        edge: ``dropped_first``, ``dropped_last``, ``extra_first``, ``extra_last``.
        corroboration: ``candidate``, ``vehicle`` or ``vehicle_mismatch`` evidence.
    """

    entry_id: str
    list: str
    plate: str
    read: str
    kind: str
    score: float
    priority: int
    substitutions: tuple[tuple[int, str, str], ...] = ()
    edge: str | None = None
    corroboration: tuple[str, ...] = ()

    @classmethod
    def _from_tuple(cls, t: _core._HitTuple) -> Hit:
        entry_id, lst, plate, read, kind, score, priority, subs, edge, corr = t
        return cls(
            entry_id,
            lst,
            plate,
            read,
            kind,
            round(score, 4),
            priority,
            tuple(subs),
            edge,
            tuple(corr),
        )


@dataclass(frozen=True)
class LoadReport:
    """What a load did: rows loaded, and the bad rows skipped (line, why)."""

    source: str
    loaded: int
    skipped: tuple[tuple[int, str], ...] = ()


def to_epoch_ms(t: Time) -> int:
    """A datetime (aware), RFC 3339 text or epoch milliseconds -> epoch ms."""
    if isinstance(t, bool):
        raise TypeError("a time must be a datetime, RFC 3339 text or epoch milliseconds")
    if isinstance(t, int):
        return t
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    if t.tzinfo is None:
        raise ValueError(f"{t!r} has no UTC offset; give an aware datetime")
    return int(t.timestamp() * 1000)


_LINE = re.compile(r" line (\d+): ")


class Watchlist:
    """Plates to alert on, each entry on a named list (stolen_vehicle, wanted, ...).

    Load with :meth:`from_csv`, :meth:`from_parquet` or :meth:`from_polars`.
    Plates are normalised the same way reads are (upper case; spaces, dots and
    dashes dropped), so ``abc-123`` lists ``ABC123``.
    """

    __slots__ = ("_inner", "config", "load_report")

    def __init__(
        self, config: WatchlistConfig | None = None, *, _inner: _core.Watchlist | None = None
    ) -> None:
        """An empty watchlist (nothing matches) with these matching rules."""
        self.config = config if config is not None else WatchlistConfig()
        self._inner = _inner if _inner is not None else _core.Watchlist(self.config.to_json())
        self.load_report: LoadReport | None = None

    # -- loading ------------------------------------------------------------------

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        *,
        config: WatchlistConfig | None = None,
        skip_bad_rows: bool = False,
    ) -> Watchlist:
        """Load a CSV watchlist.

        Columns: ``plate`` and ``list`` required; ``entry_id``, ``priority`` (1-4),
        ``valid_from``, ``expires_at`` (RFC 3339, a date, or epoch ms), ``region``,
        ``make``, ``color``, ``match`` (exact/lookalike) and ``note`` optional;
        others ignored; lines starting with ``#`` are comments. A plate with ``?``
        or ``*`` is a wildcard pattern.

        Raises:
            WatchlistError: the file is missing or a row is bad (unless
                ``skip_bad_rows``; then see :attr:`load_report`); the message
                names the file, the line and what to do.
        """
        return cls.from_csv_bytes(
            _read(Path(path)), source=str(path), config=config, skip_bad_rows=skip_bad_rows
        )

    @classmethod
    def from_csv_bytes(
        cls,
        data: bytes,
        source: str = "<watchlist>",
        *,
        config: WatchlistConfig | None = None,
        skip_bad_rows: bool = False,
    ) -> Watchlist:
        """Load a CSV watchlist from memory; ``source`` names it in errors."""
        config = config if config is not None else WatchlistConfig()
        inner, loaded, skipped = _core.Watchlist.from_csv_bytes(
            data, source, config.to_json(), skip_bad_rows
        )
        wl = cls(config, _inner=inner)
        wl.load_report = LoadReport(source, loaded, tuple(skipped))
        return wl

    @classmethod
    def from_polars(
        cls,
        df: pl.DataFrame,
        source: str = "<dataframe>",
        *,
        config: WatchlistConfig | None = None,
        skip_bad_rows: bool = False,
    ) -> Watchlist:
        """Load from a polars DataFrame with the CSV columns; errors name the row."""
        try:
            return cls.from_csv_bytes(
                _polars_csv(df), source, config=config, skip_bad_rows=skip_bad_rows
            )
        except WatchlistError as e:
            raise _as_rows(e) from None

    @classmethod
    def from_parquet(
        cls,
        path: str | Path,
        *,
        config: WatchlistConfig | None = None,
        skip_bad_rows: bool = False,
    ) -> Watchlist:
        """Load a Parquet watchlist (the CSV columns), read by polars."""
        p = Path(path)
        wl = cls.from_polars(_read_parquet(p), str(p), config=config, skip_bad_rows=skip_bad_rows)
        if wl.load_report is not None and wl.load_report.skipped:
            report = wl.load_report
            rows = tuple((line - 1, why) for line, why in report.skipped)
            wl.load_report = LoadReport(report.source, report.loaded, rows)
        return wl

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, object]],
        source: str = "<rows>",
        *,
        config: WatchlistConfig | None = None,
    ) -> Watchlist:
        """Load entries given as dicts keyed by the CSV column names.

        They go through the same loader and checks as a file; errors name
        ``source`` and the row's line as if it were a CSV file with a header.
        """
        rows = list(rows)
        if not rows:
            return cls(config)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return cls.from_csv_bytes(buf.getvalue().encode(), source=source, config=config)

    def reload(
        self, path: str | Path, *, replace_all: bool = True, skip_bad_rows: bool = False
    ) -> LoadReport:
        """Reload from a CSV or Parquet file while engines keep matching.

        The new entries are parsed and indexed aside, then swapped in under a
        short write lock. ``replace_all=False`` adds/replaces the file's entries
        and keeps the others.
        """
        p = Path(path)
        data = _polars_csv(_read_parquet(p)) if p.suffix == ".parquet" else _read(p)
        loaded, skipped = self._inner.load_csv_bytes(data, str(p), skip_bad_rows, replace_all)
        self.load_report = LoadReport(str(p), loaded, tuple(skipped))
        return self.load_report

    # -- live updates -----------------------------------------------------------

    def upsert(
        self,
        entry_id: str,
        plate: str,
        list: str,
        *,
        priority: int | None = None,
        valid_from: Time | None = None,
        expires_at: Time | None = None,
        region: str | None = None,
        make: str | None = None,
        color: str | None = None,
        match: MatchMode | None = None,
        note: str | None = None,
    ) -> None:
        """Add an entry, or replace the one with this id (effective from the
        engines' next batch).

        Raises:
            WatchlistError: a field is invalid (the message says which and why).
        """
        self._inner.upsert(
            entry_id,
            plate,
            list,
            priority,
            None if valid_from is None else to_epoch_ms(valid_from),
            None if expires_at is None else to_epoch_ms(expires_at),
            region,
            make,
            color,
            match,
            note,
        )

    def remove(self, entry_id: str) -> bool:
        """Remove an entry; False if there was none."""
        return self._inner.remove(entry_id)

    # -- matching -----------------------------------------------------------------

    def match(
        self,
        plate: str,
        *,
        at: Time | None = None,
        region: str | None = None,
        confidence: float | None = None,
    ) -> list[Hit]:
        """Hits of one read plate at time ``at`` (default: now), strongest per entry.

        Raises:
            ValueError: ``plate`` is not a plate (2-10 letters and digits).
        """
        at_ms = int(time.time() * 1000) if at is None else to_epoch_ms(at)
        return [
            Hit._from_tuple(t) for t in self._inner.match_plate(plate, at_ms, region, confidence)
        ]

    def match_batch(self, plates: Sequence[str], *, at: Time | None = None) -> list[list[Hit]]:
        """Hits of many plates in one call (the GIL is released while matching);
        a string that is not a plate gets no hits."""
        at_ms = int(time.time() * 1000) if at is None else to_epoch_ms(at)
        plates = plates if isinstance(plates, list) else list(plates)
        out: list[list[Hit]] = [[] for _ in plates]
        for i, t in self._inner.match_batch(plates, at_ms):
            out[i].append(Hit._from_tuple(t))
        return out

    def read_variants(self, plate: str) -> list[str]:
        """Every read this watchlist's rules would match to a look-alike entry
        listing ``plate``: the plate (normalised) first, then its look-alikes (up
        to ``max_substitutions`` substitutions from the confusion table), then its
        dropped and extra edge characters (with ``edges``). Exactly the reads
        that hit such an entry as ``exact``, ``lookalike`` or ``edge``; patterns
        and candidates are no variants. Only the plate when ``default_match`` is
        ``exact``.

        Raises:
            ValueError: ``plate`` is not a plate (2-10 letters and digits).
        """
        return self._inner.read_variants(plate)

    def allows(self, list: str, plate: str, *, at: Time | None = None) -> bool:
        """Is ``plate`` on allow list ``list`` (exactly, active at ``at``)?"""
        at_ms = int(time.time() * 1000) if at is None else to_epoch_ms(at)
        return self._inner.allows(list, plate, at_ms)

    def __len__(self) -> int:
        return len(self._inner)

    def counts_by_list(self) -> dict[str, int]:
        """Number of entries per list."""
        return self._inner.counts_by_list()

    def memory_bytes(self) -> int:
        """Bytes held by the entries and their indexes."""
        return self._inner.memory_bytes()

    def __repr__(self) -> str:
        return f"Watchlist({len(self)} entries, lists={self.counts_by_list()})"


def _read(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except OSError as e:
        raise WatchlistError(
            f"{p}: cannot read the watchlist ({e.strerror}); check the path", source=str(p)
        ) from e


def _read_parquet(p: Path) -> pl.DataFrame:
    import polars as pl

    try:
        return pl.read_parquet(p)
    except (OSError, pl.exceptions.PolarsError) as e:
        raise WatchlistError(
            f"{p}: cannot read the Parquet watchlist ({e}); check the path and format",
            source=str(p),
        ) from e


def _polars_csv(df: pl.DataFrame) -> bytes:
    """The frame as CSV text in the loader's columns (times as RFC 3339)."""
    import polars as pl

    cols = []
    for name, dtype in df.schema.items():
        c = pl.col(name)
        if dtype == pl.Datetime or dtype == pl.Date:
            fmt = "%Y-%m-%d" if dtype == pl.Date else "%Y-%m-%dT%H:%M:%S%.3f%:z"
            if dtype == pl.Datetime and getattr(dtype, "time_zone", None) is None:
                c = c.dt.replace_time_zone("UTC")
            c = c.dt.strftime(fmt)
        cols.append(c.alias(name))
    return df.select(cols).write_csv().encode()


def _as_rows(e: WatchlistError) -> WatchlistError:
    """Line N of the CSV form is row N-1 of the frame (the header is line 1)."""
    if e.line is None or e.line < 2:
        return e
    message = _LINE.sub(f" row {e.line - 1}: ", str(e), count=1)
    return WatchlistError(message, source=e.source, line=e.line - 1, reason=e.reason)
