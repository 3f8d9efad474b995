"""Past sightings of a plate in the Parquet archive, with the watchlist's matcher.

"A car was just listed: where was it seen this week?" :func:`search` answers with
the same look-alike rules that would have paged on it live (``docs/search.md``):

1. **Variants.** The query plate's read variants (:meth:`Watchlist.read_variants`):
   every read text the matcher hits a look-alike entry with, i.e. the plate, its
   look-alikes up to ``max_substitutions`` and its dropped/extra edge characters;
   with a key, their tokens (pseudonymized archives hold tokens, not plates).
2. **Pruning.** Only the ``date=`` partitions that overlap the time range are
   listed; no file outside them is opened.
3. **Scan.** polars scans those files lazily for rows whose ``plate`` is a variant
   (or whose ``plate_token`` is a variant's token): first only that column, to find
   the files holding one, then every column of those files; then the exact time
   range.
4. **Confirm and score.** Every candidate row goes through the real matcher: a
   one-entry :class:`Watchlist` of the query plate, with the row's confidence (as
   the engine scores it); the kind (exact, lookalike, edge), substitutions, edge
   and score come from there. Sightings are sorted by time.

The archive layout (Hive style; ``date`` is the UTC date of ``ts``)::

    <root>/source=plate_read/date=<YYYY-MM-DD>/part-<worker>-<unix_ms>-<seq>.parquet

with the columns of :data:`PLATE_READ_SCHEMA`.
"""

from __future__ import annotations

import re
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl

from sisec_stream.archive.pseudonym import MAX_KEY_BYTES, MIN_KEY_BYTES, token
from sisec_stream.archive.schema import SCHEMAS
from sisec_stream.errors import ConfigError, SisecError
from sisec_stream.watchlist import Hit, Watchlist, WatchlistConfig

__all__ = [
    "PLATE_READ_SCHEMA",
    "PLATE_READ_SOURCE",
    "ArchiveSettings",
    "SearchError",
    "SearchResult",
    "Sighting",
    "archive_files",
    "archive_from_config",
    "confirm",
    "format_table",
    "load_key",
    "parse_time",
    "plate_token",
    "search",
    "summary",
]

#: The ``source=`` partition of plate reads.
PLATE_READ_SOURCE: Final = "plate_read"


#: Columns of ``source=plate_read`` files (polars schema: name -> dtype), as the
#: archive writes them (:data:`sisec_stream.archive.schema.SCHEMAS`).
PLATE_READ_SCHEMA: Final[dict[str, pl.DataType]] = dict(SCHEMAS["plate_read"])

#: Columns a sighting reports.
_OUT_COLUMNS: Final = (
    "event_id",
    "ts",
    "camera_id",
    "plate",
    "plate_token",
    "plate_raw",
    "confidence",
    "lat",
    "lon",
    "heading_deg",
    "vehicle_class",
    "vehicle_make",
    "vehicle_color",
    "image_ref",
)


class SearchError(SisecError, ValueError):
    """A search that cannot run (bad time, plate, key or archive): says what to do."""


@dataclass(frozen=True)
class Sighting:
    """One archived read of the searched plate (or of a look-alike of it).

    Attributes:
        ts: When it was read (UTC).
        camera_id, event_id: Where it came from.
        read: The read plate the matcher confirmed: the archived ``plate``, or for
            a pseudonymized row the variant whose token it holds.
        plate: The archived plate; None when pseudonymized.
        token: The archived ``plate_token`` (None in archives written without a key).
        kind: ``exact``, ``lookalike`` or ``edge``.
        score: The matcher's score with the read's confidence (docs/watchlist.md).
        substitutions: (1-based position, read character, listed character).
        edge: ``dropped_first``, ``dropped_last``, ``extra_first`` or ``extra_last``.
        row: The other archived columns (plate_raw, confidence, lat, lon, ...).
    """

    ts: datetime
    camera_id: str | None
    event_id: str | None
    read: str
    plate: str | None
    token: str | None
    kind: str
    score: float
    substitutions: tuple[tuple[int, str, str], ...] = ()
    edge: str | None = None
    row: Mapping[str, Any] = field(default_factory=dict)

    @property
    def pseudonymized(self) -> bool:
        """Matched by its token (the archive holds no plate for it)."""
        return self.plate is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as RFC 3339 UTC text."""
        doc: dict[str, Any] = {
            "ts": _iso(self.ts),
            "event_id": self.event_id,
            "camera_id": self.camera_id,
            "read": self.read,
            "plate": self.plate,
            "token": self.token,
            "kind": self.kind,
            "score": self.score,
            "substitutions": [list(s) for s in self.substitutions],
            "edge": self.edge,
        }
        for k, v in self.row.items():
            doc.setdefault(k, v)
        return doc


@dataclass(frozen=True)
class SearchResult:
    """What :func:`search` found, and what it looked at.

    Attributes:
        plate: The query plate, normalised.
        since, until: The time range searched, ``[since, until)`` in UTC.
        sightings: Confirmed sightings, oldest first.
        variants: The read texts searched for (the plate first).
        partitions, files: ``date=`` folders and files scanned (the others were
            never opened).
        candidates: Rows the variant filter returned (before the matcher confirmed).
        seconds: Wall time of the search.
        notes: Warnings for the user (e.g. rows that could not be searched).
    """

    plate: str
    since: datetime
    until: datetime
    sightings: list[Sighting]
    variants: list[str]
    partitions: int
    files: int
    candidates: int
    seconds: float
    notes: list[str] = field(default_factory=list)


# -- inputs ---------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_TIME_HELP: Final = (
    "write a duration back from now (90m, 36h, 7d, 2w), a UTC date (2026-11-01) or a "
    "time (2026-11-01T07:00:00-05:00; without an offset it is UTC)"
)


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """``7d`` / ``36h`` (that long before ``now``), ``now``, a date (its midnight,
    UTC) or an ISO 8601 time (UTC when it has no offset) -> an aware UTC datetime.

    Raises:
        SearchError: anything else (the message says what to write).
    """
    now = now if now is not None else datetime.now(UTC)
    s = text.strip()
    if s.lower() == "now":
        return now.astimezone(UTC)
    m = _RELATIVE.match(s)
    if m:
        return (now - timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])).astimezone(UTC)
    try:
        if len(s) == 10:
            d = date.fromisoformat(s)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        t = datetime.fromisoformat(s)
    except ValueError:
        raise SearchError(f"{text!r} is not a time; {_TIME_HELP}") from None
    return (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).astimezone(UTC)


def load_key(path: str | Path) -> bytes:
    """The pseudonymization key: the file's bytes, as the archive writer reads them
    (16 to 64; :func:`sisec_stream.archive.pseudonym.load_key`).

    Raises:
        SearchError: the file cannot be read or holds too few or too many bytes.
    """
    p = Path(path)
    try:
        key = p.read_bytes()
    except OSError as e:
        raise SearchError(
            f"cannot read the key file {p} ({e.strerror}); pass the key file the archive "
            "was written with"
        ) from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise SearchError(
            f"the key file {p} holds {len(key)} bytes, but archive keys are "
            f"{MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes: pass the key file the archive "
            "was written with"
        )
    return key


def plate_token(plate: str, key: bytes) -> str:
    """The archive's token of a normalised plate: keyed BLAKE2b-128, hex."""
    return token(plate, key)


@dataclass(frozen=True)
class ArchiveSettings:
    """What a run configuration says about its archive and its matching rules."""

    path: Path | None = None
    key_file: Path | None = None
    watchlist: WatchlistConfig | None = None


def archive_from_config(path: str | Path) -> ArchiveSettings:
    """``[archive] path`` and ``key_file`` and the ``[watchlist]`` matching rules of a
    run configuration (:class:`~sisec_stream.runconfig.RunConfig`); None for what it
    does not set.

    Raises:
        SearchError: the configuration cannot be loaded (the message says why).
    """
    from sisec_stream.runconfig import RunConfig

    p = Path(path)
    try:
        config = RunConfig.load(p)
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except ConfigError as e:
        raise SearchError(str(e)) from None
    archive = config.archive
    return ArchiveSettings(
        path=archive.path if archive is not None else None,
        key_file=archive.key_file if archive is not None else None,
        watchlist=config.watchlist if "watchlist" in doc else None,
    )


# -- the archive ----------------------------------------------------------------------------

_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


def archive_files(root: Path, since: datetime, until: datetime) -> tuple[int, list[Path]]:
    """The ``date=`` partitions of plate reads overlapping ``[since, until)`` and
    their Parquet files: (partitions, files). Nothing outside them is opened.

    Raises:
        SearchError: ``root`` is missing or is not an archive.
    """
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise SearchError(
            f"the archive folder {root} {what}; pass --archive DIR (the folder that holds "
            f"source={PLATE_READ_SOURCE}/) or set [archive] path in --config"
        )
    reads = root / f"source={PLATE_READ_SOURCE}"
    if not reads.is_dir():
        if root.name.startswith("source=") or _DATE_DIR.match(root.name):
            raise SearchError(
                f"{root} is inside an archive; pass the archive's root folder (the one "
                f"that holds source={PLATE_READ_SOURCE}/)"
            )
        if any(c.is_dir() and c.name.startswith("source=") for c in root.iterdir()):
            return 0, []  # an archive without plate reads (yet)
        raise SearchError(
            f"{root} is not an archive: it has no source={PLATE_READ_SOURCE}/ folder; pass "
            "the archive's root folder"
        )
    first = since.astimezone(UTC).date()
    last = (until.astimezone(UTC) - timedelta(milliseconds=1)).date()
    partitions = 0
    files: list[Path] = []
    for d in sorted(reads.iterdir()):
        m = _DATE_DIR.match(d.name)
        if m is None or not d.is_dir():
            continue
        try:
            day = date.fromisoformat(m.group(1))
        except ValueError:
            continue
        if first <= day <= last:
            partitions += 1
            files += sorted(f for f in d.glob("*.parquet") if not f.name.startswith((".", "_")))
    return partitions, files


def _pseudonymized_share(files: Sequence[Path]) -> float:
    """Share of pseudonymized rows (plate null) in the first rows of the first and
    last files: a cheap look, not a count."""
    sample = [files[0], files[-1]] if len(files) > 1 else list(files)
    df = pl.concat(
        [pl.scan_parquet(f).select("plate").head(1000).collect() for f in sample],
        how="vertical",
    )
    return 0.0 if df.height == 0 else df["plate"].null_count() / df.height


# -- search ---------------------------------------------------------------------------------


def search(
    archive: str | Path,
    plate: str,
    *,
    since: datetime,
    until: datetime | None = None,
    key: bytes | None = None,
    max_substitutions: int | None = None,
    config: WatchlistConfig | None = None,
    min_score: float = 0.0,
) -> SearchResult:
    """Sightings of ``plate`` (any spelling) in the archive between ``since``
    (inclusive) and ``until`` (exclusive; default now).

    Args:
        archive: The archive's root folder (holding ``source=plate_read/``).
        plate: The plate to look for; normalised like reads (``abc-123`` is ``ABC123``).
        since, until: Aware datetimes (see :func:`parse_time`).
        key: The pseudonymization key (:func:`load_key`): rows that hold only a
            token are found through their variants' tokens. Without it, such rows
            cannot be searched.
        max_substitutions: Look-alike substitutions (0-2); default: the config's.
        config: Matching rules (confusion table, templates, edges); default: the
            engine's defaults.
        min_score: Keep only sightings scored at least this (0-1).

    Raises:
        SearchError: bad plate, time range or archive, or a pseudonymized archive
            searched without the key.
    """
    started = time.perf_counter()
    until = until if until is not None else datetime.now(UTC)
    for name, t in (("since", since), ("until", until)):
        if t.tzinfo is None:
            raise SearchError(f"{name} {t} has no UTC offset; give an aware datetime")
    if not 0.0 <= min_score <= 1.0:
        raise SearchError(f"min_score is {min_score}; it must be between 0 and 1")
    if since >= until:
        raise SearchError(
            f"the time range is empty: since {_iso(since)} is not before until {_iso(until)}"
        )
    # Search is look-alike aware whatever the lists' default; the rules still
    # set how far (max_substitutions, edges) and which characters look alike.
    config = replace(config if config is not None else WatchlistConfig(), default_match="lookalike")
    if max_substitutions is not None:
        if not 0 <= max_substitutions <= 2:
            raise SearchError(f"max_substitutions is {max_substitutions}; it must be 0, 1 or 2")
        config = replace(config, max_substitutions=max_substitutions)
    if any(c in plate for c in "*?"):
        raise SearchError(
            f"{plate!r} is a wildcard pattern; search takes a whole plate (2-10 letters and digits)"
        )
    try:
        variants = Watchlist(config).read_variants(plate)
    except ValueError as e:
        raise SearchError(f"--plate {e}; give the plate as read, e.g. ABC123 or abc-123") from None
    query = variants[0]
    matcher = Watchlist.from_rows(
        [{"entry_id": "search", "plate": query, "list": "search"}], source="--plate", config=config
    )

    partitions, files = archive_files(Path(archive), since, until)
    notes: list[str] = []
    if not files:
        return SearchResult(
            query, since, until, [], variants, partitions, 0, 0, time.perf_counter() - started
        )
    tokens = {plate_token(v, key): v for v in variants} if key is not None else {}
    if key is None:
        try:
            share = _pseudonymized_share(files)
        except (OSError, pl.exceptions.PolarsError) as e:
            raise _unreadable(archive, e) from None
        if share == 1.0:
            raise SearchError(
                f"the archive {archive} is pseudonymized (plates are replaced by keyed "
                "tokens); pass --key-file with the key it was written with"
            )
        if share > 0:
            notes.append(
                "some archived reads are pseudonymized (no plate, only a token) and were "
                "not searched; pass --key-file to search them too"
            )

    wanted = pl.col("plate").is_in(variants)
    if tokens:
        # A row with a plate is judged by it (confirm); the token only when there is none.
        wanted = wanted | pl.col("plate_token").is_in(list(tokens))
    try:
        rows = _scan(files, wanted).filter(pl.col("ts").is_between(since, until, closed="left"))
    except (OSError, pl.exceptions.PolarsError) as e:
        raise _unreadable(archive, e) from None
    sightings = [s for s in confirm(matcher, rows, tokens) if s.score >= min_score]
    return SearchResult(
        query,
        since,
        until,
        sightings,
        variants,
        partitions,
        len(files),
        rows.height,
        time.perf_counter() - started,
        notes,
    )


def _scan(files: list[Path], wanted: pl.Expr) -> pl.DataFrame:
    """The reported columns of the rows ``wanted`` selects, in two passes.

    Decoding a column means decompressing its pages, even for the few rows a
    filter keeps: the first pass reads only the filter's columns (the plate, and
    the token with a key) to find the files holding a candidate; the second reads
    every reported column of those files only. Row-group statistics are not
    consulted: on plates they prune nothing and cost more than the scan.
    """
    hits = (
        pl.scan_parquet(
            files, hive_partitioning=False, use_statistics=False, include_file_paths="_file"
        )
        .filter(wanted)
        .select("_file")
        .unique(maintain_order=True)
        .collect()
    )
    holding = hits["_file"].to_list()
    if not holding:
        return pl.DataFrame(schema={k: PLATE_READ_SCHEMA[k] for k in _OUT_COLUMNS})
    return (
        pl.scan_parquet(holding, hive_partitioning=False, use_statistics=False)
        .filter(wanted)
        .select(_OUT_COLUMNS)
        .collect()
    )


def _unreadable(archive: str | Path, e: Exception) -> SearchError:
    return SearchError(
        f"cannot read the archive {archive}: {e}; is every file in its date= folders a "
        "plate_read Parquet file of the archive layout?"
    )


def confirm(matcher: Watchlist, rows: pl.DataFrame, tokens: Mapping[str, str]) -> list[Sighting]:
    """The rows the one-entry ``matcher`` hits (as the engine would: with the
    row's time and confidence), as sightings sorted by time.

    A row's read is its ``plate``, or when it has none, the variant whose token
    (in ``tokens``: token -> variant) it holds.
    """
    out: list[Sighting] = []
    for r in rows.sort("ts").iter_rows(named=True):
        plate: str | None = r["plate"]
        read = plate if plate is not None else tokens.get(r["plate_token"] or "")
        if read is None:
            continue
        ts: datetime = r["ts"]
        hits = matcher.match(read, at=ts, confidence=r["confidence"])
        hit: Hit | None = hits[0] if hits else None
        if hit is None:
            continue
        extra = {k: r[k] for k in _OUT_COLUMNS if k not in ("ts", "camera_id", "event_id")}
        del extra["plate"], extra["plate_token"]
        out.append(
            Sighting(
                ts=ts,
                camera_id=r["camera_id"],
                event_id=r["event_id"],
                read=read,
                plate=plate,
                token=r["plate_token"],
                kind=hit.kind,
                score=hit.score,
                substitutions=hit.substitutions,
                edge=hit.edge,
                row=extra,
            )
        )
    return out


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- output ---------------------------------------------------------------------------------


def format_table(result: SearchResult) -> str:
    """The sightings as a readable table (UTC times)."""
    head = ("time (UTC)", "camera", "read", "kind", "score", "lat", "lon")
    rows = []
    for s in result.sightings:
        read = s.read + (" (token)" if s.pseudonymized else "")
        detail = s.kind
        if s.edge:
            detail += f" {s.edge}"
        elif s.substitutions:
            detail += " " + ",".join(
                f"{r}@{pos} for {listed}" for pos, r, listed in s.substitutions
            )
        lat, lon = s.row.get("lat"), s.row.get("lon")
        rows.append(
            (
                _iso(s.ts).replace("T", " ").removesuffix("Z"),
                s.camera_id or "-",
                read,
                detail,
                f"{s.score:.2f}",
                "-" if lat is None else f"{lat:.5f}",
                "-" if lon is None else f"{lon:.5f}",
            )
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [head, *rows]
    ]
    return "\n".join(lines)


def summary(result: SearchResult) -> str:
    """One line: what was found, where it looked, how long it took."""
    n = len(result.sightings)
    found = f"{n} sighting{'s' if n != 1 else ''}" if n else "no sightings"
    return (
        f"{found} of {result.plate} ({len(result.variants)} read variants) from "
        f"{_iso(result.since)} to {_iso(result.until)}: {result.partitions} partitions, "
        f"{result.files} files, {result.candidates} candidate rows, {result.seconds:.2f} s"
    )
