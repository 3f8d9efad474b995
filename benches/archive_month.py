"""A synthetic month of plate reads in the archive layout, for search tests and benches.

``<root>/source=plate_read/date=<YYYY-MM-DD>/part-<worker>-<unix_ms>-<seq>.parquet``
with the columns of :data:`sisec_stream.search.PLATE_READ_SCHEMA`, written with plain
polars ``write_parquet`` (the archive writer lives elsewhere).

A fleet of distinct plates (the generator's formats and Medellín mix) drives past
``cameras`` cameras; a few vehicles are seen often and most rarely (index drawn as
``fleet * u**2``). 3 % of reads are OCR misreads (the generator's ``misread``: look-
alike substitutions and dropped edges) whose true plate is the read's one candidate.
Each day is split into ``files_per_day`` files: ``workers`` writers (by camera), each
flushing ``files_per_day / workers`` times a day. With a key every read carries its
token; ``pseudonymize`` leaves the plate and the raw plate null.

``avoid`` keeps chosen texts (a search target's variants) out of the generated reads,
so tests know exactly which rows a search must return; they plant those with
:func:`write_rows`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from sisec_stream.generator.plates import FORMATS, PlateFactory, misread
from sisec_stream.search import PLATE_READ_SCHEMA, PLATE_READ_SOURCE, plate_token

__all__ = ["MonthInfo", "MonthSpec", "archive_size", "write_month", "write_rows"]

_MIX: Final = (
    ("co_car", 0.47),
    ("co_moto", 0.38),
    ("co_cargo", 0.04),
    ("co_trailer", 0.03),
    ("co_diplomatic", 0.02),
    ("ve", 0.04),
    ("ec", 0.02),
)
_MAKES: Final = ("Renault", "Chevrolet", "Mazda", "Kia", "Toyota", "Nissan", "Yamaha", "Honda")
_COLORS: Final = ("white", "gray", "black", "red", "blue", "silver")
_CLASSES: Final = ("car", "motorcycle", "truck", "bus", "van")
MISREAD_SHARE: Final = 0.03
DAY_MS: Final = 86_400_000


@dataclass(frozen=True)
class MonthSpec:
    """What to generate. ``reads`` is the month's total, spread evenly over ``days``."""

    reads: int = 300_000
    days: int = 30
    start: date = date(2026, 10, 1)
    cameras: int = 300
    workers: int = 2
    files_per_day: int = 8
    fleet: int | None = None  # distinct plates; default reads / 24 (at least 2,000)
    seed: int = 7
    key: bytes | None = None
    pseudonymize: bool = False
    avoid: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MonthInfo:
    """What was written; ``seen`` are fleet plates to search for (often, typically
    and less often seen vehicles)."""

    root: Path
    rows: int
    files: int
    bytes: int
    seen: tuple[str, ...]


def _fleet(spec: MonthSpec, rng: random.Random) -> list[str]:
    n = spec.fleet or max(2_000, spec.reads // 24)
    factory = PlateFactory(rng)
    seen: set[str] = set(spec.avoid)
    plates: list[str] = []
    total = sum(w for _, w in _MIX)
    for name, w in _MIX:
        k = round(n * w / total) if name != _MIX[-1][0] else n - len(plates)
        k = min(k, FORMATS[name].capacity // 2)
        plates += factory.unique(FORMATS[name], k, seen)
    rng.shuffle(plates)
    return plates


def write_month(root: Path, spec: MonthSpec) -> MonthInfo:
    """Write the month under ``root`` (created); returns what was written."""
    rng = random.Random(spec.seed)
    nprng = np.random.default_rng(spec.seed)
    fleet = _fleet(spec, rng)
    fleet_s = pl.Series("plate", fleet, dtype=pl.Utf8)
    fleet_tok = (
        pl.Series("token", [plate_token(p, spec.key) for p in fleet], dtype=pl.Utf8)
        if spec.key is not None
        else None
    )
    # Cameras: position, heading, and their writer (worker).
    cam_ids = pl.Series("camera_id", [f"MDE-LPR-{i:04d}" for i in range(spec.cameras)])
    cam_lat = 6.17 + nprng.random(spec.cameras) * 0.18
    cam_lon = -75.66 + nprng.random(spec.cameras) * 0.14
    cam_heading = nprng.integers(0, 360, spec.cameras).astype(np.float64)
    per_day = spec.reads // spec.days
    rows = files = 0
    reads_dir = root / f"source={PLATE_READ_SOURCE}"
    for d in range(spec.days):
        day = spec.start + timedelta(days=d)
        n = per_day + (spec.reads - per_day * spec.days if d == spec.days - 1 else 0)
        day_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        idx = (len(fleet) * nprng.random(n) ** 2).astype(np.int64)
        cam = nprng.integers(0, spec.cameras, n)
        ms = np.sort(nprng.integers(0, DAY_MS, n)) + day_ms
        df = pl.DataFrame(
            {
                "ts": pl.Series(ms, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
                "cam": cam,
                "plate": fleet_s.gather(idx),
                "r": nprng.random(n),
                "make": nprng.integers(0, len(_MAKES), n),
                "color": nprng.integers(0, len(_COLORS), n),
                "class": nprng.integers(0, len(_CLASSES), n),
            }
        )
        if fleet_tok is not None:
            df = df.with_columns(plate_token=fleet_tok.gather(idx))
        else:
            df = df.with_columns(plate_token=pl.lit(None, pl.Utf8))
        df = _misreads(df, spec, rng, nprng)
        df = _finish(df, spec, day, cam_ids, cam_lat, cam_lon, cam_heading)
        files += _write_day(reads_dir, df, spec, day, day_ms)
        rows += df.height
    # Seen ~5x, ~1x and ~0.7x the mean reads per vehicle (read index = fleet * u**2).
    seen = tuple(fleet[len(fleet) * k // 100] for k in (1, 25, 50))
    return MonthInfo(root, rows, files, archive_size(root), seen)


def _misreads(
    df: pl.DataFrame, spec: MonthSpec, rng: random.Random, nprng: np.random.Generator
) -> pl.DataFrame:
    """Misread 3 % of the reads; the true plate becomes the read's candidate."""
    n = df.height
    which = np.flatnonzero(nprng.random(n) < MISREAD_SHARE)
    truth = df["plate"].gather(which).to_list()
    reads = [misread(p, (len(p),), rng)[0] for p in truth]
    read_s = df["plate"].scatter(which, reads)
    mis = np.zeros(n, dtype=bool)
    mis[which] = True
    df = df.with_columns(
        read=read_s, misread=pl.Series(mis), truth=df["plate"], truth_token=df["plate_token"]
    )
    if spec.key is not None:
        key = spec.key
        tokens = df["plate_token"].scatter(which, [plate_token(r, key) for r in reads])
        df = df.with_columns(plate_token=tokens)
    if spec.avoid:
        # A generated read that is a search target's variant: read the true plate instead
        # (never itself a variant: avoided when the fleet was drawn).
        hit = pl.col("read").is_in(list(spec.avoid))
        df = df.with_columns(
            read=pl.when(hit).then(pl.col("truth")).otherwise(pl.col("read")),
            plate_token=pl.when(hit).then(pl.col("truth_token")).otherwise(pl.col("plate_token")),
            misread=pl.col("misread") & ~hit,
        )
    return df


def _finish(
    df: pl.DataFrame,
    spec: MonthSpec,
    day: date,
    cam_ids: pl.Series,
    cam_lat: np.ndarray[Any, Any],
    cam_lon: np.ndarray[Any, Any],
    cam_heading: np.ndarray[Any, Any],
) -> pl.DataFrame:
    """The archive's columns, in its schema."""
    cam = df["cam"].to_numpy()
    cand_type = PLATE_READ_SCHEMA["candidates"]
    candidate = pl.struct(
        plate=pl.lit(None, pl.Utf8) if spec.pseudonymize else pl.col("truth"),
        token=pl.col("truth_token"),
        confidence=pl.lit(0.4) + pl.col("r") * 0.3,
    )
    mis = pl.col("misread")
    plate = pl.lit(None, pl.Utf8) if spec.pseudonymize else pl.col("read")
    out = df.with_row_index("i").select(
        event_id=pl.format("{}-{}-{}", pl.lit(day.strftime("%Y%m%d")), pl.col("cam"), pl.col("i")),
        ts=pl.col("ts"),
        camera_id=cam_ids.gather(cam),
        plate=plate,
        plate_token=pl.col("plate_token"),
        plate_raw=plate,
        confidence=pl.when(mis)
        .then(0.4 + pl.col("r") * 0.449)
        .otherwise(0.999 - 0.2 * pl.col("r") ** 2),
        lat=pl.Series(cam_lat[cam]),
        lon=pl.Series(cam_lon[cam]),
        heading_deg=pl.Series(cam_heading[cam]),
        vehicle_class=pl.Series(np.array(_CLASSES)[df["class"].to_numpy()]),
        vehicle_make=pl.Series(np.array(_MAKES)[df["make"].to_numpy()]),
        vehicle_color=pl.Series(np.array(_COLORS)[df["color"].to_numpy()]),
        image_ref=pl.format("lpr/{}/{}.jpg", pl.lit(day.isoformat()), pl.col("i")),
        candidates=pl.when(mis).then(pl.concat_list(candidate)).otherwise(pl.lit([], cand_type)),
        hit=pl.lit(False),
        cam=pl.col("cam"),
    )
    return out.cast({k: v for k, v in PLATE_READ_SCHEMA.items() if k != "candidates"})


def _write_day(reads_dir: Path, df: pl.DataFrame, spec: MonthSpec, day: date, day_ms: int) -> int:
    """Split a day among the writers and their flushes; one file per flush."""
    folder = reads_dir / f"date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    flushes = max(1, spec.files_per_day // spec.workers)
    slot_ms = DAY_MS // flushes
    df = df.with_columns(
        worker=pl.col("cam") % spec.workers,
        slot=((pl.col("ts").dt.epoch("ms") - day_ms) // slot_ms).clip(0, flushes - 1),
    )
    files = 0
    for (worker, slot), part in df.group_by("worker", "slot", maintain_order=True):
        assert isinstance(worker, int) and isinstance(slot, int)
        flushed_ms = day_ms + (slot + 1) * slot_ms
        name = f"part-{worker}-{flushed_ms}-{slot:06d}.parquet"
        part.drop("cam", "worker", "slot").sort("ts").write_parquet(folder / name)
        files += 1
    return files


def write_rows(root: Path, rows: Sequence[Mapping[str, Any]], name: str = "planted") -> list[Path]:
    """Write reads (dicts with any of the schema's columns; the others null) into
    their ``date=`` partitions, one file per day: ``part-9-<ms>-<name>.parquet``."""
    by_day: dict[date, list[Mapping[str, Any]]] = {}
    for r in rows:
        ts: datetime = r["ts"]
        by_day.setdefault(ts.astimezone(UTC).date(), []).append(r)
    paths = []
    for day, day_rows in sorted(by_day.items()):
        folder = root / f"source={PLATE_READ_SOURCE}" / f"date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        full = [
            {k: r.get(k, [] if k == "candidates" else None) for k in PLATE_READ_SCHEMA}
            for r in day_rows
        ]
        df = pl.DataFrame(full, schema=PLATE_READ_SCHEMA, orient="row")
        ms = int(min(r["ts"] for r in day_rows).timestamp() * 1000)
        path = folder / f"part-9-{ms}-{name}.parquet"
        df.write_parquet(path)
        paths.append(path)
    return paths


def archive_size(root: Path) -> int:
    """Bytes of the archive's Parquet files."""
    return sum(f.stat().st_size for f in root.rglob("*.parquet"))


def iter_reads(root: Path) -> Iterable[Path]:
    """Every plate-read file of the archive."""
    return sorted((root / f"source={PLATE_READ_SOURCE}").glob("date=*/*.parquet"))
